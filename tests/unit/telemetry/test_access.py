"""The outermost layer: one access-log line and the request metrics per request (unit level)."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from bff.telemetry.access import RequestTelemetry
from bff.telemetry.logging import JSONFormatter
from bff.telemetry.metrics import METRICS


async def _teapot(scope: object, receive: object, send: object) -> None:
    await send({"type": "http.response.start", "status": 418, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]


class _Lines(logging.Handler):
    """Formats each record as it is emitted, as the BFF's stream handler does."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JSONFormatter())
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


def test_one_line_with_the_id_and_status_and_no_query() -> None:
    layer = RequestTelemetry(_teapot, is_proxied=lambda p: p.startswith("/api"))  # type: ignore[arg-type]
    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/api/x", "query_string": b"code=secret",
             "headers": [], "client": ("10.0.0.9", 1)}
    before = METRICS.requests.values.get((("area", "proxy"), ("status", "418")), 0.0)
    logger, handler = logging.getLogger("bff.access"), _Lines()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        asyncio.run(layer(scope, None, send))  # type: ignore[arg-type]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    lines = handler.lines
    assert len(lines) == 1
    line = lines[0]
    rid = dict(sent[0]["headers"])[b"x-request-id"].decode()  # type: ignore[call-overload]
    assert (line["status"], line["path"], line["request_id"]) == (418, "/api/x", rid)
    assert "secret" not in json.dumps(line)
    assert METRICS.requests.values[(("area", "proxy"), ("status", "418"))] == before + 1


def test_no_line_when_access_logging_is_off(caplog: pytest.LogCaptureFixture) -> None:
    layer = RequestTelemetry(_teapot, log_lines=False)  # type: ignore[arg-type]

    async def send(message: object) -> None:
        return None

    with caplog.at_level(logging.INFO, logger="bff.access"):
        asyncio.run(layer({"type": "http", "method": "GET", "path": "/", "headers": []},
                          None, send))  # type: ignore[arg-type]
    assert not [r for r in caplog.records if r.name == "bff.access"]
