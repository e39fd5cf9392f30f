"""Registration with an Apple App Attest attestation object, end to end against the real dev AS.

The tests play Apple's App Attest service under their own root CA (tests/support/app_attest.py),
handed to the BFF through ``insecure.app_attest_roots_file``; Apple's root stays the default.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from bff.crypto.keys import thumbprint
from bff.mobile.apple import AAGUID_DEVELOPMENT
from tests.integration.mobile.conftest import (
    APP,
    MOBILE_REDIRECT,
    AppInstance,
    LocalAttester,
    mobile_config,
    new_instance,
)
from tests.support.app_attest import AppAttestService
from tests.support.as_login import ASBrowser
from tests.support.stack import BFF, Stack, running_bff

pytestmark = pytest.mark.integration

TEAM = "ABCDE12345"
IOS_APP = "com.example.bank.ios"  # mode "platform": the attestation object alone
BOTH_APP = "com.example.bank.ios.strict"  # mode "both": attester JWT and attestation object


@pytest.fixture(scope="module")
def apple() -> AppAttestService:
    return AppAttestService()


@pytest.fixture(scope="module")
def attest_bff(stack: Stack, tmp_path_factory: pytest.TempPathFactory,
               client_jwk: dict[str, Any], cookie_jwks: list[dict[str, Any]],
               attester: LocalAttester, apple: AppAttestService) -> Iterator[BFF]:
    workdir = tmp_path_factory.mktemp("appattest")
    apple.write_root(workdir / "app-attest-root.pem")
    config = mobile_config(
        workdir, stack, client_jwk, cookie_jwks, attester, registrations_per_hour=1000,
        insecure={"app_attest_roots_file": "app-attest-root.pem"},
        apps=[APP, IOS_APP, BOTH_APP],
        app_attest=[{"app": IOS_APP, "team_id": TEAM, "bundle_id": IOS_APP},
                    {"app": BOTH_APP, "team_id": TEAM, "bundle_id": BOTH_APP,
                     "environment": "development", "mode": "both"}])
    with running_bff(config) as running:
        yield running


def refused(app: AppInstance, attest: Any, code: str, bff: BFF,
            attestation: str | None = None) -> None:
    with pytest.raises(Exception) as caught:
        app.register_with_app_attest(attest, attestation)
    assert getattr(caught.value, "code", None) == code, caught.value
    assert getattr(caught.value, "status", None) == 401
    registry = bff.parts.mobile.registry  # type: ignore[union-attr]
    assert bff.run(registry.load(thumbprint(app.public_jwk))) is None, "nothing registered"


@pytest.mark.spec("Apple App Attest: validating apps that connect to your server")
def test_app_attest_instance_registers_signs_in_and_calls_the_api(
        attest_bff: BFF, apple: AppAttestService) -> None:
    device = apple.device(f"{TEAM}.{IOS_APP}")
    app = new_instance(attest_bff)
    instance_id = app.register_with_app_attest(device.attest_key)
    registry = attest_bff.parts.mobile.registry  # type: ignore[union-attr]
    instance = attest_bff.run(registry.load(instance_id))
    assert instance.app == IOS_APP and instance_id == thumbprint(app.public_jwk)
    with ASBrowser() as browser:
        app.login_end(browser.authorize(app.login_start(), MOBILE_REDIRECT))
    assert app.api("GET", "/api/accounts").status_code == 200
    assert app.unregister() == {"deleted": True}


def test_app_attest_chain_from_another_root_is_refused(attest_bff: BFF) -> None:
    stranger = AppAttestService().device(f"{TEAM}.{IOS_APP}")
    refused(new_instance(attest_bff), stranger.attest_key, "platform_chain_untrusted", attest_bff)


def test_app_attest_for_an_unconfigured_app_is_refused(attest_bff: BFF,
                                                       apple: AppAttestService) -> None:
    other = apple.device(f"{TEAM}.com.example.other")
    refused(new_instance(attest_bff), other.attest_key, "platform_app_mismatch", attest_bff)


def test_app_attest_object_bound_to_another_instance_key_is_refused(
        attest_bff: BFF, apple: AppAttestService) -> None:
    """An object made for another challenge or instance key does not carry this client data."""
    device = apple.device(f"{TEAM}.{IOS_APP}")
    made = device.attest_key(hashlib.sha256(b"another-challenge.another-jkt").digest())
    refused(new_instance(attest_bff), lambda _hash: made, "platform_nonce_mismatch", attest_bff)


def test_app_attest_in_the_wrong_environment_is_refused(attest_bff: BFF,
                                                        apple: AppAttestService) -> None:
    development = apple.device(f"{TEAM}.{IOS_APP}", aaguid=AAGUID_DEVELOPMENT)
    refused(new_instance(attest_bff), development.attest_key, "platform_attestation_invalid",
            attest_bff)


def test_attester_jwt_alone_is_refused_for_an_app_attest_app(
        attest_bff: BFF, attester: LocalAttester) -> None:
    app = new_instance(attest_bff)
    with pytest.raises(Exception) as caught:
        app.register(attester.attest(IOS_APP, app.public_jwk))
    assert getattr(caught.value, "code", None) == "platform_attestation_required"


def test_mode_both_needs_the_attester_jwt_as_well(attest_bff: BFF, apple: AppAttestService,
                                                  attester: LocalAttester) -> None:
    device = apple.device(f"{TEAM}.{BOTH_APP}", aaguid=AAGUID_DEVELOPMENT)
    refused(new_instance(attest_bff), device.attest_key, "attester_attestation_required",
            attest_bff)
    app = new_instance(attest_bff)
    app.register_with_app_attest(device.attest_key, attester.attest(BOTH_APP, app.public_jwk))
    registry = attest_bff.parts.mobile.registry  # type: ignore[union-attr]
    assert attest_bff.run(registry.load(app.instance_id or "")).app == BOTH_APP
    app.unregister()


def test_attester_jwt_for_another_app_than_the_attestation_object_is_refused(
        attest_bff: BFF, apple: AppAttestService, attester: LocalAttester) -> None:
    device = apple.device(f"{TEAM}.{BOTH_APP}", aaguid=AAGUID_DEVELOPMENT)
    app = new_instance(attest_bff)
    refused(app, device.attest_key, "platform_app_mismatch", attest_bff,
            attester.attest(IOS_APP, app.public_jwk))
