"""Every hostile input on the mobile door answers its own error code, and nothing is started.

A refused registration leaves no instance record and no client at the AS; a refused call
leaves the session as it was.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bff.crypto.keys import thumbprint
from tests.integration.mobile.conftest import (
    APP,
    MOBILE_REDIRECT,
    AppInstance,
    LocalAttester,
    mobile_config,
    new_instance,
    registered,
)
from tests.support.as_login import ASBrowser
from tests.support.stack import BFF, Stack, running_bff

pytestmark = pytest.mark.integration


def register_raw(app: AppInstance, attestation: str, pop: str) -> httpx.Response:
    return app.http.post(app.base_url + "/bff/mobile/register", headers={
        "OAuth-Client-Attestation": attestation, "OAuth-Client-Attestation-PoP": pop})


def assert_refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert response.headers["cache-control"] == "no-store"


def assert_not_registered(bff: BFF, app: AppInstance) -> None:
    registry = bff.parts.mobile.registry  # type: ignore[union-attr]
    assert bff.run(registry.load(thumbprint(app.public_jwk))) is None


def signed_in(bff: BFF, attester: LocalAttester) -> AppInstance:
    app = registered(bff, attester)
    with ASBrowser() as browser:
        app.login_end(browser.authorize(app.login_start(), MOBILE_REDIRECT))
    return app


# -- the attestation ------------------------------------------------------------------------


@pytest.mark.spec("draft-ietf-oauth-attestation-based-client-auth §7.1")
@pytest.mark.parametrize(("case", "code"), [
    ("untrusted_attester", "attestation_untrusted"),
    ("expired", "use_fresh_attestation"),
    ("wrong_typ", "attestation_typ_invalid"),
    ("bad_signature", "attestation_signature_invalid"),
    ("cnf_missing", "attestation_cnf_missing"),
    ("foreign_app", "attestation_app_not_allowed"),
])
def test_attestation_refused_with_its_own_code(mobile_bff: BFF, attester: LocalAttester,
                                               case: str, code: str) -> None:
    app = new_instance(mobile_bff)
    jwk = app.public_jwk
    attestation = {
        "untrusted_attester": lambda: LocalAttester(kid="rogue").attest(APP, jwk),
        "expired": lambda: attester.attest(APP, jwk, ttl=-120),
        "wrong_typ": lambda: attester.attest(APP, jwk, typ="JWT"),
        # the right kid, another key: a forged attestation
        "bad_signature": lambda: LocalAttester(kid=attester.kid).attest(APP, jwk),
        "cnf_missing": lambda: attester.attest(APP, jwk, claims={"cnf": {}}),
        "foreign_app": lambda: attester.attest("com.example.other", jwk),
    }[case]()
    response = register_raw(app, attestation, app.attestation_pop(app.challenge()))
    assert_refused(response, 401, code)
    assert_not_registered(mobile_bff, app)


@pytest.mark.spec("draft-ietf-oauth-attestation-based-client-auth §5.1")
@pytest.mark.parametrize(("case", "code"), [
    ("another_key", "attestation_pop_invalid"),
    ("stale_iat", "attestation_pop_stale"),
    ("wrong_challenge", "use_attestation_challenge"),
    ("wrong_aud", "attestation_pop_audience"),
    ("wrong_typ", "attestation_typ_invalid"),
])
def test_attestation_pop_refused_with_its_own_code(mobile_bff: BFF, attester: LocalAttester,
                                                   case: str, code: str) -> None:
    app = new_instance(mobile_bff)
    other = new_instance(mobile_bff)
    challenge = app.challenge()
    pop = {
        "another_key": lambda: other.attestation_pop(challenge),
        "stale_iat": lambda: app.attestation_pop(challenge, iat=time.time() - 600),
        "wrong_challenge": lambda: app.attestation_pop("x" * 43),
        "wrong_aud": lambda: app.attestation_pop(challenge, aud="https://other.example"),
        "wrong_typ": lambda: app._sign({"typ": "JWT"}, {"aud": app.public_url, "jti": "j" * 16,
                                                       "iat": int(time.time()),
                                                       "challenge": challenge}),
    }[case]()
    response = register_raw(app, attester.attest(APP, app.public_jwk), pop)
    assert_refused(response, 401, code)
    assert_not_registered(mobile_bff, app)


@pytest.mark.spec("draft-ietf-oauth-attestation-based-client-auth §11.1")
def test_attestation_pop_jti_is_single_use(mobile_bff: BFF, attester: LocalAttester) -> None:
    app = new_instance(mobile_bff)
    attestation = attester.attest(APP, app.public_jwk)
    app.register(attestation, app.attestation_pop(app.challenge(), jti="replayed-jti-1"))
    again = new_instance(mobile_bff)
    # the same jti on another instance's fresh PoP, with a fresh challenge
    response = register_raw(again, attester.attest(APP, again.public_jwk),
                            again.attestation_pop(again.challenge(), jti="replayed-jti-1"))
    assert_refused(response, 401, "attestation_pop_replayed")
    assert_not_registered(mobile_bff, again)
    app.unregister()


@pytest.mark.spec("draft-ietf-oauth-attestation-based-client-auth §6")
def test_attestation_challenge_is_single_use(mobile_bff: BFF, attester: LocalAttester) -> None:
    app = new_instance(mobile_bff)
    challenge = app.challenge()
    app.register(attester.attest(APP, app.public_jwk), app.attestation_pop(challenge))
    again = new_instance(mobile_bff)
    response = register_raw(again, attester.attest(APP, again.public_jwk),
                            again.attestation_pop(challenge))
    assert_refused(response, 401, "attestation_challenge_used")
    assert_not_registered(mobile_bff, again)
    app.unregister()


def test_register_without_attestation_headers(mobile_bff: BFF) -> None:
    app = new_instance(mobile_bff)
    response = app.http.post(app.base_url + "/bff/mobile/register")
    assert_refused(response, 401, "invalid_client_attestation")


# -- instance-bound sessions ----------------------------------------------------------------


@pytest.fixture(scope="module")
def two_signed_in(mobile_bff: BFF, attester: LocalAttester) -> Iterator[tuple[AppInstance,
                                                                             AppInstance]]:
    one = AppInstance(mobile_bff.url, public_url=mobile_bff.config.settings.server.public_url)
    two = AppInstance(mobile_bff.url, public_url=mobile_bff.config.settings.server.public_url)
    for app in (one, two):
        app.register(attester.attest(APP, app.public_jwk))
        with ASBrowser() as browser:
            app.login_end(browser.authorize(app.login_start(), MOBILE_REDIRECT))
    yield one, two
    for app in (one, two):
        app.close()


@pytest.mark.spec("RFC 9449 §4.3")
def test_handle_with_another_instances_proof(two_signed_in: tuple[AppInstance,
                                                                  AppInstance]) -> None:
    one, two = two_signed_in
    stolen = two.http.get(two.base_url + "/bff/mobile/session", headers={
        "DPoP": two.proof("GET", "/bff/mobile/session", handle=one.handle),
        "Authorization": f"DPoP {one.handle}"})
    assert_refused(stolen, 401, "proof_key_mismatch")
    api = two.http.get(two.base_url + "/api/accounts", headers={
        "DPoP": two.proof("GET", "/api/accounts", handle=one.handle),
        "Authorization": f"DPoP {one.handle}"})
    assert_refused(api, 401, "proof_key_mismatch")
    assert one.session()["isLoggedIn"] is True


@pytest.mark.spec("RFC 9449 §4.3")
def test_proof_bound_to_another_handle(two_signed_in: tuple[AppInstance, AppInstance]) -> None:
    one, _ = two_signed_in
    response = one.http.get(one.base_url + "/bff/mobile/session", headers={
        "DPoP": one.proof("GET", "/bff/mobile/session", handle="another-handle"),
        "Authorization": f"DPoP {one.handle}"})
    assert_refused(response, 401, "proof_invalid")


@pytest.mark.spec("RFC 9449 §11.1")
def test_replayed_proof(two_signed_in: tuple[AppInstance, AppInstance]) -> None:
    one, _ = two_signed_in
    headers = {"DPoP": one.proof("GET", "/bff/mobile/session", handle=one.handle),
               "Authorization": f"DPoP {one.handle}"}
    first = one.http.get(one.base_url + "/bff/mobile/session", headers=headers)
    assert first.status_code == 200, first.text
    assert_refused(one.http.get(one.base_url + "/bff/mobile/session", headers=headers),
                   401, "proof_replayed")


@pytest.mark.spec("RFC 9449 §11.1")
def test_stale_proof(two_signed_in: tuple[AppInstance, AppInstance]) -> None:
    one, _ = two_signed_in
    response = one.http.get(one.base_url + "/bff/mobile/session", headers={
        "DPoP": one.proof("GET", "/bff/mobile/session", handle=one.handle,
                          iat=time.time() - 600),
        "Authorization": f"DPoP {one.handle}"})
    assert_refused(response, 401, "proof_stale")


@pytest.mark.spec("RFC 9449 §9")
def test_proof_without_the_bff_nonce(two_signed_in: tuple[AppInstance, AppInstance]) -> None:
    one, _ = two_signed_in
    saved, one.nonce = one.nonce, None
    response = one.http.get(one.base_url + "/bff/mobile/session", headers={
        "DPoP": one.proof("GET", "/bff/mobile/session", handle=one.handle),
        "Authorization": f"DPoP {one.handle}"})
    one.nonce = saved
    assert_refused(response, 401, "use_proof_nonce")
    assert response.headers["dpop-nonce"]


@pytest.mark.spec("RFC 9449 §4.1")
@pytest.mark.parametrize("path", ["/bff/mobile/session", "/api/accounts"])
def test_call_without_a_proof(two_signed_in: tuple[AppInstance, AppInstance],
                              path: str) -> None:
    one, _ = two_signed_in
    response = one.http.get(one.base_url + path, headers={"Authorization": f"DPoP {one.handle}"})
    assert_refused(response, 401, "proof_required")


@pytest.mark.parametrize("path", ["/bff/mobile/session", "/api/accounts"])
def test_browser_cookie_on_the_mobile_door(mobile_bff: BFF, two_signed_in: tuple[
        AppInstance, AppInstance], path: str) -> None:
    one, _ = two_signed_in
    cookie = f"{mobile_bff.parts.names.session}={one.handle}"
    response = one.http.get(one.base_url + path, headers={
        "DPoP": one.proof("GET", path, handle=one.handle),
        "Authorization": f"DPoP {one.handle}", "Cookie": cookie})
    assert_refused(response, 400, "cookie_on_mobile_door")


@pytest.mark.parametrize("how", ["authorization", "cookie"])
@pytest.mark.parametrize("path", ["/bff/session", "/bff/userinfo"])
def test_mobile_handle_on_the_browser_door(mobile_bff: BFF, two_signed_in: tuple[
        AppInstance, AppInstance], how: str, path: str) -> None:
    one, _ = two_signed_in
    headers = ({"Authorization": f"DPoP {one.handle}"} if how == "authorization"
               else {"Cookie": f"{mobile_bff.parts.names.session}={one.handle}"})
    response = one.http.get(one.base_url + path, headers=headers)
    assert_refused(response, 400, "mobile_credential_on_browser_door")


# -- rate limit -----------------------------------------------------------------------------


def test_registration_beyond_the_rate_limit(stack: Stack, tmp_path: Path,
                                            client_jwk: dict[str, Any],
                                            cookie_jwks: list[dict[str, Any]],
                                            attester: LocalAttester) -> None:
    config = mobile_config(tmp_path, stack, client_jwk, cookie_jwks, attester,
                           registrations_per_hour=2)
    with running_bff(config) as bff:
        apps = [new_instance(bff) for _ in range(3)]
        apps[0].register(attester.attest(APP, apps[0].public_jwk))
        apps[1].register(attester.attest(APP, apps[1].public_jwk))
        response = register_raw(apps[2], attester.attest(APP, apps[2].public_jwk),
                                apps[2].attestation_pop(apps[2].challenge()))
        assert_refused(response, 429, "registration_rate_limited")
        assert_not_registered(bff, apps[2])
        for app in apps[:2]:
            app.unregister()
