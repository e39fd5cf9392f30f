"""Which headers cross the proxy in each direction (RFC 9110 §7.6.1 hop-by-hop)."""

from __future__ import annotations

HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-authenticate",
                        b"proxy-authorization", b"te", b"trailer", b"trailers",
                        b"transfer-encoding", b"upgrade"})
# never forwarded upstream: browser credentials, our CSRF header, spoofable forwarding headers
REQUEST_DROP = HOP_BY_HOP | frozenset({
    b"host", b"cookie", b"authorization", b"dpop", b"x-csrf-token", b"origin", b"referer",
    b"forwarded", b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-proto",
    b"x-forwarded-port", b"x-real-ip", b"content-length", b"expect", b"sec-fetch-site",
    b"sec-fetch-mode", b"sec-fetch-dest", b"sec-fetch-user"})
# never returned to the browser: cookies of the API's own and its DPoP nonce (ours to keep)
RESPONSE_DROP = HOP_BY_HOP | frozenset({b"set-cookie", b"dpop-nonce", b"www-authenticate",
                                        b"content-length", b"server", b"date"})


def request_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """The browser's headers minus everything in REQUEST_DROP (and names listed in Connection)."""
    listed = set()
    for name, value in raw:
        if name == b"connection":
            listed |= {v.strip().lower() for v in value.split(b",")}
    return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in raw
            if n not in REQUEST_DROP and n not in listed]
