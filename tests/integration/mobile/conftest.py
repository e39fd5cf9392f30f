"""A BFF with the mobile door on, against the real dev AS (DCR with its initial access token)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import BFF, Stack, bff_config, running_bff

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "mobile-example"))

from app_instance import AppInstance  # noqa: E402
from attester import LocalAttester  # noqa: E402
from system_browser import authorize_in_chromium, chromium  # noqa: E402

__all__ = ["AppInstance", "LocalAttester", "authorize_in_chromium", "chromium"]

APP = "com.example.bank"
MOBILE_REDIRECT = "https://app.example.com/mobile/callback"


@pytest.fixture(scope="module")
def attester() -> LocalAttester:
    return LocalAttester()


def mobile_config(workdir: Path, stack: Stack, client_jwk: dict[str, Any],
                  cookie_jwks: list[dict[str, Any]], attester: LocalAttester,
                  insecure: dict[str, Any] | None = None,
                  server: dict[str, Any] | None = None, **mobile: Any) -> Any:
    attester.write_public_jwk(workdir / "attester.jwk")
    (workdir / "iat.txt").write_text("dev-iat-secret\n")
    return bff_config(
        workdir, stack.issuer, client_jwk, cookie_jwks,
        routes=[{"prefix": "/api", "upstream": stack.api_url, "resource": stack.audience}],
        oauth={"resources": [stack.audience]}, session={"store": "server"},
        mobile={"enabled": True, "redirect_uri": MOBILE_REDIRECT, "apps": [APP],
                "attesters": [{"kid": attester.kid, "jwk_file": "attester.jwk"}],
                "initial_access_token_file": "iat.txt", **mobile}, insecure=insecure or {},
        server=server or {})


@pytest.fixture(scope="module")
def mobile_bff(stack: Stack, tmp_path_factory: pytest.TempPathFactory,
               client_jwk: dict[str, Any], cookie_jwks: list[dict[str, Any]],
               attester: LocalAttester) -> Iterator[BFF]:
    workdir = tmp_path_factory.mktemp("mobile")
    config = mobile_config(workdir, stack, client_jwk, cookie_jwks, attester,
                           registrations_per_hour=1000)
    with running_bff(config) as running:
        yield running


_OPEN: list[AppInstance] = []


@pytest.fixture(autouse=True)
def _close_instances() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def new_instance(bff: BFF) -> AppInstance:
    app = AppInstance(bff.url, public_url=bff.config.settings.server.public_url)
    _OPEN.append(app)
    return app


def registered(bff: BFF, attester: LocalAttester) -> AppInstance:
    app = new_instance(bff)
    app.register(attester.attest(APP, app.public_jwk))
    return app
