"""Userinfo at login against a controllable AS: best effort, except for another subject.

The ID token (subject ``mallory``) is valid in every case; only the userinfo answer changes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.support.cookies import Jar, set_cookie_names
from tests.support.flows import call, start_login
from tests.support.hostile_as import HostileAS
from tests.support.stack import BFF, REDIRECT_URI, LogCapture, bff_config, running_bff

pytestmark = pytest.mark.integration


def bff_for(hostile: HostileAS, workdir: Path, client_jwk: dict[str, Any],
            cookie_jwks: list[dict[str, Any]], **oauth: Any) -> Any:
    config = bff_config(workdir, hostile.url, client_jwk, cookie_jwks, oauth=oauth)
    return running_bff(config)


def finish_login(bff: BFF, hostile: HostileAS) -> tuple[httpx.Response, Jar]:
    jar = Jar()
    with bff.client() as http:
        start_login(http, jar, returnTo="/")
        state = hostile.par_requests[-1]["state"]
        query = urlencode({"code": "c", "state": state, "iss": hostile.url})
        r = call(http, jar, "POST", "/bff/login/end",
                 json={"pageUrl": f"{REDIRECT_URI}?{query}"})
        return r, jar


def session_claims(bff: BFF, jar: Jar) -> dict[str, Any]:
    with bff.client() as http:
        body = call(http, jar, "GET", "/bff/session").json()
    assert body["isLoggedIn"] is True
    return dict(body["claims"])


def failures(logs: LogCapture) -> list[dict[str, Any]]:
    return [e for e in map(json.loads, logs.lines) if e.get("event") == "userinfo_at_login_failed"]


@pytest.mark.parametrize("broken", ["invalid_token", "no sub"])
def test_failing_userinfo_at_login_keeps_the_login_with_the_id_token_claims(
        hostile: HostileAS, workdir: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]], captured_logs: LogCapture, broken: str) -> None:
    """A userinfo call that fails (401, or an answer without ``sub`` that must not be used)
    does not fail a login whose ID token was valid: the ID token's claims, one warning."""
    if broken == "invalid_token":
        hostile.userinfo_invalid_token = 1
    else:
        hostile.userinfo_claims = {"email": "nobody@example.com"}
    with bff_for(hostile, workdir, client_jwk, cookie_jwks) as bff:
        r, jar = finish_login(bff, hostile)
        assert r.status_code == 200, r.text
        claims = session_claims(bff, jar)
    assert claims["sub"] == "mallory" and "email" not in claims
    (warning,) = failures(captured_logs)
    assert warning["level"] == "warning"


@pytest.mark.spec("OpenID Connect Core §5.3.2")
@pytest.mark.parametrize("required", [False, True])
def test_userinfo_of_another_subject_at_login_fails_the_login_even_best_effort(
        hostile: HostileAS, workdir: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]], captured_logs: LogCapture, required: bool) -> None:
    """OIDC Core §5.3.2: a userinfo answer about another subject is a substituted answer, not
    a failure to fetch: the login fails (502 id_token_invalid), no session, no warning."""
    hostile.userinfo_claims = {"sub": "eve", "email": "eve@evil.example"}
    with bff_for(hostile, workdir, client_jwk, cookie_jwks,
                 require_userinfo_at_login=required) as bff:
        r, _ = finish_login(bff, hostile)
    assert r.status_code == 502, r.text
    assert r.json()["error"] == "id_token_invalid"
    assert "eve" not in r.text
    assert not any("bff-session" in n for n in set_cookie_names(r))
    assert failures(captured_logs) == []


def test_require_userinfo_at_login_fails_the_login_on_a_userinfo_error(
        hostile: HostileAS, workdir: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]]) -> None:
    """``require_userinfo_at_login = true``: a 401 from userinfo at login is a 502, no session."""
    hostile.userinfo_invalid_token = 1
    with bff_for(hostile, workdir, client_jwk, cookie_jwks,
                 require_userinfo_at_login=True) as bff:
        r, _ = finish_login(bff, hostile)
    assert r.status_code == 502, r.text
    assert r.json()["error"] == "as_error"
    assert not any("bff-session" in n for n in set_cookie_names(r))
