"""``bff demo --gateway``: the same demo with the phantom-token gateway in front of the API."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from bff.devstack import GATEWAY_ISSUER
from tests.support.as_login import ASBrowser
from tests.support.cookies import Jar
from tests.support.demo import start_demo
from tests.support.flows import call, login

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_demo_with_the_gateway_serves_api_calls_as_gateway_jwts() -> None:
    process, port, text = start_demo("--gateway")
    try:
        gateway = re.search(r"Gateway: +(\S+)", text)
        assert gateway, text
        base = f"http://localhost:{port}"
        with httpx.Client(base_url=base, headers={"Origin": base}, timeout=30) as http, \
                ASBrowser() as browser:
            jar = Jar()
            login(http, jar, browser, redirect_uri=f"{base}/")
            accounts = call(http, jar, "GET", "/api/accounts")
            assert accounts.status_code == 200, accounts.text
            echoed = call(http, jar, "GET", "/api/echo/demo")
        assert echoed.status_code == 200, echoed.text
        scheme, _, forwarded = dict(echoed.json()["headers"])["authorization"].partition(" ")
        keys = KeySet.import_key_set(json.loads(
            (REPO / ".demo" / "gateway-signing.jwks").read_text()))
        assert scheme == "Bearer"
        assert jwt.decode(forwarded, keys, algorithms=["ES256"]).claims["iss"] == GATEWAY_ISSUER
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0
        time.sleep(0.5)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{gateway.group(1)}/__gateway/stats", timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()
