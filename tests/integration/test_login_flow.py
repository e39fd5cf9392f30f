"""The whole browser flow against the real dev AS over real HTTP (DESIGN §3, issue 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bff.crypto.keys import thumbprint
from bff.crypto.seal import b64url_decode
from tests.support.as_login import ASBrowser
from tests.support.cookies import Jar
from tests.support.flows import call, login
from tests.support.stack import (
    BFF,
    REDIRECT_URI,
    LogCapture,
    Stack,
    bff_config,
    running_bff,
    token_recording_http,
)

pytestmark = pytest.mark.integration


def jwt_claims(token: str) -> dict[str, Any]:
    return dict(json.loads(b64url_decode(token.split(".")[1])))


@pytest.fixture
def token_responses() -> list[dict[str, Any]]:
    return []


@pytest.fixture(params=["cookie", "server"])
def bff(request: pytest.FixtureRequest, stack: Stack, workdir: Path,
        client_jwk: dict[str, Any], cookie_jwks: list[dict[str, Any]],
        token_responses: list[dict[str, Any]]) -> Any:
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks,
                        routes=[{"prefix": "/api", "upstream": stack.api_url,
                                 "resource": stack.audience}],
                        oauth={"resources": [stack.audience]},
                        session={"store": request.param})

    with running_bff(config, http=token_recording_http(token_responses)) as running:
        yield running


def session_of(bff: BFF, jar: Jar) -> Any:
    return bff.run(bff.parts.sessions.load(jar.cookies))


def test_full_login_refresh_logout(bff: BFF, stack: Stack, as_browser: ASBrowser,
                                   captured_logs: LogCapture,
                                   token_responses: list[dict[str, Any]]) -> None:
    """Login → session → userinfo → refresh (rotation) → logout (revocation), all real."""
    jar = Jar()
    before = stack.stats()
    with bff.client() as http:
        body = login(http, jar, as_browser)
        assert body["returnTo"] == "/accounts"
        csrf = body["csrfToken"]
        assert jar.session_names(), "a session cookie was set"
        headers = "\n".join(jar.set_cookie_headers)
        for line in jar.set_cookie_headers:
            if "bff-session" in line and "Max-Age=0" not in line:
                assert line.split("=")[0].startswith("__Host-")
                for attribute in ("Path=/", "HttpOnly", "SameSite=Strict", "Secure"):
                    assert attribute in line, line
        assert "Domain=" not in headers

        info = call(http, jar, "GET", "/bff/session").json()
        assert info["isLoggedIn"] is True
        assert info["claims"]["sub"] == "alice"
        assert info["claims"]["name"] == "Alice Example"
        assert info["csrfToken"] == csrf

        session = session_of(bff, jar)
        dpop_jkt = thumbprint(session.dpop_jwk)
        assert bff.parts.client.nonce_retries >= 1, "a DPoP nonce round happened at the AS"

        userinfo = call(http, jar, "GET", "/bff/userinfo")
        assert userinfo.status_code == 200, userinfo.text
        assert userinfo.json()["email"] == "alice@example.com"

        # the API token is a JWT bound to the session key (RFC 9449 §6.1)
        accounts = call(http, jar, "GET", "/api/accounts")
        assert accounts.status_code == 200, accounts.text
        session = session_of(bff, jar)
        api_token = session.tokens[stack.audience].token
        claims = jwt_claims(api_token)
        assert claims["cnf"]["jkt"] == dpop_jkt
        assert claims["aud"] == stack.audience
        assert token_responses and all(t["token_type"] == "DPoP" for t in token_responses)
        assert any(t["access_token"] == api_token for t in token_responses)

        old_refresh = session.refresh_token
        refreshed = call(http, jar, "POST", "/bff/refresh", csrf=csrf)
        assert refreshed.status_code == 200, refreshed.text
        new_session = session_of(bff, jar)
        assert new_session.refresh_token != old_refresh
        old_state = bff.run(bff.parts.client.introspect(old_refresh))
        assert old_state.get("active") is False, "the rotated refresh token is dead"
        assert bff.run(bff.parts.client.introspect(new_session.refresh_token))["active"] is True

        out = call(http, jar, "POST", "/bff/logout", csrf=csrf)
        assert out.status_code == 200, out.text
        logout_url = out.json()["logoutUrl"]
        assert logout_url.startswith(stack.issuer)
        assert "post_logout_redirect_uri=" in logout_url and "client_id=bff" in logout_url
        assert "id_token_hint" not in logout_url
        assert not jar.session_names(), "logout cleared the session cookies"
        state = bff.run(bff.parts.client.introspect(new_session.refresh_token))
        assert state.get("active") is False, "logout revoked the refresh token"
        assert call(http, jar, "GET", "/bff/session").json() == {"isLoggedIn": False}

    after = stack.stats()
    assert after["grants"].get("authorization_code", 0) == before["grants"].get(
        "authorization_code", 0) + 1
    # no issued secret ever reaches a log line
    logs = captured_logs.text()
    assert logs, "the flow logged something"
    for secret in (api_token, old_refresh, new_session.refresh_token, session.csrf_token,
                   *[t.token for t in new_session.tokens.values()]):
        assert secret and secret not in logs


def test_login_end_without_response_is_not_handled(bff: BFF) -> None:
    jar = Jar()
    with bff.client() as http:
        r = call(http, jar, "POST", "/bff/login/end", json={"pageUrl": f"{REDIRECT_URI}accounts"})
        assert r.status_code == 200
        assert r.json() == {"isLoggedIn": False, "handled": False}
        assert not jar.cookies


def test_as_session_survives_and_second_login_skips_credentials(
        bff: BFF, as_browser: ASBrowser) -> None:
    jar = Jar()
    with bff.client() as http:
        login(http, jar, as_browser)
        jar2 = Jar()
        url = call(http, jar2, "POST", "/bff/login/start", json={}).json()["authorizationUrl"]
        assert not as_browser.needs_login(url, REDIRECT_URI)


@pytest.mark.spec("RFC 9101 §4 / FAPI JARM §4.4")
@pytest.mark.parametrize(("request_objects", "response_mode"),
                         [(True, ""), (False, "jwt"), (True, "jwt")])
def test_login_with_jar_and_jarm(stack: Stack, workdir: Path, client_jwk: dict[str, Any],
                                 cookie_jwks: list[dict[str, Any]], as_browser: ASBrowser,
                                 request_objects: bool, response_mode: str) -> None:
    """Signed request objects through PAR and JWT-secured responses work against the real AS."""
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks,
                        oauth={"request_objects": request_objects,
                               "response_mode": response_mode})
    jar = Jar()
    with running_bff(config) as bff, bff.client() as http:
        url = call(http, jar, "POST", "/bff/login/start", json={}).json()["authorizationUrl"]
        callback = as_browser.authorize(url, REDIRECT_URI)
        query = callback.split("?", 1)[1]
        if response_mode:
            assert query.startswith("response=") and "code=" not in query
        r = call(http, jar, "POST", "/bff/login/end", json={"pageUrl": callback})
        assert r.status_code == 200, r.text
        assert call(http, jar, "GET", "/bff/session").json()["claims"]["sub"] == "alice"
        if response_mode:
            plain = callback.split("?")[0] + "?code=x&state=y&iss=" + stack.issuer
            downgrade = call(http, Jar(), "POST", "/bff/login/end", json={"pageUrl": plain})
            assert (downgrade.status_code, downgrade.json()["error"]) == (400, "invalid_request")


@pytest.mark.spec("OWASP session fixation")
def test_every_login_gets_a_new_session_and_csrf_token(bff: BFF, as_browser: ASBrowser) -> None:
    """Signing in again over a session replaces its id and CSRF token, and drops the old one."""
    jar = Jar()
    with bff.client() as http:
        first = login(http, jar, as_browser)
        before = session_of(bff, jar)
        second = login(http, jar, as_browser)
        after = session_of(bff, jar)
        assert second["csrfToken"] != first["csrfToken"]
        assert after.session_id != before.session_id
        assert call(http, jar, "GET", "/bff/userinfo").status_code == 200
    if bff.parts.sessions.kind == "server":
        old = bff.run(bff.parts.sessions.load({"__Host-bff-session": before.session_id}))
        assert old is None, "the replaced server session left the store"
