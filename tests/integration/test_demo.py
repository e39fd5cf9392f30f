"""``bff demo``, the README's first command: it starts everything, works, and stops cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bff.crypto.keys import seal_key_from_jwk
from bff.crypto.seal import Sealer
from bff.sessions.model import Session
from tests.support.as_login import ASBrowser
from tests.support.cookies import Jar
from tests.support.demo import start_demo
from tests.support.flows import call, login

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def demo(port: int, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bff.cli", "demo", "--port", str(port)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, **(env or {})})


def test_demo_starts_serves_and_stops() -> None:
    """The demo prints the URL; a user signs in and reads accounts; SIGINT stops every part."""
    process, port, text = start_demo()
    try:
        assert f"http://localhost:{port}/" in text, text
        assert "alice" in text
        issuer = re.search(r"Authorization server: (\S+)", text)
        assert issuer
        base = f"http://localhost:{port}"
        with httpx.Client(base_url=base, headers={"Origin": base}, timeout=30) as http, \
                ASBrowser() as browser:
            page = http.get("/")
            assert page.status_code == 200 and "app.js" in page.text
            jar = Jar()
            login(http, jar, browser, redirect_uri=f"{base}/")
            accounts = call(http, jar, "GET", "/api/accounts")
            assert accounts.status_code == 200, accounts.text
            assert accounts.json()["accounts"][0]["id"] == "acc-1"
            # the real process's JSON logs (access log included) hold no secret of this session
            key = json.loads((REPO / ".demo" / "cookie.jwk").read_text())
            sealed = jar.cookies["__Host-bff-session"]
            session = Session.from_bytes(Sealer([seal_key_from_jwk(key)]).open(
                sealed, "__Host-bff-session"))
            log_file = REPO / ".demo" / "bff.log"
            deadline = time.monotonic() + 5
            while '"path":"/api/accounts"' not in log_file.read_text():
                # the access-log line is written just after the response goes out
                assert time.monotonic() < deadline, "the access log recorded the call"
                time.sleep(0.05)
            logs = log_file.read_text()
            secrets = [sealed, session.csrf_token, session.refresh_token,
                       *[t.token for t in session.tokens.values()], session.dpop_jwk["d"]]
            for secret in secrets:
                assert secret and secret not in logs
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0
        time.sleep(0.5)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{issuer.group(1)}/.well-known/openid-configuration", timeout=2)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{base}/healthz", timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


def test_demo_port_in_use_is_a_clear_message() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = demo(port)
        out, _ = process.communicate(timeout=30)
    assert process.returncode == 1
    assert f"port {port} is in use" in out
    assert "Traceback" not in out


def test_demo_without_node_is_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    process, _, out = start_demo(env={"PATH": str(tmp_path / "bin")})
    process.communicate(timeout=30)
    assert process.returncode == 1
    assert "Node.js is required" in out
    assert "Traceback" not in out
