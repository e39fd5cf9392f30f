"""The phantom-token gateway against the real dev AS and example API (RFC 7662, RFC 9701,
RFC 9449): opaque DPoP-bound tokens outside, gateway-signed JWTs inside."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import JWKRegistry, KeySet

from bff.crypto.keys import generate_signing_jwk
from bff.devstack import GATEWAY_ISSUER
from bff.oauth.dpop import DPoPKey
from bff.sessions.model import Session
from tests.support.as_login import ASBrowser
from tests.support.cookies import Jar
from tests.support.flows import call, login
from tests.support.gateway import (
    API_AUDIENCE,
    CACHE_MAX_AGE,
    GATEWAY_RESOURCE,
    GatewayStack,
    gateway_call,
    make_gateway,
    running_gateway_stack,
)
from tests.support.servers import ThreadServer, bound_socket, port_of
from tests.support.stack import BFF, bff_config, running_bff

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gstack(tmp_path_factory: pytest.TempPathFactory,
           client_jwk: dict[str, Any]) -> Iterator[GatewayStack]:
    with running_gateway_stack(tmp_path_factory.mktemp("gateway-stack"), client_jwk) as s:
        yield s


@pytest.fixture(scope="module")
def bff(tmp_path_factory: pytest.TempPathFactory, gstack: GatewayStack,
        client_jwk: dict[str, Any], cookie_jwks: list[dict[str, Any]]) -> Iterator[BFF]:
    config = bff_config(tmp_path_factory.mktemp("gateway-bff"), gstack.issuer, client_jwk,
                        cookie_jwks, routes=[{"prefix": "/api", "upstream": gstack.gateway_url,
                                              "resource": GATEWAY_RESOURCE}],
                        oauth={"resources": [GATEWAY_RESOURCE]})
    with running_bff(config) as b:
        yield b


def signed_in(bff: BFF, as_browser: ASBrowser) -> tuple[Jar, str, Session]:
    """A fresh login and one API call (so a fresh opaque token), and the BFF's session."""
    jar = Jar()
    with bff.client() as http:
        csrf = login(http, jar, as_browser)["csrfToken"]
        # the resource's token comes with the first call (resource_strategy refresh_per_resource)
        assert call(http, jar, "GET", "/api/accounts", csrf=csrf).status_code == 200
    session = bff.run(bff.parts.sessions.load(jar.cookies))
    assert isinstance(session, Session)
    return jar, csrf, session


def opaque_token(session: Session) -> str:
    token = session.tokens[GATEWAY_RESOURCE].token
    assert token.count(".") != 2  # a reference token, not a JWT
    return token


@pytest.mark.spec("RFC 7662 §2")
def test_a_proxied_call_reaches_the_api_as_a_jwt_signed_by_the_gateway(
        bff: BFF, gstack: GatewayStack, as_browser: ASBrowser) -> None:
    jar, csrf, session = signed_in(bff, as_browser)
    with bff.client() as http:
        echoed = call(http, jar, "GET", "/api/echo/jwt", csrf=csrf)
        accounts = call(http, jar, "GET", "/api/accounts", csrf=csrf)
    assert echoed.status_code == 200, echoed.text
    assert accounts.status_code == 200, accounts.text
    headers = dict(echoed.json()["headers"])
    assert "dpop" not in headers
    scheme, _, forwarded = headers["authorization"].partition(" ")
    assert scheme == "Bearer"
    token = jwt.decode(forwarded, KeySet.import_key_set(gstack.gateway_jwks()),
                       algorithms=["ES256"])
    assert token.header["typ"] == "at+jwt"
    claims = token.claims
    assert claims["iss"] == GATEWAY_ISSUER and claims["aud"] == API_AUDIENCE
    assert claims["sub"] == session.sub and "accounts" in claims["scope"].split()
    # the API never learns the opaque token, nor its binding
    opaque = opaque_token(session)
    assert opaque not in forwarded and opaque not in json.dumps(claims)
    assert "cnf" not in claims
    # RFC 9701: the AS's answers came as JWTs signed by the AS
    assert gstack.gateway.introspector.jwt_answers >= 1


def test_the_api_trusts_only_the_gateway_key(gstack: GatewayStack) -> None:
    # a JWT of the right shape signed by another key is refused by the API itself
    other = generate_signing_jwk("ES256", kid="gateway-1")
    forged = jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": "gateway-1"},
                        {"iss": GATEWAY_ISSUER, "aud": API_AUDIENCE, "sub": "x",
                         "scope": "accounts", "exp": 2**31}, JWKRegistry.import_key(other))
    response = httpx.get(f"{gstack.api_url}/accounts",
                         headers={"authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


@pytest.mark.spec("RFC 7662 §4")
def test_one_introspection_per_token_while_cached(
        bff: BFF, gstack: GatewayStack, as_browser: ASBrowser) -> None:
    before = gstack.gateway.introspector.calls
    jar, csrf, _ = signed_in(bff, as_browser)  # the first call through the gateway
    with bff.client() as http:
        for _ in range(5):
            assert call(http, jar, "GET", "/api/accounts", csrf=csrf).status_code == 200
    assert gstack.gateway.introspector.calls - before == 1


@pytest.mark.spec("RFC 7662 §4")
def test_a_revoked_token_stops_working_within_the_cache_bound(
        bff: BFF, gstack: GatewayStack, as_browser: ASBrowser) -> None:
    _, _, session = signed_in(bff, as_browser)
    token, key = opaque_token(session), DPoPKey(session.dpop_jwk)
    url = f"{gstack.gateway_url}/echo/revoked"
    assert gateway_call(url, token, key)[0].status_code == 200
    bff.run(bff.parts.client.revoke(token, "access_token"))
    try:
        # within the bound the cached answer still admits the token: that is the trade-off
        gstack.clock.offset = CACHE_MAX_AGE - 1
        assert gateway_call(url, token, key)[0].status_code == 200
        gstack.clock.offset = CACHE_MAX_AGE + 1
        refused, _ = gateway_call(url, token, key)
    finally:
        gstack.clock.offset = 0
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_token"
    assert gstack.api_calls()["/echo/revoked"] == 2


@pytest.mark.spec("RFC 9449 §11.1")
def test_a_replayed_dpop_proof_is_refused_before_the_api(
        bff: BFF, gstack: GatewayStack, as_browser: ASBrowser) -> None:
    _, _, session = signed_in(bff, as_browser)
    token, key = opaque_token(session), DPoPKey(session.dpop_jwk)
    url = f"{gstack.gateway_url}/echo/replayed"
    first, proof = gateway_call(url, token, key)
    assert first.status_code == 200
    replayed = httpx.get(url, headers={"authorization": f"DPoP {token}", "dpop": proof})
    assert replayed.status_code == 401
    assert replayed.json()["error"] == "invalid_dpop_proof"
    assert gstack.api_calls()["/echo/replayed"] == 1


@pytest.mark.spec("RFC 9449 §7.1")
def test_a_proof_from_another_key_is_refused_before_the_api(
        bff: BFF, gstack: GatewayStack, as_browser: ASBrowser) -> None:
    _, _, session = signed_in(bff, as_browser)
    url = f"{gstack.gateway_url}/echo/other-key"
    response, _ = gateway_call(url, opaque_token(session), DPoPKey.generate())
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_dpop_proof"
    assert "/echo/other-key" not in gstack.api_calls()


@pytest.mark.spec("RFC 7662 §2.2")
def test_an_unknown_token_is_refused_before_the_api(gstack: GatewayStack) -> None:
    url = f"{gstack.gateway_url}/echo/unknown"
    response, _ = gateway_call(url, secrets.token_urlsafe(32), DPoPKey.generate())
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token",
                               "error_description": "Access token is not active"}
    assert "/echo/unknown" not in gstack.api_calls()


@pytest.mark.spec("RFC 7662 §2.3")
@pytest.mark.parametrize("failure", ["unknown_client", "as_unreachable"])
def test_an_introspection_failure_answers_503_before_the_api(
        bff: BFF, gstack: GatewayStack, as_browser: ASBrowser, failure: str,
        request: pytest.FixtureRequest) -> None:
    _, _, session = signed_in(bff, as_browser)
    signing = json.loads((gstack.workdir / "gateway-signing.jwk").read_text())
    # bound and never listening while the test runs: refused, and no one else can take it
    dead = bound_socket()
    request.addfinalizer(dead.close)
    if failure == "unknown_client":
        # the AS refuses the gateway's own credentials (401 invalid_client)
        broken = make_gateway(gstack.issuer, gstack.api_url, generate_signing_jwk("ES256"),
                              signing, gstack.clock)
    else:
        broken = make_gateway(f"http://127.0.0.1:{port_of(dead)}", gstack.api_url,
                              generate_signing_jwk("ES256"), signing, gstack.clock)
    with ThreadServer(broken) as server:
        url = f"{server.url}/echo/introspection-failure"
        response, _ = gateway_call(url, opaque_token(session), DPoPKey(session.dpop_jwk))
    assert response.status_code == 503
    assert response.json() == {"error": "temporarily_unavailable",
                               "error_description": "Token introspection unavailable"}
    assert "/echo/introspection-failure" not in gstack.api_calls()
