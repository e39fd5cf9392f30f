"""Back-channel logout for app instances: the AS's logout token for an instance's own client
ends that instance's sessions, and no other's (OIDC Back-Channel Logout 1.0)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.mobile.conftest import (
    MOBILE_REDIRECT,
    AppInstance,
    LocalAttester,
    mobile_config,
    registered,
)
from tests.support.as_login import ASBrowser
from tests.support.stack import BFF, Stack, running_bff

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def reachable_bff(stack: Stack, tmp_path_factory: pytest.TempPathFactory,
                  client_jwk: dict[str, Any], cookie_jwks: list[dict[str, Any]],
                  attester: LocalAttester) -> Iterator[BFF]:
    """A mobile BFF whose public URL is its own address, so the AS can post logout tokens."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        public = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = mobile_config(tmp_path_factory.mktemp("mobile-bc"), stack, client_jwk,
                               cookie_jwks, attester, registrations_per_hour=1000,
                               server={"public_url": public},
                               insecure={"plain_http_cookies": True})
        with running_bff(config, sock=sock.dup()) as running:
            yield running


def signed_in(bff: BFF, attester: LocalAttester) -> AppInstance:
    app = registered(bff, attester)
    with ASBrowser() as browser:
        app.login_end(browser.authorize(app.login_start(), MOBILE_REDIRECT))
    return app


def stored(bff: BFF, app: AppInstance) -> Any:
    """(the instance's registration, its session as stored)."""
    mobile = bff.parts.mobile
    assert mobile is not None
    instance = bff.run(mobile.registry.load(app.instance_id or ""))
    session = bff.run(mobile.sessions.load({mobile.names.session: app.handle or ""}))
    return instance, session


def send_logout(stack: Stack, client_id: str, sub: str, sid: str | None) -> dict[str, Any]:
    body = {"client_id": client_id, "sub": sub, **({"sid": sid} if sid else {})}
    sent: dict[str, Any] = httpx.post(f"{stack.issuer}/__dev/backchannel-logout",
                                      json=body).json()
    return sent


@pytest.mark.spec("OpenID Connect Back-Channel Logout 1.0 §2.7")
@pytest.mark.parametrize("by", ["sid", "sub"])
def test_logout_token_for_an_instance_client_ends_only_its_sessions(
        reachable_bff: BFF, stack: Stack, attester: LocalAttester, by: str) -> None:
    one, two = signed_in(reachable_bff, attester), signed_in(reachable_bff, attester)
    instance, session = stored(reachable_bff, one)
    _, other = stored(reachable_bff, two)
    assert session.sub == other.sub, "the same user on both instances"
    registration = httpx.get(instance.registration_client_uri, headers={
        "Authorization": f"Bearer {instance.registration_access_token}"}).json()
    assert registration["backchannel_logout_uri"] == (
        f"{reachable_bff.config.settings.server.public_url}/bff/backchannel-logout/"
        f"{one.instance_id}")

    sent = send_logout(stack, instance.client_id, session.sub,
                       session.as_sid if by == "sid" else None)
    assert sent.get("sent") is True, sent
    ended = one.send("GET", "/bff/mobile/session")
    assert (ended.status_code, ended.json()["error"]) == (401, "session_expired")
    assert one.api("GET", "/api/accounts").status_code == 401
    assert two.session()["isLoggedIn"] is True, "another instance's client is untouched"
    assert two.api("GET", "/api/accounts").status_code == 200


def test_logout_token_for_the_bffs_own_client_leaves_instances_alone(
        reachable_bff: BFF, stack: Stack, attester: LocalAttester) -> None:
    """The BFF's own client's logout token ends browser sessions, never an instance's."""
    app = signed_in(reachable_bff, attester)
    _, session = stored(reachable_bff, app)
    revocations = reachable_bff.parts.service.revocations
    reachable_bff.run(revocations.end(session.as_sid, session.sub))
    assert app.session()["isLoggedIn"] is True


def test_logout_for_an_unknown_instance_is_refused(reachable_bff: BFF) -> None:
    r = httpx.post(f"{reachable_bff.url}/bff/backchannel-logout/not-an-instance",
                   data={"logout_token": "a.b.c"})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_logout_token")
