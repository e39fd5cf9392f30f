"""Hostile authorization responses and token responses at ``login/end`` (one case per rule).

Every case asserts the exact status and code, that no session cookie was set, that the AS got no
further call, and that none of the secrets the case handled (the code, the PKCE verifier, the
client assertion, the tokens the fake AS issued) reached the answer or the logs.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.support.clocks import OffsetClock
from tests.support.cookies import Jar, set_cookie_names
from tests.support.flows import call, start_login
from tests.support.hostile_as import HostileAS, hs256, unsigned
from tests.support.stack import BFF, REDIRECT_URI, LogCapture, bff_config, running_bff

pytestmark = pytest.mark.integration


def begin(http: httpx.Client, jar: Jar, hostile: HostileAS) -> dict[str, str]:
    start_login(http, jar, returnTo="/home")
    return hostile.par_requests[-1]


def finish(http: httpx.Client, jar: Jar, **params: str) -> httpx.Response:
    return call(http, jar, "POST", "/bff/login/end",
                json={"pageUrl": f"{REDIRECT_URI}?{urlencode(params)}"})


def fresh_code() -> str:
    """An authorization code no log line could contain by chance."""
    return secrets.token_urlsafe(24)


def handled(hostile: HostileAS, *extra: str) -> list[str]:
    """The secrets a case handled: ``extra`` plus everything sent to or issued by the fake AS."""
    return [*extra, *hostile.secrets()]


def assert_refused(response: httpx.Response, status: int, code: str, logs: LogCapture,
                   *handled_secrets: str) -> None:
    # a check with nothing (or something guessable) to look for could never fail
    assert handled_secrets, "pass the secrets this case handled"
    assert all(len(s) >= 16 for s in handled_secrets), handled_secrets
    assert response.status_code == status, response.text
    assert response.json() == {"error": code, "error_description": response.json()[
        "error_description"]}
    assert response.json()["error_description"]
    assert not [n for n in set_cookie_names(response) if "bff-session" in n]
    for secret in handled_secrets:
        assert secret not in response.text
        assert secret not in logs.text()


def test_happy_path_against_hostile_as_baseline(bff: BFF, hostile: HostileAS) -> None:
    """The unmodified fake AS logs in: the negative cases below differ in one thing only."""
    jar = Jar()
    with bff.client() as http:
        par = begin(http, jar, hostile)
        r = finish(http, jar, code="c1", state=par["state"], iss=hostile.url)
        assert r.status_code == 200, r.text
        assert r.json()["returnTo"] == "/home"
        assert jar.session_names()
        assert par["code_challenge_method"] == "S256"
        assert par["dpop_jkt"]
        assert par["client_assertion_type"].endswith("jwt-bearer")


@pytest.mark.spec("RFC 6749 §10.12")
def test_state_mismatch(bff: BFF, hostile: HostileAS, captured_logs: LogCapture) -> None:
    """RFC 6749 §10.12: a response for another state is refused before any token call."""
    jar = Jar()
    with bff.client() as http:
        par = begin(http, jar, hostile)
        auth_code = fresh_code()
        r = finish(http, jar, code=auth_code, state="forged-state", iss=hostile.url)
    assert_refused(r, 502, "state_mismatch", captured_logs,
                   *handled(hostile, auth_code, par["state"]))
    assert hostile.count("/token") == 0


@pytest.mark.spec("RFC 9207 §2.4")
def test_missing_iss(bff: BFF, hostile: HostileAS, captured_logs: LogCapture) -> None:
    """RFC 9207 §2.4: a response without iss is refused."""
    jar = Jar()
    with bff.client() as http:
        par = begin(http, jar, hostile)
        auth_code = fresh_code()
        r = finish(http, jar, code=auth_code, state=par["state"])
    assert_refused(r, 502, "iss_missing", captured_logs,
                   *handled(hostile, auth_code, par["state"]))
    assert hostile.count("/token") == 0


@pytest.mark.spec("RFC 9207 §2.4")
def test_wrong_iss(bff: BFF, hostile: HostileAS, captured_logs: LogCapture) -> None:
    """RFC 9207 §2.4: a response naming another issuer (mix-up) is refused."""
    jar = Jar()
    with bff.client() as http:
        par = begin(http, jar, hostile)
        auth_code = fresh_code()
        r = finish(http, jar, code=auth_code, state=par["state"], iss="https://evil.example")
    assert_refused(r, 502, "iss_mismatch", captured_logs,
                   *handled(hostile, auth_code, par["state"]))
    assert hostile.count("/token") == 0


@pytest.mark.spec("RFC 6749 §4.1.2.1")
def test_authorization_error_response(bff: BFF, hostile: HostileAS,
                                      captured_logs: LogCapture) -> None:
    """RFC 6749 §4.1.2.1: an error response ends the login without a session."""
    jar = Jar()
    with bff.client() as http:
        par = begin(http, jar, hostile)
        r = finish(http, jar, error="access_denied", state=par["state"], iss=hostile.url)
    assert_refused(r, 400, "authorization_error", captured_logs,
                   *handled(hostile, par["state"]))
    assert hostile.count("/token") == 0


@pytest.mark.spec("RFC 6749 §4.1.2")
def test_reused_login_transaction(bff: BFF, hostile: HostileAS,
                                  captured_logs: LogCapture) -> None:
    """RFC 6749 §4.1.2: replaying a response with a captured transaction cookie is refused."""
    jar = Jar()
    with bff.client() as http:
        par = begin(http, jar, hostile)
        captured = jar.copy()
        auth_code = fresh_code()
        assert finish(http, jar, code=auth_code, state=par["state"],
                      iss=hostile.url).status_code == 200
        tokens_before = hostile.count("/token")
        replay = finish(http, captured, code=auth_code, state=par["state"], iss=hostile.url)
    # the tokens of the first (successful) exchange must not surface in the replay either
    assert_refused(replay, 401, "login_transaction_used", captured_logs,
                   *handled(hostile, auth_code, par["state"]))
    assert hostile.count("/token") == tokens_before


def test_login_without_transaction(bff: BFF, hostile: HostileAS,
                                   captured_logs: LogCapture) -> None:
    """A response with no login transaction cookie at all (expired or never started)."""
    with bff.client() as http:
        auth_code, state = fresh_code(), fresh_code()
        r = finish(http, Jar(), code=auth_code, state=state, iss=hostile.url)
    assert_refused(r, 401, "login_transaction_missing", captured_logs,
                   *handled(hostile, auth_code, state))
    assert hostile.count("/token") == 0


def test_expired_login_transaction(bff: BFF, hostile: HostileAS, clock: OffsetClock,
                                   captured_logs: LogCapture) -> None:
    """A transaction older than session.login_timeout is refused."""
    jar = Jar()
    with bff.client() as http:
        par = begin(http, jar, hostile)
        clock.offset = 601
        auth_code = fresh_code()
        r = finish(http, jar, code=auth_code, state=par["state"], iss=hostile.url)
    assert_refused(r, 401, "login_transaction_missing", captured_logs,
                   *handled(hostile, auth_code, par["state"]))
    assert hostile.count("/token") == 0


@pytest.mark.spec("RFC 6749 §4.1.2")
def test_replayed_code_refused_by_as(bff: BFF, hostile: HostileAS,
                                     captured_logs: LogCapture) -> None:
    """RFC 6749 §4.1.2: the AS refusing a spent code ends the login as login_failed."""
    jar = Jar()
    hostile.token_error = "invalid_grant"
    with bff.client() as http:
        par = begin(http, jar, hostile)
        auth_code = fresh_code()
        r = finish(http, jar, code=auth_code, state=par["state"], iss=hostile.url)
    assert hostile.calls[-1][1]["code_verifier"], "the PKCE verifier was sent and is checked"
    assert_refused(r, 400, "login_failed", captured_logs,
                   *handled(hostile, auth_code, par["state"]))
    assert hostile.count("/token") == 1  # the nonce from PAR is reused; no retry after a refusal


ID_TOKEN_CASES = [
    ("wrong nonce", lambda c: {**c, "nonce": "other"}, None, "nonce_mismatch"),
    ("wrong aud", lambda c: {**c, "aud": "someone-else"}, None, "id_token_invalid"),
    ("expired", lambda c: {**c, "exp": int(time.time()) - 3600, "iat": int(time.time()) - 4000},
     None, "id_token_invalid"),
    ("iat in the future", lambda c: {**c, "iat": int(time.time()) + 600}, None,
     "id_token_invalid"),
    ("wrong iss", lambda c: {**c, "iss": "https://evil.example"}, None, "id_token_invalid"),
    ("alg none", lambda c: c, unsigned, "id_token_invalid"),
    ("alg HS256", lambda c: c, hs256, "id_token_invalid"),
    ("azp of another client", lambda c: {**c, "aud": ["bff", "x"], "azp": "x"}, None,
     "id_token_invalid"),
]


@pytest.mark.spec("OpenID Connect Core §3.1.3.7")
@pytest.mark.parametrize(("case", "mutate", "signer", "code"), ID_TOKEN_CASES,
                         ids=[c[0] for c in ID_TOKEN_CASES])
def test_id_token_rejected(bff: BFF, hostile: HostileAS, captured_logs: LogCapture, case: str,
                           mutate: Any, signer: Any, code: str) -> None:
    """OIDC Core §3.1.3.7 and FAPI 2.0 algorithms: a bad ID token never yields a session."""
    hostile.id_token_claims = mutate
    hostile.id_token_signer = signer
    jar = Jar()
    with bff.client() as http:
        par = begin(http, jar, hostile)
        auth_code = fresh_code()
        r = finish(http, jar, code=auth_code, state=par["state"], iss=hostile.url)
    assert hostile.issued, "the fake AS issued tokens the BFF then refused"
    assert_refused(r, 502, code, captured_logs, *handled(hostile, auth_code, par["state"]))
    assert hostile.count("/me") == 0, "no userinfo call after a bad ID token"


@pytest.mark.spec("FAPI 2.0 §5.3.2.2")
def test_bearer_token_refused(bff: BFF, hostile: HostileAS, captured_logs: LogCapture) -> None:
    """FAPI 2.0: a Bearer token where DPoP was asked for is refused."""
    hostile.token_response = lambda body: {**body, "token_type": "Bearer"}
    jar = Jar()
    with bff.client() as http:
        par = begin(http, jar, hostile)
        auth_code = fresh_code()
        r = finish(http, jar, code=auth_code, state=par["state"], iss=hostile.url)
    assert hostile.issued
    assert_refused(r, 502, "bearer_downgrade", captured_logs,
                   *handled(hostile, auth_code, par["state"]))


def test_as_unreachable(workdir: Path, client_jwk: dict[str, Any],
                        cookie_jwks: list[dict[str, Any]], captured_logs: LogCapture) -> None:
    """A closed AS port answers 502 as_unreachable with a clear description."""
    # bound but not listening: connections are refused, and no other process can take the port
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        config = bff_config(workdir, f"http://127.0.0.1:{port}", client_jwk, cookie_jwks)
        with running_bff(config) as bff, bff.client() as http:
            jar = Jar()
            r = call(http, jar, "POST", "/bff/login/start", json={})
    # nothing reached an AS: what the BFF handled are its own keys
    assert_refused(r, 502, "as_unreachable", captured_logs, client_jwk["d"],
                   *(jwk["k"] for jwk in cookie_jwks))
    assert "cannot be reached" in r.json()["error_description"]
    assert not jar.cookies


@pytest.fixture
def jarm_bff(hostile: HostileAS, workdir: Path, client_jwk: dict[str, Any],
             cookie_jwks: list[dict[str, Any]]) -> Iterator[BFF]:
    config = bff_config(workdir, hostile.url, client_jwk, cookie_jwks,
                        oauth={"response_mode": "jwt"})
    with running_bff(config) as running:
        yield running


JARM_CASES = [
    ("valid", {}, None, 200, ""),
    ("wrong aud", {"aud": "other"}, None, 502, "invalid_jarm_response"),
    ("expired", {"exp": int(time.time()) - 600}, None, 502, "invalid_jarm_response"),
    ("no iss", {"iss": None}, None, 502, "iss_missing"),
    ("wrong iss", {"iss": "https://evil.example"}, None, 502, "iss_mismatch"),
    ("alg none", {}, unsigned, 502, "invalid_jarm_response"),
    ("alg HS256", {}, hs256, 502, "invalid_jarm_response"),
    ("wrong state", {"state": "forged"}, None, 502, "state_mismatch"),
]


@pytest.mark.spec("FAPI JARM §4.4")
@pytest.mark.parametrize(("case", "changes", "signer", "status", "code"), JARM_CASES,
                         ids=[c[0] for c in JARM_CASES])
def test_jarm_response_checks(jarm_bff: BFF, hostile: HostileAS, captured_logs: LogCapture,
                              case: str, changes: dict[str, Any], signer: Any, status: int,
                              code: str) -> None:
    """FAPI JARM §4.4: signature (allowlisted alg), iss, aud and exp of the response JWT."""
    jar = Jar()
    with jarm_bff.client() as http:
        par = begin(http, jar, hostile)
        assert par["response_mode"] == "jwt"
        now = int(time.time())
        auth_code = fresh_code()
        claims: dict[str, Any] = {"iss": hostile.url, "aud": "bff", "exp": now + 60,
                                  "code": auth_code, "state": par["state"]}
        for key, value in changes.items():
            if value is None:
                claims.pop(key)
            else:
                claims[key] = value
        token = signer(claims) if signer else hostile.sign(claims)
        r = finish(http, jar, response=token)
    if status == 200:
        assert r.status_code == 200, r.text
        assert jar.session_names()
    else:
        assert_refused(r, status, code, captured_logs,
                       *handled(hostile, auth_code, token, par["state"]))
        assert hostile.count("/token") == 0


@pytest.mark.spec("RFC 9449 §6.1")
def test_access_token_bound_to_another_key(bff: BFF, hostile: HostileAS,
                                           captured_logs: LogCapture) -> None:
    """RFC 9449 §6.1: a JWT access token whose cnf.jkt is not the session key is refused."""
    foreign = hostile.sign({"iss": hostile.url, "aud": "api", "cnf": {"jkt": "someone-else"},
                            "exp": int(time.time()) + 300})
    hostile.token_response = lambda body: {**body, "access_token": foreign}
    jar = Jar()
    with bff.client() as http:
        par = begin(http, jar, hostile)
        auth_code = fresh_code()
        r = finish(http, jar, code=auth_code, state=par["state"], iss=hostile.url)
    assert_refused(r, 502, "dpop_binding_missing", captured_logs,
                   *handled(hostile, auth_code, foreign, par["state"]))
