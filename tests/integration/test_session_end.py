"""Ending a session the user ended, on every instance; no response order signs a user out.

Two BFF instances share one real Redis; the dev AS sits behind an HTTP front that can fail
its revocation endpoint; the example API's ``/slow`` is the slow upstream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bff.devstack import Child
from bff.handler.browser import ActiveSession
from bff.sessions.model import Session
from bff.store.redis import RedisStore
from bff.telemetry.metrics import METRICS
from tests.support.as_login import ASBrowser
from tests.support.cookies import Jar
from tests.support.flows import call, login
from tests.support.redis_server import RedisServer
from tests.support.servers import ThreadServer
from tests.support.stack import BFF, Stack, bff_config, running_bff, running_stack

pytestmark = pytest.mark.integration

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


class FaultyFront:
    """An HTTP reverse proxy in front of the dev AS; its revocation endpoint can fail."""

    def __init__(self, back_url: str) -> None:
        self.back_url = back_url
        self.fault: str | None = None
        self.revocations = 0

    def app(self) -> Starlette:
        async def forward(request: Request) -> Response:
            body = await request.body()
            if request.url.path.endswith("/revocation"):
                self.revocations += 1
                if self.fault == "503":
                    return JSONResponse({"error": "temporarily_unavailable"}, 503)
                if self.fault == "hang":
                    await asyncio.sleep(4)  # longer than any wait the BFF allows itself
            headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP]
            async with httpx.AsyncClient(base_url=self.back_url, timeout=10) as client:
                upstream = await client.request(
                    request.method, request.url.path, params=request.url.query,
                    headers=headers, content=body)
            out = Response(upstream.content, upstream.status_code)
            for k, v in upstream.headers.multi_items():
                if k.lower() not in _HOP:
                    out.headers.append(k, v)
            return out

        methods = ["GET", "POST", "PUT", "DELETE", "OPTIONS"]
        return Starlette(routes=[Route("/{path:path}", forward, methods=methods)])


class SlowSessionWrites(RedisStore):
    """Real Redis; when armed, the next write of a server-side session lands one second late."""

    armed = False

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if self.armed and key.startswith("bff:session:"):
            self.armed = False
            await asyncio.sleep(1.0)
        await super().set(key, value, ttl)


@dataclass
class Pair:
    a: BFF
    b: BFF
    mode: str
    slow_store: SlowSessionWrites


@pytest.fixture(scope="module")
def front_stack(tmp_path_factory: pytest.TempPathFactory,
                client_jwk: dict[str, Any]) -> Iterator[tuple[FaultyFront, Stack]]:
    # the front holds its port from the start; the AS binds port 0 and the front is aimed at
    # the port it reports, so no port is released and bound again
    front = FaultyFront("")

    def aim(authz: Child) -> None:
        front.back_url = f"http://127.0.0.1:{authz.ready['port']}"

    with ThreadServer(front.app()) as server, running_stack(
            tmp_path_factory.mktemp("ending"), client_jwk, on_as_ready=aim,
            issuer=server.url) as stack:
        yield front, stack


@pytest.fixture(params=["cookie", "server"])
def pair(request: pytest.FixtureRequest, front_stack: tuple[FaultyFront, Stack],
         redis: RedisServer, workdir: Path, client_jwk: dict[str, Any],
         cookie_jwks: list[dict[str, Any]]) -> Iterator[Pair]:
    front, stack = front_stack
    front.fault = None
    mode = request.param
    config = bff_config(
        workdir, stack.issuer, client_jwk, cookie_jwks,
        routes=[{"prefix": "/api", "upstream": stack.api_url, "resource": stack.audience}],
        oauth={"resources": [stack.audience], "http_timeout": 1.0},
        session={"store": mode, "refresh_grace": 1},
        store={"backend": "redis", "url": redis.url})
    slow_store = SlowSessionWrites.from_settings(config.settings.store)
    assert isinstance(slow_store, SlowSessionWrites)
    with running_bff(config, store=slow_store) as a, running_bff(config) as b:
        yield Pair(a, b, mode, slow_store)


def loaded(bff: BFF, jar: Jar) -> Session:
    session = bff.run(bff.parts.sessions.load(jar.cookies))
    assert isinstance(session, Session)
    return session


def save_late(bff: BFF, session: Session, jar: Jar) -> None:
    """A request that loaded the session earlier writes it back now (its 60 s re-seal)."""
    bff.run(bff.parts.handler.save(ActiveSession(session), session, jar.cookies))


def idle_for(bff: BFF, jar: Jar, seconds: float) -> None:
    """Backdate the session's last use (moving the BFF's clock would also age its DPoP proofs)."""
    session = loaded(bff, jar)
    active = ActiveSession(session)
    bff.run(bff.parts.handler.save(active, session.with_changes(
        last_seen=session.last_seen - seconds), jar.cookies))
    for cookie in active.cookies:
        if cookie.max_age == 0:
            jar.cookies.pop(cookie.name, None)
        else:
            jar.cookies[cookie.name] = cookie.value


def assert_dead_everywhere(pair: Pair, copy: Jar, csrf: str) -> None:
    for bff in (pair.a, pair.b):
        with bff.client() as http:
            assert call(http, copy.copy(), "GET", "/bff/session").json()["isLoggedIn"] is False
            r = call(http, copy.copy(), "GET", "/api/accounts")
            assert (r.status_code, r.json()["error"]) == (401, "session_expired"), r.text
            r = call(http, copy.copy(), "POST", "/api/payments", csrf=csrf,
                     json={"fromAccount": "a", "toIban": "b", "amount": "1.00"})
            assert (r.status_code, r.json()["error"]) == (401, "session_expired"), r.text


def events(name: str) -> float:
    return METRICS.events.values.get((("event", name),), 0.0)


@pytest.mark.spec("OpenID Connect RP-Initiated Logout 1.0 §2 / DESIGN §3 logout")
def test_logout_ends_every_copy_of_the_session_on_every_instance(pair: Pair) -> None:
    """After logout a copy of the old cookie reads nothing and pays nothing, on any instance."""
    jar = Jar()
    with pair.a.client() as http, ASBrowser() as browser:
        csrf = login(http, jar, browser)["csrfToken"]
        copy = jar.copy()
        in_flight = loaded(pair.b, copy)
        r = call(http, jar, "POST", "/bff/logout", csrf=csrf)
        assert r.status_code == 200, r.text
        assert r.headers["clear-site-data"] == '"cookies"'
        assert not jar.session_names()
    if pair.mode == "server":
        save_late(pair.b, in_flight, copy)  # a request in flight during logout saves after it
    assert_dead_everywhere(pair, copy, csrf)


def test_a_new_login_ends_the_session_it_replaces(pair: Pair) -> None:
    """The session a new login replaces is dead for every copy; the new one lives."""
    jar = Jar()
    with pair.a.client() as http, ASBrowser() as browser:
        old_csrf = login(http, jar, browser)["csrfToken"]
        copy = jar.copy()
        in_flight = loaded(pair.b, copy)
        login(http, jar, browser)
    if pair.mode == "server":
        save_late(pair.b, in_flight, copy)
    assert_dead_everywhere(pair, copy, old_csrf)
    with pair.b.client() as http:
        assert call(http, jar, "GET", "/bff/session").json()["isLoggedIn"] is True
        assert call(http, jar, "GET", "/api/accounts").status_code == 200


FOREIGN_RESPONSES = [
    "https://app.example/?code=x&state=y",
    "https://app.example/?error=access_denied&state=y",
    "https://app.example/?code=x&state=y&iss=https%3A%2F%2Fevil.example",
]


@pytest.mark.spec("RFC 9700 §4.4.1")
@pytest.mark.parametrize("page_url", FOREIGN_RESPONSES)
def test_a_foreign_authorization_response_leaves_the_session_alone(pair: Pair,
                                                                   page_url: str) -> None:
    """A link from any site carrying code/state fails the login attempt, not the session."""
    jar = Jar()
    with pair.a.client() as http, ASBrowser() as browser:
        login(http, jar, browser)
        before = dict(jar.cookies)
        r = call(http, jar, "POST", "/bff/login/end", json={"pageUrl": page_url})
        assert r.status_code in (401, 502), r.text
        assert not any("bff-session" in h for h in r.headers.get_list("set-cookie")), \
            r.headers.get_list("set-cookie")
        assert jar.cookies == before
        assert call(http, jar, "GET", "/bff/session").json()["isLoggedIn"] is True
        assert call(http, jar, "GET", "/api/accounts").status_code == 200


@pytest.mark.spec("RFC 7009 §2.2.1")
@pytest.mark.parametrize("fault", ["503", "hang"])
def test_logout_ends_the_session_when_revocation_fails(
        pair: Pair, front_stack: tuple[FaultyFront, Stack], fault: str) -> None:
    """The AS failing or hanging at revocation: logout still answers 200 within a bounded wait."""
    front, _ = front_stack
    jar = Jar()
    with pair.a.client() as http, ASBrowser() as browser:
        csrf = login(http, jar, browser)["csrfToken"]
        copy = jar.copy()
        front.fault = fault
        seen, failed = front.revocations, events("revocation_failed")
        started = time.monotonic()
        r = call(http, jar, "POST", "/bff/logout", csrf=csrf)
        elapsed = time.monotonic() - started
        front.fault = None
        assert r.status_code == 200, r.text
        assert r.json()["logoutUrl"].startswith(front_stack[1].issuer)
        assert elapsed < 2.5, elapsed
        assert front.revocations == seen + 1, "the revocation was attempted"
        assert events("revocation_failed") == failed + 1, "and counted as failed"
        assert not jar.session_names()
    assert_dead_everywhere(pair, copy, csrf)


@pytest.mark.spec("RFC 9700 §4.14.2")
def test_a_late_response_never_rolls_a_session_back(pair: Pair) -> None:
    """A slow call answered after a parallel refresh must not sign the user out later.

    Cookie mode: the slow call's re-sealed (older) cookie lands last in the browser. Server
    mode: its write of the older record lands last in the store. After refresh_grace, the next
    refresh would present the rotated-out refresh token; the AS would revoke the grant.
    """
    jar = Jar()
    with pair.a.client() as ha, pair.b.client() as hb, ASBrowser() as browser:
        csrf = login(ha, jar, browser)["csrfToken"]
        # the API's token first, so the slow call below has no refresh of its own to do
        assert call(ha, jar, "GET", "/api/accounts").status_code == 200
        generation = loaded(pair.a, jar).generation
        idle_for(pair.a, jar, 61)  # long enough that every load re-seals the session
        cookie = jar.header()
        pair.slow_store.armed = pair.mode == "server"
        with ThreadPoolExecutor(1) as pool:
            slow_call = pool.submit(ha.get, "/api/slow", params={"ms": 1500},
                                    headers={"Cookie": cookie})
            time.sleep(0.3)
            refreshed = hb.post("/bff/refresh", headers={"Cookie": cookie, "X-CSRF-Token": csrf})
            slow = slow_call.result()
        assert refreshed.status_code == 200, refreshed.text
        assert slow.status_code == 200, slow.text
        jar.update(refreshed)
        jar.update(slow)  # landed last: the browser keeps what it set
        assert loaded(pair.a, jar).generation == generation, "the rollback happened"
        assert any("bff-session" in h for h in slow.headers.get_list("set-cookie"))
        time.sleep(1.2)  # past refresh_grace: the refresh result for the old generation is gone
        upgraded = events("session_generation_upgraded")
        again = call(hb, jar, "POST", "/bff/refresh", csrf=csrf)
        assert again.status_code == 200, again.text
        assert events("session_generation_upgraded") > upgraded
        assert call(ha, jar, "GET", "/api/accounts").status_code == 200
        third = call(ha, jar, "POST", "/bff/refresh", csrf=csrf)
        assert third.status_code == 200, third.text


def test_cookie_mode_logout_with_the_store_down_is_refused_not_faked(
        front_stack: tuple[FaultyFront, Stack], redis: RedisServer, workdir: Path,
        client_jwk: dict[str, Any], cookie_jwks: list[dict[str, Any]]) -> None:
    """Without the store no marker can end cookie copies: 503, and the user is still signed in."""
    _, stack = front_stack
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks,
                        session={"store": "cookie"},
                        store={"backend": "redis", "url": redis.url})
    with running_bff(config) as bff, bff.client() as http, ASBrowser() as browser:
        jar = Jar()
        csrf = login(http, jar, browser)["csrfToken"]
        redis.stop()
        try:
            r = call(http, jar, "POST", "/bff/logout", csrf=csrf)
            assert (r.status_code, r.json()["error"]) == (503, "store_unavailable"), r.text
            assert not r.headers.get_list("set-cookie")
            assert "clear-site-data" not in r.headers
        finally:
            redis.start()
        # readiness probes the store and closes its circuit breaker at once
        assert http.get("/readyz").status_code == 200
        assert call(http, jar, "GET", "/bff/session").json()["isLoggedIn"] is True
        r = call(http, jar, "POST", "/bff/logout", csrf=csrf)
        assert r.status_code == 200, r.text
