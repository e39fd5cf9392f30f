"""The mobile door end to end: attested instances, one AS client each, instance-bound sessions.

Real dev AS (DCR with its initial access token), real example API, real HTTP. Sign-in goes
through the AS's own login and consent pages, driven over HTTP as the system browser would
(tests/support/as_login.py), stopping at the app's claimed https link.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bff.crypto.keys import thumbprint
from bff.errors import AuthorizationServerError
from bff.oauth.client import AuthorizationRequest
from bff.oauth.dpop import DPoPKey
from tests.e2e.spa import LOGIN
from tests.integration.mobile.conftest import (
    MOBILE_REDIRECT,
    AppInstance,
    LocalAttester,
    authorize_in_chromium,
    chromium,
    registered,
)
from tests.support.as_login import ASBrowser
from tests.support.stack import BFF, Stack
from tests.support.totp import next_code

pytestmark = pytest.mark.integration


def segment(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return data


def sign_in(app: AppInstance) -> dict[str, Any]:
    with ASBrowser() as browser:
        opened = browser.authorize(app.login_start(), MOBILE_REDIRECT)
    return app.login_end(opened)


@pytest.fixture(params=["http", pytest.param("chromium", marks=pytest.mark.e2e)])
def system_browser(request: pytest.FixtureRequest, stack: Stack
                   ) -> Iterator[Callable[[AppInstance], dict[str, Any]]]:
    """Sign-in as the phone's system browser would: over HTTP, or in real Chromium."""
    if request.param == "http":
        yield sign_in
        return
    with chromium() as browser:
        def in_chromium(app: AppInstance) -> dict[str, Any]:
            opened = authorize_in_chromium(
                browser, app.login_start(), MOBILE_REDIRECT, login=LOGIN,
                password="correct horse battery staple",
                one_time_code=lambda: next_code(stack.issuer, LOGIN))
            return app.login_end(opened)
        yield in_chromium


def api_binding(app: AppInstance) -> tuple[str, str]:
    """(DPoP key thumbprint of the proof the API got, the access token's cnf.jkt)."""
    response = app.api("GET", "/api/echo/whoami")
    assert response.status_code == 200, response.text
    headers = dict((k.lower(), v) for k, v in response.json()["headers"])
    proof_jwk = segment(headers["dpop"], 0)["jwk"]
    token = headers["authorization"].split(" ", 1)[1]
    return thumbprint(proof_jwk), segment(token, 1)["cnf"]["jkt"]


@pytest.mark.spec("RFC 7591 §3")
def test_two_instances_get_their_own_clients_keys_and_sessions(
        mobile_bff: BFF, attester: LocalAttester,
        system_browser: Callable[[AppInstance], dict[str, Any]]) -> None:
    one, two = registered(mobile_bff, attester), registered(mobile_bff, attester)
    registry = mobile_bff.parts.mobile.registry  # type: ignore[union-attr]
    first = mobile_bff.run(registry.load(one.instance_id))
    second = mobile_bff.run(registry.load(two.instance_id))
    assert first.client_id != second.client_id != mobile_bff.config.settings.oauth.client_id

    for app in (one, two):
        body = system_browser(app)
        assert body["isLoggedIn"] and body["claims"]["sub"]
        assert app.session()["isLoggedIn"] is True
        accounts = app.api("GET", "/api/accounts")
        assert accounts.status_code == 200, accounts.text
        assert app.refresh()["isLoggedIn"] is True
    bound_one, bound_two = api_binding(one), api_binding(two)
    assert bound_one[0] == bound_one[1] and bound_two[0] == bound_two[1]
    assert bound_one[0] != bound_two[0], "each instance's tokens are bound to its own DPoP key"

    # deleting one instance ends its sessions and its client at the AS; the other goes on
    assert one.unregister() == {"deleted": True}
    gone = one.send("GET", "/bff/mobile/session")
    assert gone.status_code == 401 and gone.json()["error"] == "instance_unknown"
    assert one.api("GET", "/api/accounts").json()["error"] == "instance_unknown"
    with pytest.raises(AuthorizationServerError) as refused:
        mobile_bff.run(registry.client(first).push_authorization(AuthorizationRequest(
            state="s" * 43, nonce="n" * 43, code_verifier="v" * 64,
            dpop_key=DPoPKey.generate())))
    assert refused.value.oauth_error == "invalid_client"
    assert two.api("GET", "/api/accounts").status_code == 200
    assert two.logout()["logoutUrl"]
    after = two.send("GET", "/bff/mobile/session")
    assert after.status_code == 401
    assert two.unregister() == {"deleted": True}


@pytest.mark.spec("RFC 7009 §2.1")
def test_deleting_an_instance_revokes_its_sessions_refresh_tokens(
        mobile_bff: BFF, attester: LocalAttester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every session of the instance ends and its refresh token is revoked at the AS.

    The client's deletion at the AS is held back here: deleting a client may invalidate its
    tokens by itself, and the test must see the revocation, not that.
    """
    app = registered(mobile_bff, attester)
    sign_in(app)
    first_handle = app.handle
    sign_in(app)  # a second session on the same device
    door = mobile_bff.parts.mobile
    assert door is not None
    sessions = [mobile_bff.run(door.sessions.load({door.names.session: h}))
                for h in (first_handle, app.handle)]
    assert all(s.refresh_token for s in sessions)
    instance = mobile_bff.run(door.registry.load(app.instance_id or ""))
    client = door.registry.client(instance)
    assert all(mobile_bff.run(client.introspect(s.refresh_token)).get("active") is True
               for s in sessions)
    held: list[Any] = []

    async def hold(instance: Any) -> None:
        held.append(instance)

    monkeypatch.setattr(door.registry, "_delete_at_as", hold)
    assert app.unregister() == {"deleted": True}
    assert held, "the client deletion was reached, after the revocations"
    for session in sessions:
        state = mobile_bff.run(client.introspect(session.refresh_token))
        assert state.get("active") is False, "the refresh token was revoked"
        assert mobile_bff.run(door.sessions.load({door.names.session: session.session_id})) \
            is None, "the session record is gone"
    monkeypatch.undo()
    mobile_bff.run(door.registry._delete_at_as(instance))
