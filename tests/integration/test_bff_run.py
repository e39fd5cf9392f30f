"""``bff run`` as operators start it: the ready line, one and two worker processes, a full
session, then the metrics, the log lines and what they must never contain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bff.crypto.keys import generate_seal_jwk
from tests.support.as_login import ASBrowser
from tests.support.cookies import Jar
from tests.support.flows import call, start_login
from tests.support.redis_server import RedisServer
from tests.support.stack import REDIRECT_URI, SPA, Stack

pytestmark = pytest.mark.integration


@dataclass
class Running:
    process: subprocess.Popen[str]
    ready: dict[str, Any]
    stderr: Path

    def log_lines(self) -> list[str]:
        return self.stderr.read_text().splitlines()


def toml_config(stack: Stack, workers: int, redis_url: str) -> str:
    # several workers share nothing but the store: the memory store is refused with them
    store = f'[store]\nbackend = "redis"\nurl = "{redis_url}"\n' if workers > 1 else ""
    return store + f"""
[server]
public_url = "{SPA}"
port = 0
workers = {workers}

[oauth]
issuer = "{stack.issuer}"
client_id = "bff"
client_key_file = "client.jwk"
redirect_uri = "{REDIRECT_URI}"
scope = "openid profile email offline_access accounts payments"
resources = ["{stack.audience}"]

[session]
cookie_key_files = ["cookie.jwk"]

[[routes]]
prefix = "/api"
upstream = "{stack.api_url}"
resource = "{stack.audience}"
"""


@pytest.fixture(params=[1, 2], ids=["one-worker", "two-workers"])
def running(request: pytest.FixtureRequest, stack: Stack, tmp_path: Path,
            client_jwk: dict[str, Any], redis: RedisServer) -> Iterator[Running]:
    (tmp_path / "client.jwk").write_text(json.dumps(client_jwk))
    (tmp_path / "cookie.jwk").write_text(json.dumps(generate_seal_jwk("run1")))
    (tmp_path / "bff.toml").write_text(toml_config(stack, request.param, redis.url))
    stderr = tmp_path / "stderr.log"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("BFF_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    with stderr.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "bff.cli", "run", "--config", str(tmp_path / "bff.toml")],
            stdout=subprocess.PIPE, stderr=err, text=True, env=env, cwd="/")
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the first and only line: ready
        assert line, stderr.read_text()[-2000:]
        yield Running(process, json.loads(line), stderr)
    finally:
        process.terminate()
        process.wait(timeout=20)
        if process.stdout is not None:
            process.stdout.close()


def metric_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def counter_in(metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
               **labels: str) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


def test_full_session_moves_the_metrics_and_logs_one_request_id_per_line(
        running: Running, stack: Stack, client_jwk: dict[str, Any]) -> None:
    ready = running.ready
    assert ready["event"] == "ready" and ready["issuer"] == stack.issuer
    assert ready["store"] == ("memory" if ready["workers"] == 1 else "redis")
    assert ready["session_store"] == "cookie"
    secrets: list[str] = [client_jwk["d"], json.loads(
        (Path(running.stderr).parent / "cookie.jwk").read_text())["k"]]
    jar = Jar()
    # a connection per request, so that with two workers both serve some of the calls
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=ready["url"], timeout=30, headers={"Origin": SPA},
                      limits=no_reuse) as http, \
            ASBrowser() as browser:
        url = start_login(http, jar, returnTo="/accounts")
        callback = browser.authorize(url, REDIRECT_URI)
        query = parse_qs(urlsplit(callback).query)
        secrets += [query["code"][0], query["state"][0]]
        end = call(http, jar, "POST", "/bff/login/end", json={"pageUrl": callback})
        assert end.status_code == 200, end.text
        csrf = end.json()["csrfToken"]
        secrets += [csrf, *jar.cookies.values()]
        for _ in range(3):
            assert call(http, jar, "GET", "/api/accounts").status_code == 200
        assert call(http, jar, "POST", "/bff/refresh").status_code == 403  # no CSRF header
        secrets += list(jar.cookies.values())
        assert call(http, jar, "POST", "/bff/logout", csrf=csrf).status_code == 200
        # a request is counted once its answer is sent: with two workers the scrape can reach
        # the other worker a moment before the last count lands, so wait for it (briefly)
        for _ in range(50):
            metrics = metric_values(http.get("/metrics").text)
            if counter_in(metrics, "bff_http_requests_total", area="bff", status="200") >= 3:
                break
            time.sleep(0.02)

    def counter(name: str, **labels: str) -> float:
        return counter_in(metrics, name, **labels)

    assert counter("bff_events_total", event="login") == 1
    assert counter("bff_events_total", event="logout") == 1
    assert counter("bff_errors_total", code="csrf_failed") == 1
    assert counter("bff_http_requests_total", area="proxy", status="200") == 3
    assert counter("bff_http_requests_total", area="bff", status="200") == 3  # start, end, logout
    assert counter("bff_http_requests_total", area="bff", status="403") == 1
    assert counter("bff_http_request_duration_seconds_count", area="proxy") == 3

    running.process.terminate()
    running.process.wait(timeout=20)
    lines = running.log_lines()
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    # the marker mirror's start and stop belong to the process (with Redis), not to a request
    request_lines = [e for e in entries if e["logger"].startswith("bff")
                     and not e["msg"].startswith("marker mirror")]
    assert len(request_lines) >= 8
    # every line the BFF writes while serving names its request; only uvicorn's process
    # lifecycle lines (started, stopping) belong to no request
    assert all(e.get("request_id") for e in request_lines), [
        e for e in request_lines if not e.get("request_id")]
    assert {e["request_id"] for e in request_lines if e.get("path") == "/api/accounts"}
    text = "\n".join(lines)
    leaked = [s[:12] for s in secrets if s and s in text]
    assert leaked == []
