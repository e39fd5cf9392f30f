"""Token hardening against the real dev AS: route scopes, refreshed ID tokens, userinfo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bff.crypto.seal import b64url_decode
from bff.sessions.model import AccessToken
from tests.support.cookies import Jar
from tests.support.flows import call
from tests.support.stack import BFF, Stack, bff_config, running_bff

pytestmark = pytest.mark.integration


@pytest.fixture
def bff(stack: Stack, workdir: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]]) -> Iterator[BFF]:
    routes = [
        {"prefix": "/api", "upstream": stack.api_url, "resource": stack.audience},
        {"prefix": "/acc-only", "upstream": stack.api_url, "resource": stack.audience,
         "scopes": ["accounts"]},
        {"prefix": "/pay-only", "upstream": stack.api_url, "resource": stack.audience,
         "scopes": ["payments"]},
    ]
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks, routes=routes,
                        oauth={"resources": [stack.audience]})
    with running_bff(config) as running:
        yield running


def bearer_scope(http: httpx.Client, jar: Jar, prefix: str) -> set[str]:
    """The scope of the access token the BFF attached on ``prefix`` (the echo endpoint)."""
    r = call(http, jar, "GET", f"{prefix}/echo/x")
    assert r.status_code == 200, r.text
    auth = next(v for k, v in r.json()["headers"] if k == "authorization")
    claims = json.loads(b64url_decode(auth.split(" ", 1)[1].split(".")[1]))
    return set(str(claims["scope"]).split())


@pytest.mark.spec("RFC 6749 §6")
def test_route_scopes_narrow_the_routes_token(bff: BFF, stack: Stack,
                                              signed_in: tuple[httpx.Client, Jar, str]) -> None:
    """RFC 6749 §6 (scope at refresh may narrow) with RFC 8707 resource: a route with
    ``scopes`` gets a token of exactly those scopes, cached apart from the route without."""
    http, jar, _ = signed_in
    assert bearer_scope(http, jar, "/acc-only") == {"accounts"}
    assert bearer_scope(http, jar, "/pay-only") == {"payments"}
    assert {"accounts", "payments"} <= bearer_scope(http, jar, "/api")
    assert call(http, jar, "GET", "/acc-only/accounts").status_code == 200
    assert call(http, jar, "GET", "/pay-only/accounts").status_code == 403
    grants = stack.stats()["grants"]["refresh_token"]
    # each (resource, scopes) token is cached: calling again costs no refresh
    assert bearer_scope(http, jar, "/acc-only") == {"accounts"}
    assert bearer_scope(http, jar, "/pay-only") == {"payments"}
    assert stack.stats()["grants"]["refresh_token"] == grants


@pytest.mark.spec("OpenID Connect Core §12.2")
def test_refresh_validates_the_as_id_token_and_keeps_the_subject(
        bff: BFF, stack: Stack, signed_in: tuple[httpx.Client, Jar, str]) -> None:
    """OIDC Core §12.2: the dev AS's refreshed ID token (at_hash, auth_time, no nonce) passes
    the checks; the session keeps its subject."""
    http, jar, csrf = signed_in
    grants = stack.stats()["grants"]["refresh_token"]
    for _ in range(2):
        assert call(http, jar, "POST", "/bff/refresh", csrf=csrf).status_code == 200
    assert stack.stats()["grants"]["refresh_token"] == grants + 2
    session = bff.run(bff.parts.sessions.load(jar.cookies))
    assert session.sub == "alice"
    assert call(http, jar, "GET", "/bff/userinfo").json()["sub"] == "alice"


@pytest.mark.spec("RFC 6750 §3.1")
def test_userinfo_refreshes_once_when_the_as_revoked_its_token(
        bff: BFF, stack: Stack, signed_in: tuple[httpx.Client, Jar, str]) -> None:
    """RFC 6750 §3.1: the AS answers 401 invalid_token for a dead token; /bff/userinfo
    refreshes and retries once, like the proxy, and the answer is the session's subject."""
    http, jar, _ = signed_in
    session = bff.run(bff.parts.sessions.load(jar.cookies))
    # a token the AS no longer honours (revoking it at oidc-provider would end the whole grant)
    dead = AccessToken("dead-" + session.tokens[""].token[5:], session.tokens[""].expires_at)
    changed = session.with_changes(tokens={**session.tokens, "": dead})
    for cookie in bff.run(bff.parts.sessions.save(changed, jar.cookies, 600)):
        jar.cookies[cookie.name] = cookie.value
    grants = stack.stats()["grants"]["refresh_token"]
    r = call(http, jar, "GET", "/bff/userinfo")
    assert r.status_code == 200, r.text
    assert r.json()["sub"] == session.sub
    assert stack.stats()["grants"]["refresh_token"] == grants + 1
