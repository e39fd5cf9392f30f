"""Request ids end to end: response header, upstream header, every log line of the request."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cookies import Jar
from tests.support.flows import call
from tests.support.stack import BFF, LogCapture, Stack, bff_config, running_bff

pytestmark = pytest.mark.integration


def make_bff(stack: Stack, workdir: Path, client_jwk: dict[str, Any],
             cookie_jwks: list[dict[str, Any]], trust: bool) -> Any:
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks,
                        routes=[{"prefix": "/api", "upstream": stack.api_url,
                                 "resource": stack.audience}],
                        oauth={"resources": [stack.audience]},
                        server={"trust_request_id": trust})
    return running_bff(config)


def bff_lines(logs: LogCapture) -> list[dict[str, Any]]:
    """The BFF's own lines (the test's HTTP client logs into the same process)."""
    lines = [json.loads(line) for line in list(logs.lines)]
    return [line for line in lines if line["logger"].startswith("bff")]


def lines_with_access_line(logs: LogCapture) -> list[dict[str, Any]]:
    """The BFF's lines once the access line is written: it follows the answer's last byte,
    so the client may hold the answer before the server thread has logged it."""
    deadline = time.monotonic() + 5
    while True:
        lines = bff_lines(logs)
        if any(line["msg"] == "request" for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


@pytest.fixture
def bff(stack: Stack, workdir: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]]) -> Iterator[BFF]:
    with make_bff(stack, workdir, client_jwk, cookie_jwks, trust=False) as running:
        yield running


def test_proxied_call_sends_the_request_id_upstream_and_back(
        bff: BFF, signed_in: tuple[httpx.Client, Jar, str], captured_logs: LogCapture) -> None:
    http, jar, _csrf = signed_in
    # the access line of the sign-in's last request is written after its answer was sent:
    # let it land before starting this request's lines
    seen = -1
    while seen != len(captured_logs.lines):
        seen = len(captured_logs.lines)
        time.sleep(0.2)
    captured_logs.lines.clear()
    r = call(http, jar, "GET", "/api/echo/x", headers={"X-Request-Id": "browser-chosen-id"})
    assert r.status_code == 200, r.text
    rid = r.headers["x-request-id"]
    assert rid != "browser-chosen-id"  # not trusted by default
    received = [v for n, v in r.json()["headers"] if n.lower() == "x-request-id"]
    assert received == [rid]
    lines = lines_with_access_line(captured_logs)
    assert lines and all(line.get("request_id") == rid for line in lines)
    assert any(line["msg"] == "request" for line in lines)


def test_error_answers_and_their_log_lines_carry_the_id(bff: BFF,
                                                        captured_logs: LogCapture) -> None:
    with bff.client() as http:
        r = http.post("/bff/refresh")
    assert r.status_code == 401
    rid = r.headers["x-request-id"]
    lines = lines_with_access_line(captured_logs)
    assert {line["msg"] for line in lines} >= {"request failed", "request"}
    assert all(line.get("request_id") == rid for line in lines)


def test_trusted_incoming_id_is_kept_when_well_formed(
        stack: Stack, workdir: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]]) -> None:
    with make_bff(stack, workdir, client_jwk, cookie_jwks, trust=True) as running, \
            running.client() as http:
        kept = http.get("/bff/session", headers={"X-Request-Id": "lb-7f3a9c01"})
        replaced = http.get("/bff/session", headers={"X-Request-Id": "bad id\u00e9".encode()})
    assert kept.headers["x-request-id"] == "lb-7f3a9c01"
    assert replaced.headers["x-request-id"] not in ("bad id", "")
    assert len(replaced.headers.get_list("x-request-id")) == 1
