"""``/readyz`` follows the authorization server going away and coming back (issue item 22)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bff.devstack import Child
from tests.support.forwarder import SwitchableForwarder
from tests.support.stack import bff_config, running_bff, running_stack

pytestmark = pytest.mark.integration


def wait_ready(http: httpx.Client, status: int, within: float) -> dict[str, Any]:
    """Poll /readyz until it answers ``status``; the body of that answer."""
    deadline = time.monotonic() + within
    while True:
        r = http.get("/readyz")
        if r.status_code == status:
            body: dict[str, Any] = r.json()
            return body
        assert time.monotonic() < deadline, f"/readyz stayed {r.status_code}: {r.text}"
        time.sleep(0.1)


def test_readyz_follows_the_authorization_server(
        tmp_path_factory: pytest.TempPathFactory, workdir: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]]) -> None:
    """The AS stopped: 503 within a few seconds (not the cached metadata); back: 200 again."""
    forwarder = SwitchableForwarder()
    forwarder.up()
    try:
        def aim(authz: Child) -> None:
            forwarder.target_port = int(authz.ready["port"])

        with running_stack(tmp_path_factory.mktemp("ready"), client_jwk,
                           issuer=f"http://127.0.0.1:{forwarder.port}", on_as_ready=aim) as own:
            config = bff_config(workdir, own.issuer, client_jwk, cookie_jwks)
            with running_bff(config) as bff, bff.client() as http:
                body = wait_ready(http, 200, within=5)
                assert body["checks"] == {"authorization_server": "ok", "store": "ok"}
                forwarder.down()
                started = time.monotonic()
                body = wait_ready(http, 503, within=6)
                assert time.monotonic() - started < 6
                assert body["checks"]["authorization_server"] in ("as_unreachable", "as_timeout")
                assert body["checks"]["store"] == "ok"
                # cached: asking again at once does not reach for the AS again, and is fast
                quick = time.monotonic()
                assert http.get("/readyz").status_code == 503
                assert time.monotonic() - quick < 0.5
                forwarder.up()
                body = wait_ready(http, 200, within=6)
                assert body["checks"]["authorization_server"] == "ok"
    finally:
        forwarder.close()
