"""Clear behaviour under faults: Redis stopped and restarted, the AS hanging (issue 3)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bff.config.loader import LoadedConfig
from bff.devstack import Child
from tests.support.as_login import ASBrowser
from tests.support.cookies import Jar, set_cookie_names
from tests.support.flows import call, login
from tests.support.forwarder import SwitchableForwarder
from tests.support.redis_server import RedisServer
from tests.support.stack import Stack, bff_config, running_bff, running_stack

pytestmark = pytest.mark.integration


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def redis_backed(stack: Stack, redis: RedisServer, workdir: Path, client_jwk: dict[str, Any],
                 cookie_jwks: list[dict[str, Any]], mode: str) -> LoadedConfig:
    """A BFF on the dev stack whose store is ``redis`` with a short timeout."""
    return bff_config(workdir, stack.issuer, client_jwk, cookie_jwks,
                      routes=[{"prefix": "/api", "upstream": stack.api_url,
                               "resource": stack.audience}],
                      oauth={"resources": [stack.audience]}, session={"store": mode},
                      store={"backend": "redis", "url": redis.url, "timeout": 0.5})


def test_server_mode_store_down_then_restarted_empty(
        stack: Stack, redis: RedisServer, workdir: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]], as_browser: ASBrowser) -> None:
    """Store down: 503 store_unavailable, session kept; Redis back empty: a clean 401."""
    config = redis_backed(stack, redis, workdir, client_jwk, cookie_jwks, "server")
    with running_bff(config) as bff, bff.client() as http:
        jar = Jar()
        login(http, jar, as_browser)
        assert call(http, jar, "GET", "/api/accounts").status_code == 200
        redis.stop()
        for method, path in (("GET", "/bff/session"), ("GET", "/api/accounts"),
                             ("GET", "/bff/userinfo")):
            r = call(http, jar, method, path)
            assert (r.status_code, r.json()["error"]) == (503, "store_unavailable"), path
            assert "unavailable" in r.json()["error_description"]
            assert not r.headers.get_list("set-cookie"), "the session cookie is kept"
        ready = http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["store"] == "store_unavailable"
        redis.start()
        # readiness probes the store itself, which also closes the store's circuit breaker
        assert http.get("/readyz").status_code == 200
        r = call(http, jar, "GET", "/api/accounts")
        assert (r.status_code, r.json()["error"]) == (401, "session_expired")
        fresh = Jar()
        login(http, fresh, as_browser)
        assert call(http, fresh, "GET", "/api/accounts").status_code == 200


def test_cookie_mode_keeps_working_without_the_store(
        stack: Stack, redis: RedisServer, workdir: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]], as_browser: ASBrowser) -> None:
    """Cookie sessions need no store for plain calls; calls that do get 503, then recover."""
    config = redis_backed(stack, redis, workdir, client_jwk, cookie_jwks, "cookie")
    with running_bff(config) as bff, bff.client() as http:
        jar = Jar()
        csrf = login(http, jar, as_browser)["csrfToken"]
        assert call(http, jar, "GET", "/api/accounts").status_code == 200
        redis.stop()
        assert call(http, jar, "GET", "/api/accounts").status_code == 200
        assert call(http, jar, "GET", "/bff/session").json()["isLoggedIn"] is True
        r = call(http, jar, "POST", "/bff/refresh", csrf=csrf)
        assert (r.status_code, r.json()["error"]) == (503, "store_unavailable")
        assert not set_cookie_names(r)
        redis.start()
        assert http.get("/readyz").status_code == 200
        r = call(http, jar, "POST", "/bff/refresh", csrf=csrf)
        assert r.status_code == 200, r.text
        assert call(http, jar, "GET", "/api/accounts").status_code == 200


@pytest.mark.parametrize("mode", ["cookie", "server"])
def test_as_down_during_refresh_keeps_the_session(
        tmp_path_factory: pytest.TempPathFactory, workdir: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]], as_browser: ASBrowser, mode: str) -> None:
    """The AS unreachable during refresh: 502, the session kept; once it is back, all works."""
    # the forwarder and the AS each bind a port of their own choosing and report it
    forwarder = SwitchableForwarder()
    forwarder.up()

    def aim(authz: Child) -> None:
        forwarder.target_port = int(authz.ready["port"])

    try:
        with running_stack(tmp_path_factory.mktemp("asdown"), client_jwk, on_as_ready=aim,
                           issuer=f"http://127.0.0.1:{forwarder.port}") as own:
            config = bff_config(workdir, own.issuer, client_jwk, cookie_jwks,
                                oauth={"http_timeout": 2.0}, session={"store": mode})
            with running_bff(config) as bff, bff.client() as http:
                jar = Jar()
                csrf = login(http, jar, as_browser)["csrfToken"]
                forwarder.down()
                r = call(http, jar, "POST", "/bff/refresh", csrf=csrf)
                assert (r.status_code, r.json()["error"]) == (502, "as_unreachable")
                assert "cannot be reached" in r.json()["error_description"]
                assert not r.headers.get_list("set-cookie"), "no silent logout"
                assert call(http, jar, "GET", "/bff/session").json()["isLoggedIn"] is True
                forwarder.up()
                again = call(http, jar, "POST", "/bff/refresh", csrf=csrf)
                assert again.status_code == 200, again.text
                assert call(http, jar, "GET", "/bff/userinfo").status_code == 200
    finally:
        forwarder.close()
