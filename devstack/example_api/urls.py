"""URL comparison for the DPoP ``htu`` claim (RFC 9449 §4.3 step 9, RFC 3986 §6.2.2-6.2.3)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote, urlsplit

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_PERCENT: Final = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
)


def _normalise_percent(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    # RFC 3986 §6.2.2.2: decode unreserved characters, uppercase the other escapes.
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def normalise_url(url: str) -> str:
    """Reduce an http(s) URL to scheme, host, non-default port and path; query and fragment go."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host:
        raise ValueError("not an absolute http(s) URL")
    port = parts.port  # raises ValueError for a malformed port
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = _PERCENT.sub(_normalise_percent, parts.path) or "/"
    return f"{scheme}://{netloc}{path}"


def request_path(scope: Mapping[str, Any]) -> str:
    """Return the path as the client sent it, still percent-encoded and without the query."""
    raw = scope.get("raw_path")
    if isinstance(raw, bytes) and raw:
        # Some servers include the query in raw_path, so cut it off here.
        return raw.split(b"?", 1)[0].decode("latin-1")
    return quote(str(scope.get("root_path", "")) + str(scope["path"]))


def request_url(scope: Mapping[str, Any], public_base_url: str | None) -> str:
    """Rebuild the URL a client addressed, preferring a configured public base URL."""
    path = request_path(scope)
    if public_base_url is not None:
        return normalise_url(public_base_url.rstrip("/") + path)
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme"))
    host = ""
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value.decode("latin-1")
            break
    if not host:
        server = scope.get("server")
        if not server:
            raise ValueError("cannot determine request host")
        host = f"{server[0]}:{server[1]}" if server[1] is not None else str(server[0])
    return normalise_url(f"{scheme}://{host}{path}")
