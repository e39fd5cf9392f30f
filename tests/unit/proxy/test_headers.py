"""Which headers cross the proxy (proven end to end in tests/integration/test_proxy_hardening)."""

from __future__ import annotations

import pytest

from bff.proxy.headers import (
    allowed_request_headers,
    cache_control,
    request_headers,
    response_headers,
)


def test_never_forwarded_names_stay_out_even_when_listed() -> None:
    """forward_headers cannot re-admit credentials or overrides (the loader refuses them too)."""
    allowed = allowed_request_headers(["X-Custom", "Cookie", "X-HTTP-Method-Override", "Host"])
    assert b"x-custom" in allowed and b"accept" in allowed
    assert not {b"cookie", b"x-http-method-override", b"host"} & allowed


@pytest.mark.spec("RFC 9110 §7.6.1")
def test_headers_named_in_connection_are_dropped_even_when_allowed() -> None:
    allowed = allowed_request_headers([])
    raw = [(b"connection", b"close, Accept-Language"), (b"accept-language", b"de"),
           (b"accept", b"*/*"), (b"x-http-method-override", b"DELETE")]
    assert request_headers(raw, allowed) == [("accept", "*/*")]


def test_upstream_cors_and_cache_headers_are_dropped() -> None:
    raw = [(b"Access-Control-Allow-Origin", b"*"), (b"ACCESS-CONTROL-MAX-AGE", b"1"),
           (b"Cache-Control", b"public"), (b"CDN-Cache-Control", b"max-age=9"),
           (b"Content-Type", b"application/json"), (b"ETag", b'"1"')]
    assert response_headers(raw) == [(b"content-type", b"application/json"), (b"etag", b'"1"')]


@pytest.mark.spec("RFC 9111 §5.2.2.7")
@pytest.mark.parametrize(("upstream", "sets_cookie", "expected"), [
    (["public, max-age=60"], True, b"no-store"),
    (["public, max-age=60"], False, b"private, max-age=60"),
    (["PUBLIC, S-MAXAGE=9, max-age=1"], False, b"private, max-age=1"),
    (['private="a, b", no-cache'], False, b"private, no-cache"),
    (["no-cache", "No-Store"], False, b"no-store"),
    ([], False, b"no-store"),
    ([" , "], False, b"no-store"),
])
def test_cache_control_is_never_shared(upstream: list[str], sets_cookie: bool,
                                       expected: bytes) -> None:
    assert cache_control(upstream, sets_cookie) == expected
