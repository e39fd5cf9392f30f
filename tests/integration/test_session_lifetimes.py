"""Idle and absolute session lifetimes, and the refresh-on-invalid_token path (DESIGN §4, §5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.as_login import ASBrowser
from tests.support.clocks import OffsetClock
from tests.support.cookies import Jar
from tests.support.flows import call, login
from tests.support.servers import ThreadServer
from tests.support.stack import Stack, bff_config, running_bff

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("mode", ["cookie", "server"])
def test_idle_timeout_ends_the_session(stack: Stack, workdir: Path, client_jwk: dict[str, Any],
                                       cookie_jwks: list[dict[str, Any]],
                                       as_browser: ASBrowser, mode: str) -> None:
    """A session unused for longer than session.idle_timeout is over; use keeps it alive."""
    clock = OffsetClock()
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks,
                        session={"store": mode, "idle_timeout": 300, "absolute_timeout": 3000})
    with running_bff(config, clock=clock) as bff, bff.client() as http:
        jar = Jar()
        login(http, jar, as_browser)
        for _ in range(3):  # activity every 200 s keeps it alive past 300 s in total
            clock.offset += 200
            info = call(http, jar, "GET", "/bff/session").json()
            assert info["isLoggedIn"] is True
        clock.offset += 301
        r = call(http, jar, "GET", "/bff/userinfo")
        assert (r.status_code, r.json()["error"]) == (401, "session_expired")
        assert not jar.session_names(), "the expired session's cookie was cleared"


def test_absolute_timeout_ends_an_active_session(stack: Stack, workdir: Path,
                                                 client_jwk: dict[str, Any],
                                                 cookie_jwks: list[dict[str, Any]],
                                                 as_browser: ASBrowser) -> None:
    """However active, a session ends at session.absolute_timeout."""
    clock = OffsetClock()
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks,
                        session={"idle_timeout": 300, "absolute_timeout": 600})
    with running_bff(config, clock=clock) as bff, bff.client() as http:
        jar = Jar()
        login(http, jar, as_browser)
        clock.offset += 250
        assert call(http, jar, "GET", "/bff/session").json()["isLoggedIn"] is True
        clock.offset += 250
        assert call(http, jar, "GET", "/bff/session").json()["isLoggedIn"] is True
        clock.offset += 250
        r = call(http, jar, "GET", "/bff/userinfo")
        assert (r.status_code, r.json()["error"]) == (401, "session_expired")


@pytest.mark.spec("RFC 6750 §3.1 invalid_token / RFC 9449 §7.1")
def test_upstream_invalid_token_triggers_one_refresh_and_retry(
        stack: Stack, workdir: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]], as_browser: ASBrowser) -> None:
    """The API refuses a token the BFF still trusts: one real refresh, one retry, success."""
    refused: set[str] = set()
    seen: list[str] = []

    async def api(request: Request) -> Response:
        token = request.headers.get("authorization", "").removeprefix("DPoP ")
        seen.append(token)
        if token in refused:
            return JSONResponse({"error": "invalid_token"}, 401, headers={
                "WWW-Authenticate": 'DPoP error="invalid_token"'})
        return JSONResponse({"ok": True})

    upstream = Starlette(routes=[Route("/{path:path}", api)])
    with ThreadServer(upstream) as server:
        config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks,
                            routes=[{"prefix": "/api", "upstream": server.url,
                                     "resource": stack.audience}],
                            oauth={"resources": [stack.audience]})
        with running_bff(config) as bff, bff.client() as http:
            jar = Jar()
            login(http, jar, as_browser)
            assert call(http, jar, "GET", "/api/x").status_code == 200
            refused.add(seen[-1])
            before = stack.stats()["grants"].get("refresh_token", 0)
            r = call(http, jar, "GET", "/api/x")
            assert r.status_code == 200, r.text
            assert stack.stats()["grants"].get("refresh_token", 0) == before + 1
            assert seen[-2] in refused and seen[-1] not in refused
            route = next(p for p in bff.parts.proxy.routes if p.prefix == "/api")
            assert route.stats["refresh_retries"] == 1
            refused.add(seen[-1])
            refused_again = call(http, jar, "GET", "/api/x")
            assert refused_again.status_code == 200  # a new refresh for the new refusal
            refused.update(seen)

            attempts: list[str] = []

            async def always(request: Request) -> Response:
                attempts.append(request.headers.get("authorization", ""))
                return JSONResponse({"error": "invalid_token"}, 401, headers={
                    "WWW-Authenticate": 'DPoP error="invalid_token"'})
            upstream.router.routes[0] = Route("/{path:path}", always)
            before = stack.stats()["grants"].get("refresh_token", 0)
            final = call(http, jar, "GET", "/api/x")
            assert final.status_code == 401, "the API's refusal reaches the app after one retry"
            assert len(attempts) == 2 and attempts[0] != attempts[1]
            assert stack.stats()["grants"].get("refresh_token", 0) == before + 1
