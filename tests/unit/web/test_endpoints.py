"""The browser, mobile and back-channel endpoints in process (ASGI transport, no sockets)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.types import ASGIApp

from bff.errors import InstanceUnknown, ProofNonceRequired
from bff.web.backchannel import backchannel_route, instance_backchannel_route
from bff.web.browser import browser_routes
from bff.web.mobile import mobile_routes
from tests.unit.handler.test_browser_door import Browser


class InProcess:
    """Sync calls into an ASGI app through httpx's ASGI transport; keeps cookies."""

    def __init__(self, app: ASGIApp, base_url: str = "https://bff.test") -> None:
        self.app, self.base_url = app, base_url
        self.cookies = httpx.Cookies()

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        async def one() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app),
                                         base_url=self.base_url, cookies=self.cookies) as c:
                response = await c.request(method, path, **kw)
                self.cookies = c.cookies
                return response
        return asyncio.run(one())

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)


def browser_app(refuse_proofs: bool = False) -> tuple[InProcess, Browser]:
    b = Browser()

    def clear(request: Request) -> list[str]:
        return ["__Host-bff-session=; Max-Age=0; Path=/; Secure; HttpOnly"]

    app = Starlette(routes=browser_routes(b.door, "/bff", clear, refuse_proofs=refuse_proofs))
    return InProcess(app), b


def test_browser_endpoints_sign_in_call_and_sign_out() -> None:
    http, b = browser_app()
    started = http.post("/bff/login/start", json={"returnTo": "/x"})
    assert started.status_code == 200 and started.headers["cache-control"] == "no-store"
    state = b.client.pushed[-1].state
    ended = http.post("/bff/login/end", json={
        "pageUrl": f"https://app.test/?code=c&state={state}&iss=https://as.test"})
    assert ended.json()["isLoggedIn"] is True
    csrf = ended.json()["csrfToken"]
    assert http.get("/bff/session").json()["csrfToken"] == csrf
    assert http.get("/bff/userinfo").json()["sub"] == "alice"
    assert http.post("/bff/refresh", headers={"X-CSRF-Token": csrf}).status_code == 200
    out = http.post("/bff/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 200 and out.headers["clear-site-data"] == '"cookies"'


def test_browser_errors_clear_the_cookie_only_when_the_session_was_refused() -> None:
    http, _ = browser_app()
    refused = http.get("/bff/userinfo")
    assert (refused.status_code, refused.json()["error"]) == (401, "session_required")
    assert "__Host-bff-session=;" in refused.headers.get("set-cookie", "")
    spent = http.post("/bff/login/end", json={
        "pageUrl": "https://app.test/?code=c&state=unknown&iss=https://as.test"})
    assert spent.status_code >= 400 and "set-cookie" not in spent.headers


@pytest.mark.parametrize(("headers", "content"), [
    ({"content-type": "text/plain"}, b"{}"),
    ({"content-type": "application/json"}, b"[1]"),
    ({"content-type": "application/json"}, b"{"),
    ({"content-type": "application/json"}, b"{" + b" " * 17000 + b"}"),
])
def test_malformed_json_bodies_are_refused(headers: dict[str, str], content: bytes) -> None:
    http, _ = browser_app()
    r = http.post("/bff/login/start", content=content, headers=headers)
    assert (r.status_code, r.json()["error"]) == (400, "malformed_body")


def test_a_proof_on_the_browser_door_is_refused_when_the_mobile_door_is_on() -> None:
    http, _ = browser_app(refuse_proofs=True)
    for headers in ({"DPoP": "a.b.c"}, {"Authorization": "DPoP handle"}):
        r = http.get("/bff/session", headers=headers)
        assert (r.status_code, r.json()["error"]) == (400, "mobile_credential_on_browser_door")


class FakeNonces:
    def issue(self) -> str:
        return "nonce-1"


class FakeDoor:
    """Records each call; ``fail`` raises on every endpoint."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.nonces = FakeNonces()
        self.fail = fail
        self.calls: list[tuple[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        async def endpoint(call: Any, body: Any = None) -> dict[str, Any]:
            self.calls.append((name, body))
            if self.fail is not None:
                raise self.fail
            return {"called": name}
        return endpoint


@pytest.mark.parametrize(("method", "path", "name"), [
    ("POST", "/bff/mobile/challenge", "challenge"),
    ("POST", "/bff/mobile/register", "register"),
    ("DELETE", "/bff/mobile/register", "unregister"),
    ("POST", "/bff/mobile/login/start", "login_start"),
    ("POST", "/bff/mobile/login/end", "login_end"),
    ("GET", "/bff/mobile/session", "session_info"),
    ("POST", "/bff/mobile/refresh", "refresh"),
    ("POST", "/bff/mobile/logout", "logout"),
])
def test_each_mobile_endpoint_calls_its_door_method_with_a_fresh_nonce(
        method: str, path: str, name: str) -> None:
    door = FakeDoor()
    http = InProcess(Starlette(routes=mobile_routes(door, "/bff")))  # type: ignore[arg-type]
    body = {"json": {"pageUrl": "x"}} if name in ("login_start", "login_end") else {}
    r = http.request(method, path, **body)  # type: ignore[arg-type]
    assert r.status_code == 200 and r.json() == {"called": name}
    assert r.headers["dpop-nonce"] == "nonce-1" and r.headers["cache-control"] == "no-store"


def test_mobile_register_passes_its_json_body_and_errors_carry_the_nonce() -> None:
    door = FakeDoor()
    http = InProcess(Starlette(routes=mobile_routes(door, "/bff")))  # type: ignore[arg-type]
    http.post("/bff/mobile/register", json={"platform": {"format": "apple-appattest"}})
    assert door.calls[-1] == ("register", {"platform": {"format": "apple-appattest"}})
    http.post("/bff/mobile/register")
    assert door.calls[-1] == ("register", {})
    failing = InProcess(Starlette(routes=mobile_routes(
        FakeDoor(ProofNonceRequired("nonce")), "/bff")))  # type: ignore[arg-type]
    r = failing.get("/bff/mobile/session")
    assert (r.status_code, r.json()["error"]) == (401, "use_proof_nonce")
    assert r.headers["dpop-nonce"] == "nonce-1"
    assert r.headers["www-authenticate"] == 'DPoP error="use_dpop_nonce"'


class FakeReceiver:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], Any]] = []

    async def receive(self, form: dict[str, str], client: Any = None) -> None:
        self.received.append((form, client))


@pytest.mark.spec("OpenID Connect Back-Channel Logout 1.0 §2.5")
def test_back_channel_endpoints_read_one_small_form() -> None:
    receiver = FakeReceiver()

    async def client_of(instance: str) -> str:
        if instance != "known":
            raise InstanceUnknown("no such instance")
        return f"client-of-{instance}"

    http = InProcess(Starlette(routes=[
        backchannel_route(receiver, "/bff"),  # type: ignore[arg-type]
        instance_backchannel_route(receiver, client_of, "/bff")]))  # type: ignore[arg-type]
    assert http.post("/bff/backchannel-logout", data={"logout_token": "t"}).status_code == 200
    assert http.post("/bff/backchannel-logout/known", data={"logout_token": "u"}).status_code \
        == 200
    assert receiver.received == [({"logout_token": "t"}, None),
                                 ({"logout_token": "u"}, "client-of-known")]
    assert http.post("/bff/backchannel-logout/stranger",
                     data={"logout_token": "u"}).status_code == 401
    repeated = http.post("/bff/backchannel-logout", content=b"logout_token=a&logout_token=b",
                         headers={"content-type": "application/x-www-form-urlencoded"})
    assert (repeated.status_code, repeated.json()["error"]) == (400, "invalid_logout_token")
    big = http.post("/bff/backchannel-logout", content=b"a" * 40000,
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert big.status_code == 413
    assert http.post("/bff/backchannel-logout", json={}).status_code == 400
