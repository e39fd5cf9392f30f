"""Hostile refresh and userinfo answers: refreshed ID tokens, absurd lifetimes, another subject.

A controllable AS (tests/support/hostile_as.py) signs what each test asks for; the BFF is real,
over HTTP, with an injected clock.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.support.clocks import OffsetClock
from tests.support.cookies import Jar
from tests.support.flows import call, start_login
from tests.support.hostile_as import HostileAS
from tests.support.stack import BFF, REDIRECT_URI, LogCapture

pytestmark = pytest.mark.integration


def signed_in(http: httpx.Client, hostile: HostileAS) -> tuple[Jar, str]:
    jar = Jar()
    start_login(http, jar, returnTo="/")
    state = hostile.par_requests[-1]["state"]
    query = urlencode({"code": "c", "state": state, "iss": hostile.url})
    r = call(http, jar, "POST", "/bff/login/end", json={"pageUrl": f"{REDIRECT_URI}?{query}"})
    assert r.status_code == 200, r.text
    return jar, str(r.json()["csrfToken"])


def refreshes(hostile: HostileAS) -> int:
    return sum(1 for p, f in hostile.calls if p == "/token"
               and f.get("grant_type") == "refresh_token")


def without_id_token(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "id_token"}


@pytest.mark.spec("OpenID Connect Core §12.2")
@pytest.mark.parametrize("change", [{"sub": "eve"}, {"iss": "https://evil.example"},
                                    {"aud": "someone-else"}, {"exp": 1}])
def test_refresh_with_a_foreign_id_token_is_refused_and_the_session_kept(
        bff: BFF, hostile: HostileAS, change: dict[str, Any],
        captured_logs: LogCapture) -> None:
    """OIDC Core §12.2: a refreshed ID token must name the same iss and sub, with the client in
    aud, and pass the login checks; otherwise the refresh is refused (502) and the session goes
    on as it was, its cookie untouched."""
    with bff.client() as http:
        jar, csrf = signed_in(http, hostile)
        before = dict(jar.cookies)
        hostile.id_token_claims = lambda c: {**c, **change}
        r = call(http, jar, "POST", "/bff/refresh", csrf=csrf)
        assert r.status_code == 502, r.text
        assert r.json()["error"] == "id_token_invalid"
        assert refreshes(hostile) == 1
        assert jar.cookies == before
        hostile.id_token_claims = lambda c: c
        r = call(http, jar, "GET", "/bff/session")
        assert r.status_code == 200 and r.json()["claims"]["sub"] == "mallory"
        assert call(http, jar, "POST", "/bff/refresh", csrf=csrf).status_code == 200


@pytest.mark.spec("OpenID Connect Core §12.2")
def test_refresh_with_a_valid_id_token_goes_on(bff: BFF, hostile: HostileAS) -> None:
    """OIDC Core §12.2: a refreshed ID token of the same subject is accepted (no nonce needed)."""
    with bff.client() as http:
        jar, csrf = signed_in(http, hostile)
        hostile.id_token_claims = lambda c: {k: v for k, v in c.items() if k != "nonce"}
        assert call(http, jar, "POST", "/bff/refresh", csrf=csrf).status_code == 200
        assert refreshes(hostile) == 1


@pytest.mark.spec("RFC 6749 §5.1")
def test_absurd_expires_in_still_refreshes_on_time(bff: BFF, hostile: HostileAS,
                                                   clock: OffsetClock) -> None:
    """RFC 6749 §5.1: expires_in 10**15 s is clamped; an hour later the session refreshes."""
    hostile.token_response = lambda r: {**r, "expires_in": 10 ** 15}
    with bff.client() as http:
        jar, _ = signed_in(http, hostile)
        hostile.token_response = lambda r: without_id_token({**r, "expires_in": 10 ** 15})
        for offset in (0, 1700, 3400):  # within the idle timeout each time, no refresh yet
            clock.offset = offset
            assert call(http, jar, "GET", "/bff/userinfo").status_code == 200
        assert refreshes(hostile) == 0
        clock.offset = 3600
        assert call(http, jar, "GET", "/bff/userinfo").status_code == 200
        assert refreshes(hostile) == 1


@pytest.mark.spec("OpenID Connect Core §5.3.2")
def test_userinfo_of_another_subject_refused(bff: BFF, hostile: HostileAS,
                                            captured_logs: LogCapture) -> None:
    """OIDC Core §5.3.2: the userinfo sub must be the session's sub, checked at /bff/userinfo
    as at login; the other subject's claims never reach the browser."""
    with bff.client() as http:
        jar, _ = signed_in(http, hostile)
        hostile.userinfo_claims = {"sub": "eve", "email": "eve@evil.example"}
        r = call(http, jar, "GET", "/bff/userinfo")
        assert r.status_code == 502, r.text
        assert r.json()["error"] == "id_token_invalid"
        assert "eve" not in r.text


@pytest.mark.spec("RFC 6750 §3.1")
def test_userinfo_invalid_token_refreshes_and_retries_once(bff: BFF, hostile: HostileAS) -> None:
    """RFC 6750 §3.1: a 401 invalid_token from userinfo refreshes once and retries, like the
    proxy; a second 401 is not looped on."""
    with bff.client() as http:
        jar, _ = signed_in(http, hostile)
        hostile.token_response = without_id_token
        hostile.userinfo_invalid_token = 1
        r = call(http, jar, "GET", "/bff/userinfo")
        assert r.status_code == 200, r.text
        assert r.json()["sub"] == "mallory"
        assert refreshes(hostile) == 1
        calls = hostile.count("/me")
        hostile.userinfo_invalid_token = 5
        r = call(http, jar, "GET", "/bff/userinfo")
        assert r.status_code == 502, r.text
        assert refreshes(hostile) == 2
        assert hostile.count("/me") == calls + 2


def test_a_refresh_paid_for_by_a_stale_cookie_is_used(bff: BFF, hostile: HostileAS,
                                                      clock: OffsetClock) -> None:
    """A cookie two generations old walks two stored refresh results, then refreshes at the AS:
    that third result is used (200), not thrown away for a 401."""
    with bff.client() as http:
        jar, csrf = signed_in(http, hostile)
        hostile.token_response = without_id_token
        stale = jar.copy()
        for _ in range(2):
            clock.offset += 400
            assert call(http, jar, "POST", "/bff/refresh", csrf=csrf).status_code == 200
        clock.offset += 400
        assert refreshes(hostile) == 2
        r = call(http, stale, "GET", "/bff/userinfo")
        assert r.status_code == 200, r.text
        assert refreshes(hostile) == 3


@pytest.mark.spec("RFC 6749 §3.1")
@pytest.mark.parametrize("extra", [("iss", "https://evil.example"), ("state", "other"),
                                   ("code", "c2"), ("response", "a.b.c")])
def test_login_end_with_a_repeated_or_mixed_parameter_is_refused(
        bff: BFF, hostile: HostileAS, extra: tuple[str, str]) -> None:
    """RFC 6749 §3.1: a repeated iss/state/code (or a JARM response beside them) is refused
    before any token call, never resolved by "last wins"."""
    with bff.client() as http:
        jar = Jar()
        start_login(http, jar, returnTo="/")
        state = hostile.par_requests[-1]["state"]
        query = urlencode([("code", "c"), ("state", state), ("iss", hostile.url), extra])
        r = call(http, jar, "POST", "/bff/login/end", json={"pageUrl": f"{REDIRECT_URI}?{query}"})
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "invalid_request"
        assert hostile.count("/token") == 0
