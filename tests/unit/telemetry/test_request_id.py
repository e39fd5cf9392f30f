"""Request ids: chosen, scoped to the request, on every log line (unit level)."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bff.telemetry.access import RequestTelemetry
from bff.telemetry.logging import JSONFormatter
from bff.telemetry.request_id import (
    WELL_FORMED,
    choose_request_id,
    current_request_id,
    request_id,
)


def test_incoming_id_is_ignored_unless_trusted() -> None:
    assert choose_request_id(b"lb-0123456789", trust_incoming=False) != "lb-0123456789"
    assert choose_request_id(b"lb-0123456789", trust_incoming=True) == "lb-0123456789"


@pytest.mark.parametrize("incoming", [
    b"short", b"x" * 65, b"abc def ghi", b"line\nbreak-forged", b'quote"inside1',
    b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", b"eyJhbGciOi.eyJzdWIi.sig/+=", b""])
def test_malformed_incoming_id_is_replaced(incoming: bytes) -> None:
    chosen = choose_request_id(incoming, trust_incoming=True)
    assert chosen.encode() != incoming and WELL_FORMED.fullmatch(chosen)


@given(st.binary(max_size=100))
def test_any_chosen_id_is_well_formed(incoming: bytes) -> None:
    assert WELL_FORMED.fullmatch(choose_request_id(incoming, trust_incoming=True))


def test_fresh_ids_differ() -> None:
    assert len({choose_request_id(None, trust_incoming=False) for _ in range(100)}) == 100


def run_middleware(headers: list[tuple[bytes, bytes]], trust: bool) -> tuple[
        list[dict[str, object]], list[str | None]]:
    seen: list[str | None] = []
    sent: list[dict[str, object]] = []

    async def app(scope: object, receive: object, send: object) -> None:
        seen.append(current_request_id())
        await send({"type": "http.response.start", "status": 200,  # type: ignore[operator]
                    "headers": [(b"x-request-id", b"from-the-app-0001")]})

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    async def receive() -> dict[str, object]:
        return {"type": "http.request"}

    mw = RequestTelemetry(app, trust_incoming=trust, log_lines=False)  # type: ignore[arg-type]
    scope = {"type": "http", "method": "GET", "path": "/x", "headers": headers}
    asyncio.run(mw(scope, receive, send))  # type: ignore[arg-type]
    return sent, seen


def test_response_carries_the_id_the_request_ran_with() -> None:
    sent, seen = run_middleware([(b"x-request-id", b"trusted-lb-id-42")], trust=True)
    headers = sent[0]["headers"]
    assert isinstance(headers, list)
    ids = [v for n, v in headers if n == b"x-request-id"]
    assert ids == [b"trusted-lb-id-42"] and seen == ["trusted-lb-id-42"]
    assert current_request_id() is None  # reset once the request is over


def test_log_line_carries_the_request_id() -> None:
    record = logging.LogRecord("bff.test", logging.INFO, __file__, 1, "hello", None, None)
    formatter = JSONFormatter()
    assert "request_id" not in json.loads(formatter.format(record))
    token = request_id.set("abcdef0123456789")
    try:
        assert json.loads(formatter.format(record))["request_id"] == "abcdef0123456789"
    finally:
        request_id.reset(token)
