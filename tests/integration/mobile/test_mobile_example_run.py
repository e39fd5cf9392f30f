"""mobile-example/run.py itself, end to end: the scripted app instance against a real stack.

The test starts the dev AS, the example API and a BFF with the mobile door on (as
``bff demo --mobile`` does), then runs run.py as a subprocess with the Chromium sign-in and
checks its output and what the BFF and the AS hold afterwards (and once with ``--browser http``).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.integration.mobile.conftest import MOBILE_REDIRECT, REPO, LocalAttester
from tests.support.stack import BFF, Stack

pytestmark = pytest.mark.integration

RUN = REPO / "mobile-example" / "run.py"


def client_is_known_at_the_as(issuer: str, client_id: str) -> bool:
    """Whether the AS's authorization endpoint still knows ``client_id``."""
    answer = httpx.get(f"{issuer}/auth", params={
        "client_id": client_id, "response_type": "code", "redirect_uri": MOBILE_REDIRECT,
        "scope": "openid"}, timeout=10)
    return "invalid_client" not in answer.text


def events(records: list[logging.LogRecord], name: str) -> list[logging.LogRecord]:
    return [r for r in records if getattr(r, "event", None) == name]


@pytest.mark.spec("RFC 8252 §7.2")
@pytest.mark.parametrize("browser", [pytest.param("chromium", marks=pytest.mark.e2e), "http"])
def test_run_py_registers_signs_in_calls_the_api_and_unregisters(
        mobile_bff: BFF, stack: Stack, attester: LocalAttester, tmp_path: Path,
        caplog: pytest.LogCaptureFixture, browser: str) -> None:
    key_file = tmp_path / "attester-private.jwk"
    key_file.write_text(json.dumps({**attester.key.as_dict(private=True), "kid": attester.kid}))
    caplog.set_level(logging.INFO)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "devstack")])}
    done = subprocess.run(
        [sys.executable, str(RUN), "--bff", mobile_bff.url,
         "--public-url", mobile_bff.config.settings.server.public_url,
         "--attester-key", str(key_file), "--browser", browser],
        capture_output=True, text=True, timeout=45, env=env, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    out = done.stdout

    instance_id = out.split("registered, instanceId = ", 1)[1].split()[0]
    assert f"signed in through {browser}" in out
    assert "signed in as alice" in out
    assert "GET /api/accounts -> 200" in out, out
    assert "'isLoggedIn': True" in lines["refresh"]
    assert "logoutUrl" in lines["logout"]
    assert "unregister -> {'deleted': True}" in out

    registered = events(caplog.records, "mobile_register")
    deleted = events(caplog.records, "mobile_unregister")
    assert len(registered) == 1 and len(events(caplog.records, "mobile_login")) == 1
    client_id = registered[0].client_id  # type: ignore[attr-defined]
    assert [r.client_id for r in deleted] == [client_id]  # type: ignore[attr-defined]
    assert client_id != mobile_bff.config.settings.oauth.client_id
    registry = mobile_bff.parts.mobile.registry  # type: ignore[union-attr]
    assert mobile_bff.run(registry.load(instance_id)) is None
    assert not client_is_known_at_the_as(stack.issuer, client_id)
    assert client_is_known_at_the_as(stack.issuer, mobile_bff.config.settings.oauth.client_id)
