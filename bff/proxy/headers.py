"""Which headers cross the proxy in each direction (RFC 9110 §7.6.1 hop-by-hop).

Requests carry an allowlist (PROXY_DEFAULT_HEADERS plus the route's ``forward_headers``);
responses carry everything but a denylist, with the BFF's own cache and CORS policy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bff.config.model import PROXY_DEFAULT_HEADERS, PROXY_NEVER_FORWARDED

HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-authenticate",
                        b"proxy-authorization", b"te", b"trailer", b"trailers",
                        b"transfer-encoding", b"upgrade"})
NEVER_FORWARDED = frozenset(h.encode() for h in PROXY_NEVER_FORWARDED) | HOP_BY_HOP
# never returned to the browser: cookies of the API's own and its DPoP nonce (ours to keep);
# cache policy (set by the BFF, and CDN-targeted variants that would override it, RFC 9213)
RESPONSE_DROP = HOP_BY_HOP | frozenset({
    b"set-cookie", b"dpop-nonce", b"www-authenticate", b"content-length", b"server", b"date",
    b"cache-control", b"cdn-cache-control", b"surrogate-control", b"x-content-type-options"})
# the BFF alone answers CORS for its origin (OriginGuard); an upstream's CORS never passes
_CORS_PREFIX = b"access-control-"
# a shared cache must never keep a proxied answer; these would allow or tune it
_SHARED_CACHE_DIRECTIVES = frozenset({"public", "private", "s-maxage", "proxy-revalidate"})
# one directive: commas inside a quoted argument (private="a, b") do not split it
_DIRECTIVE = re.compile(r'(?:[^,"]|"[^"]*"?)+')


def allowed_request_headers(extra: Iterable[str]) -> frozenset[bytes]:
    """The request headers one route forwards: the defaults plus its own, minus the never set."""
    names = {h.strip().lower().encode("latin-1") for h in [*PROXY_DEFAULT_HEADERS, *extra]}
    return frozenset(names - NEVER_FORWARDED)


def request_headers(raw: Iterable[tuple[bytes, bytes]],
                    allowed: frozenset[bytes]) -> list[tuple[str, str]]:
    """The browser's headers on the allowlist (minus any listed in Connection, RFC 9110 §7.6.1)."""
    pairs = list(raw)
    listed = set()
    for name, value in pairs:
        if name == b"connection":
            listed |= {v.strip().lower() for v in value.split(b",")}
    return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in pairs
            if n in allowed and n not in listed]


def response_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The upstream's response headers that may reach the browser, names lower-cased."""
    out = []
    for name, value in raw:
        lower = name.lower()
        if lower not in RESPONSE_DROP and not lower.startswith(_CORS_PREFIX):
            out.append((lower, value))
    return out


def cache_control(upstream: Iterable[str], sets_cookie: bool) -> bytes:
    """The Cache-Control of a proxied answer: never storable by a shared cache.

    An answer that sets a cookie (a re-sealed session holds the refresh token) is ``no-store``;
    so is one whose upstream said nothing (personal data by default). Otherwise the upstream's
    directives stay, made ``private`` (RFC 9111 §5.2.2.7) and stripped of shared-cache ones.
    """
    directives = [d.strip() for line in upstream for d in _DIRECTIVE.findall(line) if d.strip()]
    names = {d.split("=", 1)[0].strip().lower() for d in directives}
    if sets_cookie or not directives or "no-store" in names:
        return b"no-store"
    kept = [d for d in directives
            if d.split("=", 1)[0].strip().lower() not in _SHARED_CACHE_DIRECTIVES]
    return ", ".join(["private", *kept]).encode("latin-1")
