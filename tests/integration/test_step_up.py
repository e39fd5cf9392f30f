"""Step-up (RFC 9470) and payment approvals (RFC 9396) through the BFF, the real dev AS and
the example API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.util import urlsafe_b64decode

from tests.support.as_login import ASBrowser
from tests.support.cookies import Jar
from tests.support.flows import call, login, start_login
from tests.support.stack import (
    BFF,
    REDIRECT_URI,
    Stack,
    bff_config,
    running_bff,
    token_recording_http,
)

pytestmark = pytest.mark.integration

MFA = "urn:bff:acr:mfa"
PWD = "urn:bff:acr:pwd"
PAYMENT_TYPES = {"payment_initiation": ["instructedAmount", "creditorName", "creditorAccount",
                                        "remittanceInformationUnstructured"]}


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(urlsafe_b64decode(payload.encode())))


@pytest.fixture
def token_responses() -> list[dict[str, Any]]:
    return []


@pytest.fixture(params=["cookie", "server"])
def bff(request: pytest.FixtureRequest, stack: Stack, workdir: Path,
        client_jwk: dict[str, Any], cookie_jwks: list[dict[str, Any]],
        token_responses: list[dict[str, Any]]) -> Iterator[BFF]:
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks,
                        routes=[{"prefix": "/api", "upstream": stack.api_url,
                                 "resource": stack.audience}],
                        oauth={"resources": [stack.audience],
                               "authorization_details_types": PAYMENT_TYPES,
                               "authorization_details_max_bytes": 1024},
                        session={"store": request.param})

    with running_bff(config, http=token_recording_http(token_responses)) as running:
        yield running


def payment(amount: str, reference: str = "Invoice 7") -> dict[str, str]:
    return {"fromAccount": "acc-1", "toName": "Bob Builder",
            "toIban": "DE44 5001 0517 5407 3249 31", "amount": amount, "reference": reference}


def approval_of(body: dict[str, str]) -> list[dict[str, Any]]:
    return [{"type": "payment_initiation",
             "instructedAmount": {"amount": f"{float(body['amount']):.2f}", "currency": "EUR"},
             "creditorName": body["toName"],
             "creditorAccount": {"iban": body["toIban"]},
             "remittanceInformationUnstructured": body["reference"]}]


def finish(http: httpx.Client, jar: Jar, callback: str) -> dict[str, Any]:
    response = call(http, jar, "POST", "/bff/login/end", json={"pageUrl": callback})
    assert response.status_code == 200, response.text
    return dict(response.json())


def session_claims(http: httpx.Client, jar: Jar) -> dict[str, Any]:
    body = call(http, jar, "GET", "/bff/session").json()
    assert body["isLoggedIn"] is True
    return dict(body["claims"])


@pytest.mark.spec("RFC 9470 §3")
def test_step_up_challenge_is_not_refreshed_or_retried_and_keeps_the_session(
        bff: BFF, stack: Stack, signed_in: tuple[httpx.Client, Jar, str]) -> None:
    http, jar, csrf = signed_in
    # learn the API's DPoP nonce first, so the count below has no nonce retry in it
    assert call(http, jar, "GET", "/api/accounts").status_code == 200
    refreshes = stack.stats()["grants"]["refresh_token"]
    before = stack.api_calls().get("/payments", 0)
    response = call(http, jar, "POST", "/api/payments", csrf=csrf, json=payment("250.00"))
    assert response.status_code == 403
    assert response.json() == {"error": "step_up_required",
                               "error_description": "the API requires a stronger or more "
                                                    "recent sign-in",
                               "acr_values": MFA}
    assert stack.api_calls()["/payments"] == before + 1  # no retry
    assert stack.stats()["grants"]["refresh_token"] == refreshes  # no refresh
    # the session and its CSRF token are still good
    small = call(http, jar, "POST", "/api/payments", csrf=csrf, json=payment("12.00"))
    assert small.status_code == 201, small.text


@pytest.mark.spec("RFC 9470 §4")
def test_step_up_login_keeps_session_and_csrf_and_raises_acr_from_the_id_token(
        bff: BFF, as_browser: ASBrowser, token_responses: list[dict[str, Any]]) -> None:
    jar = Jar()
    with bff.client() as http:
        csrf = login(http, jar, as_browser)["csrfToken"]
        assert session_claims(http, jar)["acr"] == PWD
        session_id = bff.run(bff.parts.sessions.load(jar.cookies)).session_id
        url = start_login(http, jar, acrValues=[MFA], returnTo="/pay")
        callback = as_browser.authorize(url, REDIRECT_URI)
        assert any('name="otp"' in page for page in as_browser.pages)
        body = finish(http, jar, callback)
        assert body["csrfToken"] == csrf and body["returnTo"] == "/pay"
        assert bff.run(bff.parts.sessions.load(jar.cookies)).session_id == session_id
        claims = session_claims(http, jar)
        id_token = jwt_claims(token_responses[-1]["id_token"])
        assert claims["acr"] == id_token["acr"] == MFA
        assert claims["amr"] == id_token["amr"] and "otp" in claims["amr"]
        assert claims["auth_time"] == id_token["auth_time"]
        # the old CSRF token still works with the stronger session
        ok = call(http, jar, "POST", "/api/payments", csrf=csrf, json=payment("5.00"))
        assert ok.status_code == 201, ok.text


@pytest.mark.spec("RFC 9470 §4")
def test_an_id_token_without_a_requested_acr_is_refused_and_the_session_stays(
        bff: BFF, as_browser: ASBrowser) -> None:
    # the dev AS does not know this level and ignores it, as an AS may (OIDC Core §5.5.1.1:
    # acr_values is a voluntary claim request): it signs the user in with a password only
    jar = Jar()
    with bff.client() as http:
        csrf = login(http, jar, as_browser)["csrfToken"]
        before = session_claims(http, jar)
        url = start_login(http, jar, acrValues=["urn:example:acr:loa4", MFA + ":not"])
        callback = as_browser.authorize(url, REDIRECT_URI)
        assert not any('name="otp"' in page for page in as_browser.pages)
        response = call(http, jar, "POST", "/bff/login/end", json={"pageUrl": callback})
        assert response.status_code == 502, response.text
        assert response.json()["error"] == "acr_not_satisfied"
        after = call(http, jar, "GET", "/bff/session").json()
        assert after["isLoggedIn"] is True and after["csrfToken"] == csrf
        assert after["claims"] == before and before["acr"] == PWD


@pytest.mark.spec("OpenID Connect Core §3.1.2.1")
def test_max_age_forces_a_new_sign_in(bff: BFF, as_browser: ASBrowser) -> None:
    jar = Jar()
    with bff.client() as http:
        login(http, jar, as_browser)
        first = session_claims(http, jar)["auth_time"]
        time.sleep(1.1)  # auth_time has a resolution of one second
        url = start_login(http, jar, maxAge=0)
        assert as_browser.needs_login(url, REDIRECT_URI)
        finish(http, jar, as_browser.authorize(url, REDIRECT_URI))
        assert session_claims(http, jar)["auth_time"] > first


@pytest.mark.spec("RFC 9396 §2")
@pytest.mark.parametrize("details", [
    [{"type": "account_information", "accounts": []}],
    [{"type": "payment_initiation", "debtorAccount": {"iban": "DE89"}}],
    [{"type": "payment_initiation", "creditorName": "x" * 2000}],
    {"type": "payment_initiation"},
    [],
    "not json",
])
def test_authorization_details_outside_the_allowlist_never_reach_the_as(
        bff: BFF, stack: Stack, signed_in: tuple[httpx.Client, Jar, str], details: Any) -> None:
    http, jar, _csrf = signed_in
    before = stack.stats()
    for body in ({"authorizationDetails": details},
                 {"extraParams": {"authorization_details": json.dumps(details)}}):
        response = call(http, jar, "POST", "/bff/login/start", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"] in ("authorization_details_not_allowed", "malformed_body")
    assert stack.stats() == before


def approve(http: httpx.Client, jar: Jar, browser: ASBrowser, body: dict[str, str],
            *, cancel: bool = False) -> dict[str, Any]:
    url = start_login(http, jar, authorizationDetails=approval_of(body), returnTo="/pay")
    return finish(http, jar, browser.authorize(url, REDIRECT_URI, cancel=cancel))


@pytest.mark.spec("RFC 9396 §7")
def test_payment_approval_is_shown_used_once_and_kept_apart(
        bff: BFF, stack: Stack, as_browser: ASBrowser,
        token_responses: list[dict[str, Any]]) -> None:
    jar = Jar()
    with bff.client() as http:
        csrf = login(http, jar, as_browser)["csrfToken"]
        general = bff.run(bff.parts.sessions.load(jar.cookies)).tokens[""].token
        body = payment("150.00", "Car")
        answer = approve(http, jar, as_browser, body)
        consent = as_browser.pages[-1]
        assert "150.00 EUR" in consent and "Bob Builder" in consent
        assert "DE44 5001 0517 5407 3249 31" in consent and "Car" in consent
        assert any('name="otp"' in page for page in as_browser.pages)
        assert answer["csrfToken"] == csrf
        purpose = answer["purposeId"]
        token = jwt_claims(token_responses[-1]["access_token"])
        assert token["authorization_details"] == approval_of(body)
        assert token["acr"] == MFA
        assert "refresh_token" not in token_responses[-1]
        session = bff.run(bff.parts.sessions.load(jar.cookies))
        assert session.tokens[""].token == general  # the general token is untouched
        # the approval is for this payment only: another amount is refused by the API
        changed = call(http, jar, "POST", "/api/payments", csrf=csrf,
                       json=payment("151.00", "Car"), headers={"X-BFF-Purpose": purpose})
        assert changed.status_code == 403 and changed.json()["error"] == "payment_not_approved"
        # and the token is gone after that use
        again = call(http, jar, "POST", "/api/payments", csrf=csrf, json=body,
                     headers={"X-BFF-Purpose": purpose})
        assert again.status_code == 403 and again.json()["error"] == "authorization_missing"
        # a fresh approval pays, once
        purpose = approve(http, jar, as_browser, body)["purposeId"]
        paid = call(http, jar, "POST", "/api/payments", csrf=csrf, json=body,
                    headers={"X-BFF-Purpose": purpose})
        assert paid.status_code == 201, paid.text
        assert paid.json()["payment"]["amount"] == "150.00"
        replay = call(http, jar, "POST", "/api/payments", csrf=csrf, json=body,
                      headers={"X-BFF-Purpose": purpose})
        assert replay.status_code == 403 and replay.json()["error"] == "authorization_missing"


def test_cancelled_payment_consent_leaves_the_user_signed_in(
        bff: BFF, as_browser: ASBrowser) -> None:
    jar = Jar()
    with bff.client() as http:
        csrf = login(http, jar, as_browser)["csrfToken"]
        url = start_login(http, jar, authorizationDetails=approval_of(payment("900.00")))
        callback = as_browser.authorize(url, REDIRECT_URI, cancel=True)
        response = call(http, jar, "POST", "/bff/login/end", json={"pageUrl": callback})
        assert response.status_code == 400
        assert response.json()["error"] == "authorization_error"
        after = call(http, jar, "GET", "/bff/session").json()
        assert after["isLoggedIn"] is True and after["csrfToken"] == csrf
