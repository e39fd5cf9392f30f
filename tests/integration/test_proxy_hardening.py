"""Proxy hardening end to end: paths, cache and CORS policy, request headers, dropped connections.

Over real sockets: the real dev AS and DPoP-verifying example API, plus a scripted upstream
(tests/support/upstream.py) where a test needs response headers or keep-alive behaviour the
example API does not have.
"""

from __future__ import annotations

import asyncio
import http.client
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.clocks import OffsetClock
from tests.support.cookies import Jar
from tests.support.flows import call
from tests.support.stack import BFF, SPA, Stack, bff_config, running_bff
from tests.support.upstream import ScriptedUpstream

pytestmark = pytest.mark.integration

OTHER_APP = "http://127.0.0.1:5174"


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    server = ScriptedUpstream()
    yield server
    server.close()


@pytest.fixture
def clock() -> OffsetClock:
    return OffsetClock()


@pytest.fixture
def bff(stack: Stack, workdir: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]], upstream: ScriptedUpstream,
        clock: OffsetClock) -> Iterator[BFF]:
    routes = [
        {"prefix": "/api", "upstream": stack.api_url, "resource": stack.audience},
        {"prefix": "/api-extra", "upstream": stack.api_url, "resource": stack.audience,
         "forward_headers": ["X-Custom"]},
        {"prefix": "/scripted", "upstream": upstream.url, "resource": stack.audience},
        {"prefix": "/short-idle", "upstream": upstream.url, "resource": stack.audience,
         "keepalive_timeout": 0.3},
    ]
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks, routes=routes,
                        oauth={"resources": [stack.audience]},
                        cors={"allowed_origins": [OTHER_APP]})
    with running_bff(config, clock=clock) as running:
        yield running


def stats(bff: BFF, prefix: str) -> dict[str, int]:
    return next(dict(r.stats) for r in bff.parts.proxy.routes if r.prefix == prefix)


def raw_get(bff: BFF, path: str, jar: Jar) -> tuple[int, dict[str, str], bytes]:
    """A GET with the path sent byte for byte (httpx would normalise it)."""
    host, port = bff.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.putrequest("GET", path, skip_accept_encoding=True)
    conn.putheader("Cookie", jar.header())
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def received(response: httpx.Response) -> dict[str, str]:
    return {name.lower(): value for name, value in response.json()["headers"]}


# -- 11: matrix parameters and encoded semicolons ---------------------------------------------

MATRIX_TRAVERSALS = ["/api/echo/a/..;/accounts", "/api/echo/a/..%3B/accounts",
                     "/api/echo/a/..%3b/b", "/api/echo/a/..;x=1/b", "/api/echo/a/.;/b",
                     "/api/echo/;/accounts", "/api/echo/a%3Bb", "/api/echo/%c0%ae%c0%ae/x",
                     "/api/echo/%ef%bc%8e%ef%bc%8e/x", "/%61pi/echo/x"]


@pytest.mark.spec("RFC 3986 §5.2.4")
@pytest.mark.parametrize("path", MATRIX_TRAVERSALS)
def test_dot_segments_with_matrix_parameters_never_reach_the_upstream(
        bff: BFF, stack: Stack, path: str, signed_in: tuple[httpx.Client, Jar, str]) -> None:
    """'..;' is '..' to Tomcat, Jetty and Spring: refused (400, nosniff), the API sees nothing."""
    _, jar, _ = signed_in
    before = stack.api_calls()
    status, headers, body = raw_get(bff, path, jar)
    assert status == 400, body
    assert b'"path_not_allowed"' in body
    assert headers["x-content-type-options"] == "nosniff"
    assert stack.api_calls() == before, "the upstream saw no call"


def test_matrix_parameters_on_ordinary_segments_pass(
        bff: BFF, signed_in: tuple[httpx.Client, Jar, str]) -> None:
    _, jar, _ = signed_in
    status, _, body = raw_get(bff, "/api/echo/a;v=1/b", jar)
    assert status == 200, body


# -- 12: cache policy of proxied answers --------------------------------------------------------

@pytest.mark.spec("RFC 9111 §5.2.2.5")
def test_an_answer_that_sets_the_session_cookie_is_no_store(
        bff: BFF, upstream: ScriptedUpstream, clock: OffsetClock,
        signed_in: tuple[httpx.Client, Jar, str]) -> None:
    """A re-sealed session cookie (refresh token inside) is never stored, whatever the API sent."""
    http, jar, _ = signed_in
    upstream.headers["/cached"] = [("Cache-Control", "public, max-age=600")]
    clock.offset += 61  # last_seen is re-saved once a minute: this answer sets the cookie
    r = call(http, jar, "GET", "/scripted/cached")
    assert r.status_code == 200, r.text
    assert r.headers.get_list("set-cookie"), "the session was re-sealed on this answer"
    assert r.headers.get_list("cache-control") == ["no-store"]


@pytest.mark.spec("RFC 9111 §5.2.2.7")
@pytest.mark.parametrize(("sent", "expected"), [
    ([("Cache-Control", "public, max-age=600"), ("CDN-Cache-Control", "max-age=600"),
      ("Surrogate-Control", "max-age=600")], "private, max-age=600"),
    ([("Cache-Control", "s-maxage=600, max-age=60"), ("Cache-Control", "must-revalidate")],
     "private, max-age=60, must-revalidate"),
    ([("Cache-Control", 'private="x-a, x-b", no-cache')], "private, no-cache"),
    ([("Cache-Control", "max-age=60, no-store")], "no-store"),
    ([], "no-store"),
])
def test_proxied_answers_are_never_shared_cacheable(
        bff: BFF, upstream: ScriptedUpstream, sent: list[tuple[str, str]], expected: str,
        signed_in: tuple[httpx.Client, Jar, str]) -> None:
    """At least private; CDN-targeted overrides (RFC 9213) dropped; no directive means no-store."""
    http, jar, _ = signed_in
    upstream.headers["/cc"] = sent
    call(http, jar, "GET", "/scripted/warm-up")  # the first call may store a token: a cookie
    r = call(http, jar, "GET", "/scripted/cc")
    assert r.status_code == 200, r.text
    assert r.headers.get_list("set-cookie") == []
    assert r.headers.get_list("cache-control") == [expected]
    assert "cdn-cache-control" not in r.headers and "surrogate-control" not in r.headers


# -- 13: CORS is the BFF's alone; nosniff everywhere ---------------------------------------------

UPSTREAM_CORS = [("Access-Control-Allow-Origin", "*"),
                 ("Access-Control-Allow-Origin", "https://evil.example"),
                 ("Access-Control-Allow-Credentials", "true"),
                 ("Access-Control-Expose-Headers", "X-Secret"),
                 ("Access-Control-Allow-Methods", "PUT"), ("X-Content-Type-Options", "off")]


@pytest.mark.spec("Fetch Standard §3.2.3 CORS protocol")
@pytest.mark.parametrize(("origin", "allowed"), [(SPA, None), (OTHER_APP, OTHER_APP),
                                                 ("https://evil.example", None)])
def test_upstream_cors_headers_never_reach_the_browser(
        bff: BFF, upstream: ScriptedUpstream, origin: str, allowed: str | None,
        signed_in: tuple[httpx.Client, Jar, str]) -> None:
    """Only the BFF's own CORS answer (for its configured origins) reaches the browser."""
    http, jar, _ = signed_in
    upstream.headers["/cors"] = UPSTREAM_CORS
    r = call(http, jar, "GET", "/scripted/cors", headers={"Origin": origin})
    assert r.status_code == 200, r.text
    assert r.headers.get_list("access-control-allow-origin") == ([allowed] if allowed else [])
    assert "access-control-expose-headers" not in r.headers
    assert "access-control-allow-methods" not in r.headers
    assert r.headers.get_list("access-control-allow-credentials") == (
        ["true"] if allowed else [])
    assert r.headers.get_list("x-content-type-options") == ["nosniff"]


def test_error_answers_carry_nosniff(bff: BFF) -> None:
    with bff.client() as http:
        r = http.get("/api/accounts")
    assert (r.status_code, r.json()["error"]) == (401, "session_required")
    assert r.headers["x-content-type-options"] == "nosniff"


# -- 14 and 19: which request headers reach the upstream -----------------------------------------

OVERRIDES = {"X-HTTP-Method-Override": "DELETE", "X-HTTP-Method": "DELETE",
             "X-Method-Override": "DELETE", "X-Original-Method": "DELETE",
             "X-Original-URL": "/admin", "X-Rewrite-URL": "/admin",
             "X-Forwarded-Prefix": "/admin"}


@pytest.mark.parametrize("prefix", ["/api", "/api-extra"])
def test_method_and_url_override_headers_never_reach_the_upstream(
        bff: BFF, prefix: str, signed_in: tuple[httpx.Client, Jar, str]) -> None:
    """A method or URL override would make the API do what the BFF did not check."""
    http, jar, csrf = signed_in
    r = call(http, jar, "POST", f"{prefix}/echo/x", csrf=csrf, content=b"{}",
             headers={**OVERRIDES, "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["method"] == "POST"
    assert not {h.lower() for h in OVERRIDES} & set(received(r))


DEFAULTS = {"Accept": "application/json", "Accept-Language": "de", "If-None-Match": '"v1"',
            "Idempotency-Key": "k-1", "Last-Event-ID": "7", "Range": "bytes=0-9"}


def test_only_allowlisted_request_headers_reach_the_upstream(
        bff: BFF, signed_in: tuple[httpx.Client, Jar, str]) -> None:
    """Defaults plus the route's forward_headers pass; every other header stays behind."""
    http, jar, _ = signed_in
    sent = {**DEFAULTS, "X-Custom": "c", "X-Other": "o", "User-Agent": "ua/1",
            "X-Api-Key": "guess"}
    plain = received(call(http, jar, "GET", "/api/echo/h", headers=sent))
    extra = received(call(http, jar, "GET", "/api-extra/echo/h", headers=sent))
    for name, value in DEFAULTS.items():
        assert plain[name.lower()] == value == extra[name.lower()]
    assert extra["x-custom"] == "c"
    for name in ("x-custom", "x-other", "user-agent", "x-api-key"):
        assert name not in plain, name
    for name in ("x-other", "user-agent", "x-api-key"):
        assert name not in extra, name


# -- 23: a pooled connection the upstream has dropped --------------------------------------------

def pool_connections(bff: BFF, jar: Jar, upstream: ScriptedUpstream, count: int) -> None:
    """Leave ``count`` idle keep-alive connections to the upstream in the BFF's pool."""
    upstream.delays["/hold"] = 0.3  # concurrent calls each need their own connection

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=bff.url, timeout=30,
                                     headers={"Origin": SPA, "Cookie": jar.header()}) as client:
            responses = await asyncio.gather(*[client.get("/scripted/hold")
                                               for _ in range(count)])
            return [r.status_code for r in responses]

    assert asyncio.run(burst()) == [200] * count
    assert upstream.open_connections() == count


@pytest.mark.spec("RFC 9112 §9.3.1")
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_a_dropped_pooled_connection_is_retried_once_on_a_fresh_one(
        bff: BFF, upstream: ScriptedUpstream, method: str,
        signed_in: tuple[httpx.Client, Jar, str]) -> None:
    """Every pooled connection went stale at the upstream: an idempotent call still succeeds,
    with exactly one retry, on a new connection, with a new DPoP proof."""
    http, jar, csrf = signed_in
    pool_connections(bff, jar, upstream, 3)
    assert upstream.expire() == 3
    before = len(upstream.seen)
    r = call(http, jar, method, "/scripted/item", csrf=csrf,
             content=None if method == "GET" else b"{}")
    assert r.status_code == 200, r.text
    assert [d.method for d in upstream.dropped] == [method], "one attempt met a stale connection"
    retried = upstream.seen[before:]
    assert [s.method for s in retried] == [method]
    assert retried[0].conn not in {d.conn for d in upstream.dropped}
    proof = {n.lower(): v for n, v in upstream.dropped[0].headers}["dpop"]
    assert {n.lower(): v for n, v in retried[0].headers}["dpop"] != proof
    assert stats(bff, "/scripted")["dropped_connection_retries"] == 1


@pytest.mark.spec("RFC 9112 §9.3.1")
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_non_idempotent_call_that_may_have_arrived_is_not_retried(
        bff: BFF, upstream: ScriptedUpstream, method: str,
        signed_in: tuple[httpx.Client, Jar, str]) -> None:
    """The upstream read the payment, then closed: repeating it could pay twice. 502, once."""
    http, jar, csrf = signed_in
    pool_connections(bff, jar, upstream, 2)
    upstream.expire()
    before = len(upstream.seen)
    r = call(http, jar, method, "/scripted/payments", csrf=csrf, json={"amount": "1.00"})
    assert (r.status_code, r.json()["error"]) == (502, "api_unreachable")
    assert [d.method for d in upstream.dropped] == [method]
    assert upstream.seen[before:] == []
    assert stats(bff, "/scripted")["dropped_connection_retries"] == 0


def test_idle_upstream_connections_close_before_the_upstream_keepalive(
        bff: BFF, upstream: ScriptedUpstream, signed_in: tuple[httpx.Client, Jar, str]) -> None:
    """routes.keepalive_timeout: the BFF closes an idle connection itself, first."""
    http, jar, _ = signed_in
    assert call(http, jar, "GET", "/short-idle/x").status_code == 200
    deadline = time.monotonic() + 5
    while upstream.client_closed == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert upstream.client_closed == 1
    assert upstream.open_connections() == 0



def test_the_proxy_adds_no_request_headers_of_its_http_client(
        bff: BFF, signed_in: tuple[httpx.Client, Jar, str]) -> None:
    """A browser call without Accept, Accept-Encoding or User-Agent reaches the API without
    them: the upstream sees the browser's allowed headers and the BFF's own, nothing invented."""
    http, jar, _ = signed_in
    for name in ("accept", "accept-encoding", "user-agent"):
        http.headers.pop(name, None)
    seen = received(call(http, jar, "GET", "/api/echo/h"))
    assert not {"accept", "accept-encoding", "user-agent"} & set(seen), seen
    assert {"authorization", "dpop", "x-request-id", "host"} <= set(seen)
