"""Cookie names, attributes and chunking, built in one place (RFC 6265bis §4.1.3.2 ``__Host-``).

A sealed session larger than one cookie is split: ``__Host-bff-session`` then holds
``chunks:<n>`` and ``__Host-bff-session.1`` … ``.n`` hold the pieces, each well under the 4096-byte
browser limit. The seal binds the base name, so a piece cannot be reused under another name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bff.crypto.seal import b64url_encode

CHUNK_SIZE = 3800
MAX_CHUNKS = 10


@dataclass(frozen=True)
class CookieNames:
    """The BFF's cookie names; ``secure=False`` drops ``__Host-`` for plain-http loopback only."""

    secure: bool = True

    @property
    def prefix(self) -> str:
        return "__Host-" if self.secure else ""

    @property
    def session(self) -> str:
        return f"{self.prefix}bff-session"

    def session_chunk(self, index: int) -> str:
        return f"{self.session}.{index}"

    @property
    def login_prefix(self) -> str:
        return f"{self.prefix}bff-login."

    def login(self, state: str) -> str:
        """The login-transaction cookie name for a ``state`` (a hash, not the state itself)."""
        return self.login_prefix + b64url_encode(hashlib.sha256(state.encode()).digest())[:22]


@dataclass(frozen=True)
class SetCookie:
    """One ``Set-Cookie`` to send; ``max_age`` 0 deletes the cookie."""

    name: str
    value: str
    max_age: int | None
    secure: bool = True

    def header(self) -> str:
        parts = [f"{self.name}={self.value}", "Path=/", "HttpOnly", "SameSite=Strict"]
        if self.secure:
            parts.append("Secure")
        if self.max_age is not None:
            parts.append(f"Max-Age={self.max_age}")
        return "; ".join(parts)

    def __repr__(self) -> str:
        return f"SetCookie(name={self.name!r}, max_age={self.max_age}, value=<redacted>)"


def split_value(names: CookieNames, sealed: str, max_age: int,
                present: Mapping[str, str]) -> list[SetCookie]:
    """The Set-Cookies that store ``sealed`` as the session, deleting stale chunks."""
    secure = names.secure
    if len(sealed) <= CHUNK_SIZE:
        out = [SetCookie(names.session, sealed, max_age, secure)]
        pieces = 0
    else:
        chunks = [sealed[i:i + CHUNK_SIZE] for i in range(0, len(sealed), CHUNK_SIZE)]
        if len(chunks) > MAX_CHUNKS:
            raise ValueError("session too large for cookies")
        pieces = len(chunks)
        out = [SetCookie(names.session, f"chunks:{pieces}", max_age, secure)]
        out += [SetCookie(names.session_chunk(i + 1), c, max_age, secure)
                for i, c in enumerate(chunks)]
    for i in range(pieces + 1, MAX_CHUNKS + 1):
        if names.session_chunk(i) in present:
            out.append(SetCookie(names.session_chunk(i), "", 0, secure))
    return out


def join_value(names: CookieNames, cookies: Mapping[str, str]) -> str | None:
    """Reassemble the sealed session value, or None when absent or incomplete."""
    head = cookies.get(names.session)
    if not head:
        return None
    if not head.startswith("chunks:"):
        return head
    try:
        count = int(head[len("chunks:"):])
    except ValueError:
        return None
    if not 1 <= count <= MAX_CHUNKS:
        return None
    pieces = [cookies.get(names.session_chunk(i)) for i in range(1, count + 1)]
    if any(p is None for p in pieces):
        return None
    return "".join(p for p in pieces if p)


def clear_session(names: CookieNames, cookies: Mapping[str, str]) -> list[SetCookie]:
    """Delete the session cookie and every chunk the browser sent."""
    out = [SetCookie(names.session, "", 0, names.secure)]
    out += [SetCookie(n, "", 0, names.secure) for n in cookies
            if n.startswith(names.session + ".")]
    return out


def parse_cookie_header(raw: str | None) -> dict[str, str]:
    """A ``Cookie`` header as a dict: the first value of a name wins (RFC 6265 §5.4: browsers
    send the most specific cookie first); pairs without ``=`` or a name are skipped."""
    out: dict[str, str] = {}
    if not raw:
        return out
    for part in raw.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in out:
            out[name] = value
    return out


def request_cookies(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The cookies of a request, from its raw header list: the app's one cookie parser.

    Several ``Cookie`` fields (HTTP/2 may split one) are joined in order before parsing
    (RFC 9113 §8.2.3), so the first value of a name wins across them too.
    """
    raw = "; ".join(v.decode("latin-1") for k, v in headers if k.lower() == b"cookie")
    return parse_cookie_header(raw)
