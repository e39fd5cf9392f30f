"""Back-channel logout from the real dev AS to the BFF (OIDC Back-Channel Logout 1.0, issue 3)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bff.crypto.seal import b64url_encode
from tests.support.as_login import ASBrowser
from tests.support.cookies import Jar
from tests.support.flows import call, login
from tests.support.hostile_as import HostileAS
from tests.support.servers import ThreadServer
from tests.support.stack import BFF, Stack, bff_config, running_bff, running_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bc_socket() -> Iterator[socket.socket]:
    """The BFFs' listening socket, bound before the AS learns its URL and held throughout."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        yield sock


@pytest.fixture(scope="module")
def bc_port(bc_socket: socket.socket) -> int:
    return int(bc_socket.getsockname()[1])


@pytest.fixture(scope="module")
def bc_stack(tmp_path_factory: pytest.TempPathFactory, client_jwk: dict[str, Any],
             bc_port: int) -> Iterator[Stack]:
    uri = f"http://127.0.0.1:{bc_port}/bff/backchannel-logout"
    with running_stack(tmp_path_factory.mktemp("bc"), client_jwk, backchannel_uri=uri) as s:
        yield s


@pytest.fixture(params=["cookie", "server"])
def bff(request: pytest.FixtureRequest, bc_stack: Stack, bc_socket: socket.socket, workdir: Path,
        client_jwk: dict[str, Any], cookie_jwks: list[dict[str, Any]]) -> Iterator[BFF]:
    config = bff_config(workdir, bc_stack.issuer, client_jwk, cookie_jwks,
                        session={"store": request.param})
    # each BFF serves a duplicate of the held socket; closing it leaves the original bound
    with running_bff(config, sock=bc_socket.dup()) as running:
        yield running


def session_of(bff: BFF, jar: Jar) -> Any:
    return bff.run(bff.parts.sessions.load(jar.cookies))


@pytest.mark.spec("OpenID Connect Back-Channel Logout 1.0 §2.7")
def test_as_backchannel_logout_ends_the_session(bff: BFF, bc_stack: Stack,
                                                as_browser: ASBrowser) -> None:
    """The AS's logout token ends the session: the next call is 401 session_expired."""
    jar, other = Jar(), Jar()
    with bff.client() as http, ASBrowser() as second_browser:
        login(http, jar, as_browser, user="alice")
        login(http, other, second_browser, user="bob")
        sid = session_of(bff, jar).as_sid
        assert sid
        before = bc_stack.stats()["backchannel"]
        sent = httpx.post(f"{bc_stack.issuer}/__dev/backchannel-logout",
                          json={"client_id": "bff", "sub": "alice", "sid": sid}).json()
        assert sent.get("sent") is True, sent
        assert bc_stack.stats()["backchannel"]["sent"] == before["sent"] + 1
        r = call(http, jar, "GET", "/bff/userinfo")
        assert (r.status_code, r.json()["error"]) == (401, "session_expired")
        assert call(http, jar, "GET", "/bff/session").json()["isLoggedIn"] is False
        assert call(http, other, "GET", "/bff/session").json()["isLoggedIn"] is True


@pytest.mark.spec("OpenID Connect Back-Channel Logout 1.0 §2.6")
def test_unknown_sid_answers_200(bff: BFF, bc_stack: Stack) -> None:
    """DESIGN §9: a logout token for a sid this BFF never saw still answers 200."""
    sent = httpx.post(f"{bc_stack.issuer}/__dev/backchannel-logout",
                      json={"client_id": "bff", "sub": "nobody", "sid": "unknown-sid"}).json()
    assert sent.get("sent") is True, sent


# -- hostile logout tokens: signed by a key the BFF trusts (the hostile AS is its issuer) --------


@pytest.fixture
def hostile_bff(workdir: Path, client_jwk: dict[str, Any],
                cookie_jwks: list[dict[str, Any]]) -> Iterator[tuple[HostileAS, BFF]]:
    hostile = HostileAS()
    with ThreadServer(hostile.app()) as server:
        hostile.url = server.url
        config = bff_config(workdir, hostile.url, client_jwk, cookie_jwks)
        with running_bff(config) as bff:
            yield hostile, bff


def logout_token(hostile: HostileAS, **changes: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": hostile.url, "aud": "bff", "iat": now, "exp": now + 120,
        "jti": b64url_encode(json.dumps([now, time.perf_counter()]).encode()), "sid": "s-1",
        "sub": "alice", "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}
    header = {"typ": "logout+jwt", "alg": "ES256", "kid": hostile.key.kid}
    header.update(changes.pop("header", {}))
    for key, value in changes.items():
        if value is None:
            claims.pop(key, None)
        else:
            claims[key] = value
    from joserfc import jws

    return jws.serialize_compact({k: v for k, v in header.items() if v is not None},
                                 json.dumps(claims).encode(), hostile.key,
                                 algorithms=["ES256"])


BAD_TOKENS = [
    ("typ of an ID token", {"header": {"typ": "JWT"}}),
    ("missing typ (strict)", {"header": {"typ": None}}),
    ("wrong iss", {"iss": "https://evil.example"}),
    ("wrong aud", {"aud": "other-client"}),
    ("no events", {"events": None}),
    ("events without the logout event", {"events": {"other": {}}}),
    ("no sid and no sub", {"sid": None, "sub": None}),
    ("nonce present", {"nonce": "n"}),
    ("no jti", {"jti": None}),
    ("expired", {"exp": int(time.time()) - 600, "iat": int(time.time()) - 900}),
    ("iat in the future", {"iat": int(time.time()) + 600}),
]


@pytest.mark.spec("OpenID Connect Back-Channel Logout 1.0 §2.6")
@pytest.mark.parametrize(("case", "changes"), BAD_TOKENS, ids=[c[0] for c in BAD_TOKENS])
def test_invalid_logout_token_refused(hostile_bff: tuple[HostileAS, BFF], case: str,
                                      changes: dict[str, Any]) -> None:
    """Each rule of §2.6: the token is refused with 400 invalid_logout_token."""
    hostile, bff = hostile_bff
    token = logout_token(hostile, **changes)
    r = httpx.post(f"{bff.url}/bff/backchannel-logout", data={"logout_token": token})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_logout_token"
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.spec("OpenID Connect Back-Channel Logout 1.0 §2.6 step 7 / DESIGN §9")
def test_replayed_logout_token_refused(hostile_bff: tuple[HostileAS, BFF]) -> None:
    """A jti seen before is refused until the token could have expired."""
    hostile, bff = hostile_bff
    token = logout_token(hostile)
    first = httpx.post(f"{bff.url}/bff/backchannel-logout", data={"logout_token": token})
    assert first.status_code == 200, first.text
    again = httpx.post(f"{bff.url}/bff/backchannel-logout", data={"logout_token": token})
    assert (again.status_code, again.json()["error"]) == (400, "invalid_logout_token")


def test_logout_token_signed_by_unknown_key(hostile_bff: tuple[HostileAS, BFF]) -> None:
    hostile, bff = hostile_bff
    from joserfc.jwk import ECKey

    hostile_key = hostile.key
    hostile.key = ECKey.generate_key("P-256", private=True, auto_kid=True)
    token = logout_token(hostile)
    hostile.key = hostile_key
    r = httpx.post(f"{bff.url}/bff/backchannel-logout", data={"logout_token": token})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_logout_token")


def test_not_a_form_post(hostile_bff: tuple[HostileAS, BFF]) -> None:
    _, bff = hostile_bff
    r = httpx.post(f"{bff.url}/bff/backchannel-logout", json={"logout_token": "x"})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_logout_token")
