"""The API proxy against the real dev AS and the DPoP-verifying example API (DESIGN §5, issue 4)."""

from __future__ import annotations

import asyncio
import http.client
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.as_login import ASBrowser
from tests.support.cookies import Jar
from tests.support.flows import call, login
from tests.support.stack import BFF, SPA, Stack, bff_config, running_bff, running_stack

pytestmark = pytest.mark.integration


# Bound and never listening, for the module's lifetime: connecting is refused, and unlike a
# released "free" port no other process can start listening on it meanwhile.
_CLOSED = socket.socket()
_CLOSED.bind(("127.0.0.1", 0))
CLOSED_PORT = _CLOSED.getsockname()[1]


def routes(stack: Stack, **extra: Any) -> list[dict[str, Any]]:
    return [
        {"prefix": "/api", "upstream": stack.api_url, "resource": stack.audience,
         "read_timeout": 2.0, **extra},
        {"prefix": "/echo-only", "upstream": f"{stack.api_url}/echo/base",
         "resource": stack.audience},
        {"prefix": "/slow-api", "upstream": stack.api_url, "resource": stack.audience,
         "read_timeout": 1.0},
        {"prefix": "/down", "upstream": f"http://127.0.0.1:{CLOSED_PORT}",
         "resource": stack.audience, "connect_timeout": 1.0},
    ]


@pytest.fixture(params=["cookie", "server"])
def bff(request: pytest.FixtureRequest, stack: Stack, workdir: Path,
        client_jwk: dict[str, Any], cookie_jwks: list[dict[str, Any]]) -> Iterator[BFF]:
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks, routes=routes(stack),
                        oauth={"resources": [stack.audience]},
                        session={"store": request.param})
    with running_bff(config) as running:
        yield running


def proxy_stats(bff: BFF) -> dict[str, dict[str, int]]:
    dispatcher = bff.parts.proxy
    return {r.prefix: dict(r.stats) for r in dispatcher.routes}


def test_accounts_payment_and_dpop_on_every_call(bff: BFF, stack: Stack,
                                                 signed_in: tuple[httpx.Client, Jar, str]) -> None:
    """Accounts, a payment with CSRF, transactions: each call carried a valid DPoP proof."""
    http, jar, csrf = signed_in
    before = stack.api_stats()
    accounts = call(http, jar, "GET", "/api/accounts")
    assert accounts.status_code == 200, accounts.text
    balance = accounts.json()["accounts"][0]["balance"]
    pay = call(http, jar, "POST", "/api/payments", csrf=csrf, json={
        "fromAccount": "acc-1", "toName": "Bob", "toIban": "DE02 1203 0000 0000 2020 51",
        "amount": "12.50", "currency": "EUR", "reference": "lunch"})
    assert pay.status_code == 201, pay.text
    tx = call(http, jar, "GET", "/api/accounts/acc-1/transactions")
    assert tx.json()["transactions"][0]["amount"] == "-12.50"
    after = call(http, jar, "GET", "/api/accounts").json()["accounts"][0]["balance"]
    assert float(after) == pytest.approx(float(balance) - 12.5)
    stats = stack.api_stats()
    assert stats["verified"] - before["verified"] == 4, "the API verified a DPoP proof per call"
    assert stats["rejected"] == before["rejected"]


@pytest.mark.spec("RFC 9449 §9")
def test_nonce_retry_once_per_upstream(bff: BFF, signed_in: tuple[httpx.Client, Jar, str]) -> None:
    """RFC 9449 §9: the first call meets the API's nonce challenge once; later calls reuse it."""
    http, jar, _ = signed_in
    for _ in range(5):
        assert call(http, jar, "GET", "/api/accounts").status_code == 200
    assert proxy_stats(bff)["/api"]["nonce_retries"] == 1


def test_large_download_streams_without_buffering(bff: BFF,
                                                  signed_in: tuple[httpx.Client, Jar, str]) -> None:
    """A 200 MB download keeps the BFF's memory growth under 50 MB."""
    http, jar, _ = signed_in

    def rss() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    size = 200 * 1024 * 1024
    start = rss()
    peak = start
    received = 0
    with http.stream("GET", "/api/download/large", params={"size": str(size)},
                     headers={"Cookie": jar.header()}) as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(size)
        for chunk in response.iter_raw(1024 * 1024):
            received += len(chunk)
            peak = max(peak, rss())
    assert received == size
    assert peak - start < 50 * 1024 * 1024, f"memory grew by {(peak - start) >> 20} MB"


def test_sse_events_arrive_as_they_come(bff: BFF, signed_in: tuple[httpx.Client, Jar, str]) -> None:
    """Server-sent events pass through one by one, not after the stream ends."""
    http, jar, _ = signed_in
    arrivals: list[float] = []
    t0 = time.monotonic()
    with http.stream("GET", "/api/events", params={"count": "4", "interval_ms": "400"},
                     headers={"Cookie": jar.header(), "Accept": "text/event-stream"}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data:"):
                arrivals.append(time.monotonic() - t0)
    assert len(arrivals) == 4
    assert arrivals[0] < 1.0 and arrivals[-1] - arrivals[0] > 0.9


def test_large_upload_streams_to_the_upstream(bff: BFF, stack: Stack,
                                              signed_in: tuple[httpx.Client, Jar, str]) -> None:
    """A chunked 8 MiB upload streams through, even as the first call to that upstream."""
    http, jar, csrf = signed_in
    size = 8 * 1024 * 1024

    def chunks() -> Iterator[bytes]:
        for _ in range(size // 65536):
            yield b"x" * 65536

    r = call(http, jar, "POST", "/api/echo/upload", csrf=csrf, content=chunks(),
             headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    assert r.json()["body_length"] == size


def test_upload_over_the_route_limit_is_refused(bff: BFF, stack: Stack,
                                                signed_in: tuple[httpx.Client, Jar, str]) -> None:
    http, jar, csrf = signed_in
    before = stack.api_calls()
    r = call(http, jar, "POST", "/api/echo/upload", csrf=csrf, content=b"x" * (11 << 20),
             headers={"Content-Type": "application/octet-stream"})
    assert (r.status_code, r.json()["error"]) == (413, "payload_too_large")
    assert stack.api_calls() == before


def test_x_forwarded_only_when_configured(stack: Stack, workdir: Path,
                                          client_jwk: dict[str, Any],
                                          cookie_jwks: list[dict[str, Any]],
                                          as_browser: ASBrowser) -> None:
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks,
                        routes=routes(stack, x_forwarded=True),
                        oauth={"resources": [stack.audience]})
    with running_bff(config) as bff, bff.client() as http:
        jar = Jar()
        login(http, jar, as_browser)
        r = call(http, jar, "GET", "/api/echo/fwd", headers={"X-Forwarded-For": "6.6.6.6"})
        received = {name.lower(): value for name, value in r.json()["headers"]}
        assert received["x-forwarded-for"] == "127.0.0.1"
        assert received["x-forwarded-proto"] == "http"


@pytest.mark.spec("RFC 9110 §7.6.1")
def test_hostile_headers_stripped(bff: BFF, signed_in: tuple[httpx.Client, Jar, str]) -> None:
    """Cookies, CSRF, client Authorization/DPoP, hop-by-hop and forwarding headers never pass."""
    http, jar, csrf = signed_in
    r = call(http, jar, "POST", "/api/echo/x", csrf=csrf, content=b"hello", headers={
        "Authorization": "Bearer stolen", "DPoP": "forged", "X-Forwarded-For": "6.6.6.6",
        "X-Forwarded-Host": "evil.example", "Forwarded": "for=6.6.6.6", "Connection": "X-Drop",
        "X-Drop": "1", "Accept-Language": "kept", "Proxy-Authorization": "Basic x",
        "Content-Type": "text/plain"})
    assert r.status_code == 200, r.text
    received = {name.lower(): value for name, value in r.json()["headers"]}
    assert received["accept-language"] == "kept"
    assert received["authorization"].startswith("DPoP ") and "stolen" not in str(received)
    assert received["dpop"] != "forged"
    for dropped in ("cookie", "x-csrf-token", "x-forwarded-for", "x-forwarded-host",
                    "forwarded", "x-drop", "proxy-authorization", "origin"):
        assert dropped not in received, dropped
    assert r.json()["body_length"] == 5
    assert all("bff-session" in c.split("=")[0] for c in r.headers.get_list("set-cookie"))
    assert "dpop-nonce" not in {k.lower() for k in r.headers}


TRAVERSALS = ["/echo-only/../accounts", "/echo-only/%2e%2e/accounts", "/echo-only/%2E%2E/x",
              "/echo-only//accounts", "/echo-only/..%2faccounts", "/echo-only/a/%2e%2e%2f..",
              "/echo-only/..\\accounts", "/echo-only/%5c..%5caccounts", "/echo-only/%252e%252e/x",
              "/echo-only/./accounts", "/echo-only/.%2e/accounts"]


@pytest.mark.spec("RFC 3986 §5.2.4")
@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_never_leaves_the_base(bff: BFF, stack: Stack, path: str,
                                         signed_in: tuple[httpx.Client, Jar, str]) -> None:
    """RFC 3986 §5.2.4 dot segments: no encoding lets a path escape the route's base path."""
    _, jar, _ = signed_in
    before = stack.api_calls()
    host, port = bff.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.putrequest("GET", path, skip_accept_encoding=True)
    conn.putheader("Cookie", jar.header())
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    assert response.status == 400, body
    assert b'"path_not_allowed"' in body
    assert stack.api_calls() == before, "the upstream saw no call"


def test_inside_the_base_is_forwarded(bff: BFF, signed_in: tuple[httpx.Client, Jar, str]) -> None:
    http, jar, _ = signed_in
    r = call(http, jar, "GET", "/echo-only/sub/item?q=1")
    assert r.status_code == 200, r.text
    assert r.json()["path"] == "/echo/base/sub/item"
    assert r.json()["query_string"] == "q=1"


def test_no_session_401_without_upstream_call(bff: BFF, stack: Stack) -> None:
    """No session: 401 and the upstream never sees the call."""
    before = stack.api_calls()
    with bff.client() as http:
        r = http.get("/api/accounts")
    assert r.status_code == 401
    assert r.json()["error"] == "session_required"
    assert stack.api_calls() == before


@pytest.mark.spec("OWASP CSRF: custom request header + Origin verification")
def test_post_without_csrf_or_with_foreign_origin(bff: BFF, stack: Stack,
                                                  signed_in: tuple[httpx.Client, Jar, str]) -> None:
    """A state-changing proxied call needs the CSRF header and an allowed Origin."""
    http, jar, csrf = signed_in
    before = stack.api_calls()
    payment = {"fromAccount": "acc-1", "toName": "Eve", "toIban": "X", "amount": "1.00",
               "currency": "EUR"}
    missing = call(http, jar, "POST", "/api/payments", json=payment)
    assert (missing.status_code, missing.json()["error"]) == (403, "csrf_failed")
    wrong = call(http, jar, "POST", "/api/payments", json=payment, csrf="wrong")
    assert (wrong.status_code, wrong.json()["error"]) == (403, "csrf_failed")
    foreign = call(http, jar, "POST", "/api/payments", json=payment, csrf=csrf,
                   headers={"Origin": "https://evil.example"})
    assert (foreign.status_code, foreign.json()["error"]) == (403, "origin_not_allowed")
    assert stack.api_calls() == before


def test_upstream_down_is_502(bff: BFF, signed_in: tuple[httpx.Client, Jar, str]) -> None:
    http, jar, _ = signed_in
    r = call(http, jar, "GET", "/down/anything")
    assert r.status_code == 502
    assert r.json()["error"] == "api_unreachable"


def test_upstream_hang_is_504_within_timeout(bff: BFF,
                                             signed_in: tuple[httpx.Client, Jar, str]) -> None:
    http, jar, _ = signed_in
    call(http, jar, "GET", "/slow-api/accounts")  # nonce round first
    t0 = time.monotonic()
    r = call(http, jar, "GET", "/slow-api/slow", params={"ms": "5000"})
    elapsed = time.monotonic() - t0
    assert r.status_code == 504
    assert r.json()["error"] == "api_timeout"
    assert elapsed < 2.5


# -- expiry and single-flight refresh (short access-token lifetime) -------------------------------


@pytest.fixture(scope="module")
def short_stack(tmp_path_factory: pytest.TempPathFactory,
                client_jwk: dict[str, Any]) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("short"), client_jwk, access_ttl=3) as s:
        yield s


@pytest.mark.parametrize("store", ["cookie", "server"])
def test_expired_token_refreshes_once_for_20_concurrent_calls(
        short_stack: Stack, workdir: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]], as_browser: ASBrowser, store: str) -> None:
    """20 concurrent calls with an expired access token: one refresh at the AS, all succeed."""
    config = bff_config(workdir, short_stack.issuer, client_jwk, cookie_jwks,
                        routes=routes(short_stack), oauth={"resources": [short_stack.audience],
                                                           "refresh_margin": 0},
                        session={"store": store})
    with running_bff(config) as bff, bff.client() as http:
        jar = Jar()
        login(http, jar, as_browser)
        assert call(http, jar, "GET", "/api/accounts").status_code == 200
        time.sleep(3.5)  # the AS's own clock must pass the token's exp
        before = short_stack.stats()["grants"].get("refresh_token", 0)

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=bff.url, timeout=30,
                                         headers={"Origin": SPA}) as client:
                return await asyncio.gather(*[
                    client.get("/api/accounts", headers={"Cookie": jar.header()})
                    for _ in range(20)])

        responses = asyncio.run(burst())
        assert [r.status_code for r in responses] == [200] * 20
        after = short_stack.stats()["grants"].get("refresh_token", 0)
        assert after - before == 1, "exactly one refresh reached the AS"
        # every response carries the refreshed session (cookie mode) or keeps the id (server)
        for r in responses:
            jar.update(r)
        assert call(http, jar, "GET", "/api/accounts").status_code == 200
        assert short_stack.stats()["grants"].get("refresh_token", 0) == after
