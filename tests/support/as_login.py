"""Drive the dev authorization server's login and consent pages over HTTP, like a browser would."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import httpx

from tests.support.totp import next_code


def _form_action(html: str, base: str) -> str:
    match = re.search(r'<form[^>]*action="([^"]+)"', html)
    assert match, "no form on the page"
    return urljoin(base, match.group(1).replace("&amp;", "&"))


class ASBrowser:
    """Holds the AS's own cookies across logins (its session), as one browser would."""

    def __init__(self) -> None:
        self.http = httpx.Client(follow_redirects=False, timeout=10)
        self.pages: list[str] = []  # the AS pages of the last ``authorize``, in order

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ASBrowser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _follow_until_page(self, url: str, stop_prefix: str) -> tuple[str, httpx.Response | None]:
        for _ in range(10):
            if url.startswith(stop_prefix):
                return url, None
            response = self.http.get(url)
            if response.status_code in (302, 303):
                url = urljoin(url, response.headers["location"])
                continue
            return url, response
        raise AssertionError("too many redirects")

    def authorize(self, authorization_url: str, redirect_prefix: str, login: str = "alice",
                  consent: bool = True, cancel: bool = False) -> str:
        """Log in (when asked), enter the second factor (when asked), consent (when asked);
        ``cancel``: press Cancel on the consent page. Return the redirect to the client."""
        url = authorization_url
        self.pages: list[str] = []
        for _ in range(8):
            url, page = self._follow_until_page(url, redirect_prefix)
            if page is None:
                return url
            html = page.text
            assert page.status_code == 200, f"AS page {page.status_code}: {html[:300]}"
            action = _form_action(html, url)
            self.pages.append(html)
            if 'name="login"' in html:
                response = self.http.post(action, data={"prompt": "login", "login": login,
                                                        "password": "anything"})
            elif 'name="otp"' in html:
                issuer = f"{httpx.URL(url).scheme}://{httpx.URL(url).netloc.decode()}"
                response = self.http.post(action, data={"prompt": "otp",
                                                        "otp": next_code(issuer, login)})
            elif 'value="consent"' in html and cancel:
                response = self.http.post(urljoin(url, url.rstrip("/") + "/abort"))
            elif 'value="consent"' in html and consent:
                response = self.http.post(action, data={"prompt": "consent"})
            else:
                raise AssertionError(f"unexpected AS page: {html[:300]}")
            assert response.status_code in (302, 303), response.text[:300]
            url = urljoin(action, response.headers["location"])
        raise AssertionError("login did not finish")

    def needs_login(self, authorization_url: str, redirect_prefix: str) -> bool:
        """True when the AS shows its login form for this authorization request."""
        _url, page = self._follow_until_page(authorization_url, redirect_prefix)
        return page is not None and 'name="login"' in page.text

    def end_session(self, logout_url: str) -> httpx.Response:
        """RP-initiated logout: open the URL and confirm (its button sits outside the form)."""
        page = self.http.get(logout_url)
        assert page.status_code == 200, page.text[:300]
        xsrf = re.search(r'name="xsrf" value="([^"]+)"', page.text)
        assert xsrf
        return self.http.post(_form_action(page.text, logout_url),
                              data={"xsrf": xsrf.group(1), "logout": "yes"})
