"""``server.workers = 2``: two processes on one port, sharing only Redis."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bff.crypto.keys import generate_seal_jwk
from bff.devstack import Child, free_port, start_bff, write_toml
from tests.support.as_login import ASBrowser
from tests.support.cookies import Jar
from tests.support.flows import call, login
from tests.support.redis_server import RedisServer
from tests.support.stack import Stack, running_stack

pytestmark = pytest.mark.integration
SCOPE = "openid profile email offline_access accounts payments"


def _cmdline(entry: Path) -> bytes:
    try:
        return (entry / "cmdline").read_bytes()
    except OSError:
        return b""


def children_of(pid: int) -> list[int]:
    """The worker processes of ``pid`` (not multiprocessing's resource tracker)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and b"resource_tracker" not in _cmdline(entry):
                out.append(int(entry.name))
    return out


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory,
           client_jwk: dict[str, Any]) -> Iterator[tuple[Stack, Child, Path]]:
    workdir = tmp_path_factory.mktemp("workers")
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    with RedisServer() as redis, running_stack(workdir, client_jwk,
                                              redirect_uris=[f"{public}/"]) as stack:
        (workdir / "client.jwk").write_text(json.dumps(client_jwk))
        (workdir / "cookie.jwk").write_text(json.dumps(generate_seal_jwk("k")))
        write_toml(workdir / "bff.toml", {
            "server": {"public_url": public, "log_level": "warning", "workers": 2,
                       "metrics": False},
            "oauth": {"issuer": stack.issuer, "client_id": "bff", "client_key_file": "client.jwk",
                      "redirect_uri": f"{public}/", "resources": [stack.audience],
                      "scope": SCOPE},
            "session": {"cookie_key_files": ["cookie.jwk"]},
            "store": {"backend": "redis", "url": redis.url},
            "routes": [{"prefix": "/api", "upstream": stack.api_url,
                        "resource": stack.audience}],
        })
        bff = start_bff(workdir / "bff.toml", port, log_file=workdir / "bff.log")
        try:
            yield stack, bff, workdir
        finally:
            bff.stop()


def test_two_workers_serve_one_port(served: tuple[Stack, Child, Path]) -> None:
    _, bff, _ = served
    deadline = time.monotonic() + 10
    while len(children_of(bff.process.pid)) < 2:
        assert time.monotonic() < deadline, "two workers never appeared"
        time.sleep(0.05)
    assert len(children_of(bff.process.pid)) == 2
    url = bff.ready["url"]
    for _ in range(20):  # a new connection each time: either worker may take it
        assert httpx.get(f"{url}/healthz").status_code == 200


def test_login_and_api_calls_across_workers(served: tuple[Stack, Child, Path]) -> None:
    """The login transaction, the session checks and the logout markers live in Redis, so
    whichever worker takes each call gives the same answers."""
    _, bff, _ = served
    url = bff.ready["url"]
    browser = ASBrowser()
    jar = Jar()
    try:
        with httpx.Client(base_url=url, headers={"Origin": url}, timeout=30) as http:
            body = login(http, jar, browser, redirect_uri=f"{url}/")
            for _ in range(6):
                with httpx.Client(base_url=url, headers={"Origin": url}, timeout=30) as fresh:
                    assert call(fresh, jar, "GET", "/api/accounts").status_code == 200
            assert call(http, jar, "POST", "/bff/logout",
                        csrf=body["csrfToken"]).status_code == 200
    finally:
        browser.close()


def test_granian_workers_answer_proxied_calls(served: tuple[Stack, Child, Path]) -> None:
    """``bff run`` on granian: a signed-in proxied call is answered by each worker (a worker
    forked while the ready probe held an import lock hung on its first upstream connect)."""
    _, first, workdir = served
    port = free_port()
    (workdir / "granian-proxy.toml").write_text(
        (workdir / "bff.toml").read_text()
        .replace("workers = 2", 'workers = 2\nengine = "granian"')
        .replace(str(first.ready["port"]), str(port)))
    bff = start_bff(workdir / "granian-proxy.toml", port, log_file=workdir / "granian-proxy.log")
    browser = ASBrowser()
    jar = Jar()
    try:
        origin = first.ready["url"]  # signed in on the first BFF: the same keys and store
        with httpx.Client(base_url=origin, headers={"Origin": origin}, timeout=30) as http:
            login(http, jar, browser, redirect_uri=f"{origin}/")
        url = bff.ready["url"]
        for _ in range(6):  # a new connection each time: either worker may take it
            with httpx.Client(base_url=url, headers={"Origin": url}, timeout=5) as fresh:
                assert call(fresh, jar, "GET", "/api/accounts").status_code == 200
    finally:
        browser.close()
        bff.stop()


def test_a_second_run_on_the_port_still_fails(served: tuple[Stack, Child, Path]) -> None:
    _, bff, workdir = served
    other = subprocess.run(
        [sys.executable, "-m", "bff.cli", "run", "--config", str(workdir / "bff.toml"),
         "--port", str(bff.ready["port"])], capture_output=True, text=True, timeout=60,
        check=False)
    assert other.returncode != 0
    assert "address already in use" in other.stderr.lower()


def test_memory_store_with_workers_is_refused(tmp_path: Path,
                                              client_jwk: dict[str, Any]) -> None:
    (tmp_path / "client.jwk").write_text(json.dumps(client_jwk))
    (tmp_path / "cookie.jwk").write_text(json.dumps(generate_seal_jwk("k")))
    write_toml(tmp_path / "bff.toml", {
        "server": {"public_url": "http://127.0.0.1:8000", "workers": 2, "metrics": False},
        "oauth": {"issuer": "http://127.0.0.1:9/", "client_id": "bff",
                  "client_key_file": "client.jwk", "redirect_uri": "http://127.0.0.1:8000/"},
        "session": {"cookie_key_files": ["cookie.jwk"]},
    })
    out = subprocess.run([sys.executable, "-m", "bff.cli", "run", "--config",
                          str(tmp_path / "bff.toml")], capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 2
    assert "server.workers" in out.stderr and "store.backend = redis" in out.stderr


def test_sigterm_stops_every_worker(served: tuple[Stack, Child, Path]) -> None:
    _, bff, _ = served
    workers = children_of(bff.process.pid)
    assert workers
    os.kill(bff.process.pid, signal.SIGTERM)
    bff.process.wait(15)
    deadline = time.monotonic() + 5
    while any(Path(f"/proc/{pid}").exists() and "Z" not in _state(pid) for pid in workers):
        assert time.monotonic() < deadline, "a worker outlived the parent's SIGTERM"
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_granian_engine_serves_and_stops_on_sigterm(served: tuple[Stack, Child, Path]) -> None:
    """``server.engine = "granian"`` with two workers: the same app, lifespan and signals."""
    _, first, workdir = served
    config = (workdir / "bff.toml").read_text()
    port = free_port()
    (workdir / "granian.toml").write_text(
        config.replace("workers = 2", 'workers = 2\nengine = "granian"')
        .replace(str(first.ready["port"]), str(port)))
    bff = start_bff(workdir / "granian.toml", port, log_file=workdir / "granian.log")
    try:
        url = bff.ready["url"]
        assert httpx.get(f"{url}/healthz").status_code == 200
        r = httpx.get(f"{url}/api/accounts", headers={"Origin": url})
        assert (r.status_code, r.json()["error"]) == (401, "session_required")
        os.kill(bff.process.pid, signal.SIGTERM)
        assert bff.process.wait(20) == 0
    finally:
        bff.stop()
