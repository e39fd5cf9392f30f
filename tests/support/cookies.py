"""A cookie jar for tests that keeps ``Secure`` cookies over plain-http loopback, as browsers do."""

from __future__ import annotations

import httpx


class Jar:
    """Stores cookies from Set-Cookie headers; deletes on Max-Age=0."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}
        self.set_cookie_headers: list[str] = []

    def update(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            self.set_cookie_headers.append(header)
            first, *attrs = [p.strip() for p in header.split(";")]
            name, _, value = first.partition("=")
            attributes = {a.split("=")[0].lower(): a.partition("=")[2] for a in attrs}
            if attributes.get("max-age") == "0":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    def header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def session_names(self) -> list[str]:
        return [n for n in self.cookies if "bff-session" in n]

    def copy(self) -> Jar:
        jar = Jar()
        jar.cookies = dict(self.cookies)
        return jar


def set_cookie_names(response: httpx.Response) -> list[str]:
    """Names of the cookies a response sets (not deletions)."""
    out = []
    for header in response.headers.get_list("set-cookie"):
        name = header.split("=", 1)[0]
        if "max-age=0" not in header.lower():
            out.append(name)
    return out
