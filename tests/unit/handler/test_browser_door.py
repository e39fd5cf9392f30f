"""The browser front door without sockets: a fake AS client, real cookies, transactions, store."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlencode

import pytest

from bff.config.model import OAuthSettings, Settings
from bff.crypto.keys import generate_seal_jwk, seal_key_from_jwk
from bff.crypto.seal import Sealer
from bff.errors import (
    AcrNotSatisfied,
    AuthorizationDetailsNotAllowed,
    AuthorizationServerError,
    CSRFFailed,
    InvalidRequest,
    LoginFailed,
    MalformedBody,
    MobileCredentialOnBrowserDoor,
    ParameterNotAllowed,
    SessionRequired,
)
from bff.handler.backchannel import SessionRevocations
from bff.handler.browser import BrowserHandler, Outcome
from bff.handler.refresh import SingleFlightRefresher
from bff.handler.service import Call, SessionService
from bff.oauth.clock import FrozenClock
from bff.oauth.tokens import TokenSet
from bff.sessions.cookies import CookieNames
from bff.sessions.stores import CookieSessionStore, ServerSessionStore
from bff.sessions.transactions import LoginTransactions
from bff.store.memory import MemoryStore
from tests.unit.handler.test_service import T0, FakeAS

ISSUER = "https://as.test"
PAYMENT = [{"type": "payment_initiation", "instructedAmount": {"amount": "10.00"}}]


class FakeClient(FakeAS):
    """FakeAS plus PAR, code exchange, ID token validation and JARM."""

    def __init__(self, clock: FrozenClock) -> None:
        super().__init__(clock)
        self.pushed: list[Any] = []
        self.exchange_error = ""
        self.id_token: str | None = "id-token"
        self.claims: dict[str, Any] = {"sub": "alice", "sid": "as-sid", "acr": "pwd",
                                       "name": "Alice"}
        self.jarm: dict[str, str] = {}

    async def push_authorization(self, request: Any) -> str:
        self.pushed.append(request)
        return f"{ISSUER}/authorize?request_uri=urn:{len(self.pushed)}"

    async def exchange_code(self, code: str, verifier: str, key: Any,
                            resources: Any = ()) -> TokenSet:
        if self.exchange_error:
            raise AuthorizationServerError("refused", oauth_error=self.exchange_error)
        return TokenSet(f"at-{code}", self.clock() + 300, "rt-login", self.id_token, "openid")

    async def validate_id_token(self, token: str, nonce: str, **kw: Any) -> dict[str, Any]:
        return dict(self.claims)

    async def read_jarm_response(self, response: str) -> dict[str, str]:
        return self.jarm


class Browser:
    """One browser: its cookie jar and the door it talks to."""

    def __init__(self, server: bool = False, **oauth: Any) -> None:
        self.clock = FrozenClock(T0)
        settings = Settings(oauth=OAuthSettings(issuer=ISSUER, client_id="bff", **oauth))
        sealer = Sealer([seal_key_from_jwk(generate_seal_jwk("k"))])
        self.store = MemoryStore(self.clock)
        names = CookieNames()
        revocations = SessionRevocations(self.store, self.clock, 28800, fail_open=False,
                                         sealer=sealer)
        self.client = FakeClient(self.clock)
        service = SessionService(settings, self.client,  # type: ignore[arg-type]
                                 SingleFlightRefresher(self.store, sealer, self.clock, grace=60,
                                                       on_refreshed=revocations.record_latest),
                                 self.clock, revocations)
        sessions = (ServerSessionStore(sealer, names, self.store) if server
                    else CookieSessionStore(sealer, names))
        self.door = BrowserHandler(settings, self.client, sessions,  # type: ignore[arg-type]
                                   LoginTransactions(sealer, names, self.store, 600, 3),
                                   service, names)
        self.jar: dict[str, str] = {}

    def take(self, outcome: Outcome) -> dict[str, Any]:
        for c in outcome.cookies:
            if c.max_age == 0:
                self.jar.pop(c.name, None)
            else:
                self.jar[c.name] = c.value
        return outcome.body

    def run(self, coro: Any) -> dict[str, Any]:
        return self.take(asyncio.run(coro))

    def start(self, body: dict[str, Any] | None = None) -> str:
        self.run(self.door.login_start(body or {}, self.jar))
        return str(self.client.pushed[-1].state)

    def end(self, state: str, code: str = "c1", **params: str) -> dict[str, Any]:
        query = urlencode({"code": code, "state": state, "iss": ISSUER, **params})
        return self.run(self.door.login_end({"pageUrl": f"https://app.test/?{query}"}, self.jar))

    def sign_in(self) -> str:
        body = self.end(self.start({"returnTo": "/accounts"}))
        assert body["returnTo"] == "/accounts" and body["isLoggedIn"] is True
        return str(body["csrfToken"])


def test_a_full_browser_session_start_to_logout() -> None:
    b = Browser()
    assert b.run(b.door.session_info(b.jar)) == {"isLoggedIn": False}
    csrf = b.sign_in()
    info = b.run(b.door.session_info(b.jar))
    assert info["claims"] == {"sub": "alice", "name": "Alice", "acr": "pwd"}
    assert info["csrfToken"] == csrf
    assert b.run(b.door.userinfo(b.jar))["sub"] == "alice"
    assert b.run(b.door.refresh(b.jar, csrf))["isLoggedIn"] is True
    assert b.client.refreshes == 1
    with pytest.raises(CSRFFailed):
        asyncio.run(b.door.logout(b.jar, "wrong"))
    logged_out = b.run(b.door.logout(b.jar, csrf))
    assert logged_out == {"logoutUrl": "https://as.example/bff/logout"}
    assert b.client.revoked == ["rt-1"]
    assert b.run(b.door.session_info(b.jar)) == {"isLoggedIn": False}


def test_proxied_calls_need_the_csrf_header_on_unsafe_methods() -> None:
    b = Browser()
    csrf = b.sign_in()
    cookie = "; ".join(f"{k}={v}" for k, v in b.jar.items()).encode()
    get = Call("GET", "/api/x", {}, ((b"cookie", cookie),))
    assert asyncio.run(b.door.authenticate(get)).session.sub == "alice"
    post = Call("POST", "/api/x", {}, ((b"cookie", cookie),))
    with pytest.raises(CSRFFailed):
        asyncio.run(b.door.authenticate(post))
    signed = Call("POST", "/api/x", {"x-csrf-token": csrf}, ((b"cookie", cookie),))
    active = asyncio.run(b.door.authenticate(signed))
    assert active.answer_headers() == [] or all(n == b"set-cookie"
                                                for n, _ in active.answer_headers())


def test_a_page_without_an_authorization_response_is_not_handled() -> None:
    b = Browser()
    assert b.run(b.door.login_end({"pageUrl": "https://app.test/"}, b.jar)) == {
        "isLoggedIn": False, "handled": False}
    csrf = b.sign_in()
    assert b.run(b.door.login_end({"pageUrl": "https://app.test/x"}, b.jar)) == {
        "isLoggedIn": True, "handled": False, "csrfToken": csrf}
    with pytest.raises(MalformedBody):
        asyncio.run(b.door.login_end({"pageUrl": 7}, b.jar))


@pytest.mark.parametrize(("error", "raised"), [("invalid_grant", LoginFailed),
                                               ("server_error", AuthorizationServerError)])
def test_a_refused_code_exchange(error: str, raised: type[Exception]) -> None:
    b = Browser()
    state = b.start()
    b.client.exchange_error = error
    with pytest.raises(raised):
        b.end(state)


def test_a_token_response_without_an_id_token_is_refused() -> None:
    b = Browser()
    state = b.start()
    b.client.id_token = None
    with pytest.raises(AuthorizationServerError):
        b.end(state)


@pytest.mark.spec("FAPI 2.0 Message Signing §5.4")
def test_jarm_both_ways() -> None:
    plain = Browser()
    with pytest.raises(InvalidRequest):
        plain.run(plain.door.login_end({"pageUrl": "https://app.test/?response=x.y.z"},
                                       plain.jar))
    jarm = Browser(response_mode="jwt")
    state = jarm.start()
    with pytest.raises(InvalidRequest):  # a plain response where JARM is required
        jarm.end(state)
    jarm.client.jarm = {"code": "c9", "state": state, "iss": ISSUER}
    body = jarm.run(jarm.door.login_end({"pageUrl": "https://app.test/?response=x.y.z"},
                                        jarm.jar))
    assert body["isLoggedIn"] is True


def test_login_start_refuses_bad_extra_params() -> None:
    b = Browser(extra_params_allowlist=["ui_locales"])
    with pytest.raises(MalformedBody):
        b.run(b.door.login_start({"extraParams": {"ui_locales": 1}}, b.jar))
    with pytest.raises(ParameterNotAllowed):
        b.run(b.door.login_start({"extraParams": {"prompt": "none"}}, b.jar))
    b.run(b.door.login_start({"extraParams": {"ui_locales": "de"}}, b.jar))
    assert b.client.pushed[-1].extra_params == {"ui_locales": "de"}


@pytest.mark.spec("RFC 9470 §4")
def test_a_step_up_continues_the_session_and_checks_the_acr() -> None:
    b = Browser(extra_params_allowlist=["acr_values"])
    csrf = b.sign_in()
    session_cookie = dict(b.jar)
    state = b.start({"acrValues": ["mfa"]})
    with pytest.raises(AcrNotSatisfied):
        b.end(state, code="c2")
    state = b.start({"acrValues": ["mfa"]})
    b.client.claims["acr"] = "mfa"
    body = b.end(state, code="c3")
    assert body["csrfToken"] == csrf, "the same session goes on"
    assert b.jar != session_cookie


@pytest.mark.spec("RFC 9396 §2")
def test_a_payment_approval_needs_a_session_and_gives_a_purpose_id() -> None:
    types = {"payment_initiation": ["instructedAmount"]}
    b = Browser(extra_params_allowlist=["authorization_details"],
                authorization_details_types=types)
    with pytest.raises(SessionRequired):
        b.start({"authorizationDetails": PAYMENT})
    b.sign_in()
    with pytest.raises(AuthorizationDetailsNotAllowed):
        b.start({"authorizationDetails": [{"type": "other"}]})
    state = b.start({"authorizationDetails": json.dumps(PAYMENT)})
    body = b.end(state, code="pay")
    assert body["purposeId"]
    other = Browser(extra_params_allowlist=["authorization_details"],
                    authorization_details_types=types)
    other.sign_in()
    state = other.start({"authorizationDetails": PAYMENT})
    other.client.claims["sub"] = "mallory"
    with pytest.raises(LoginFailed):
        other.end(state, code="pay")


def test_a_new_login_replaces_the_old_session() -> None:
    b = Browser(server=True)
    first = b.sign_in()
    second = b.sign_in()
    assert first != second
    assert b.run(b.door.session_info(b.jar))["csrfToken"] == second


def test_a_mobile_session_is_refused_on_the_browser_door() -> None:
    b = Browser(server=True)
    b.sign_in()
    active = asyncio.run(b.door.load(b.jar))
    mobile = active.session.with_changes(instance="jkt", client_id="instance-client")
    asyncio.run(b.door.sessions.save(mobile, b.jar, 600))
    with pytest.raises(MobileCredentialOnBrowserDoor):
        asyncio.run(b.door.load(b.jar))


def test_an_unreadable_or_vanished_session_cookie() -> None:
    b = Browser(server=True)
    b.sign_in()
    name = b.door.names.session
    with pytest.raises(SessionRequired):
        asyncio.run(b.door.load({name: "not a session id"}))
    gone = {name: "A" * 43}
    assert b.run(b.door.session_info(gone)) == {"isLoggedIn": False}
