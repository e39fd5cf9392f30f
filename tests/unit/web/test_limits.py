"""Request limits in-process: the head-limit middleware and the back-channel form reader."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bff.web.backchannel import backchannel_route
from bff.web.limits import HeadLimitGuard, HeadLimits

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def ok(request: Request) -> Response:
    return Response("ok")


def guarded(limits: HeadLimits) -> httpx.AsyncClient:
    app = HeadLimitGuard(Starlette(routes=[Route("/", ok)]), limits)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.mark.spec("RFC 6585 §5")
@pytest.mark.anyio
@pytest.mark.parametrize("headers", [
    {f"x-h{i}": "1" for i in range(30)},
    {"x-big": "a" * 20_000},
], ids=["count", "bytes"])
async def test_guard_refuses_heads_beyond_the_limits(headers: dict[str, str]) -> None:
    """Behind another ASGI server, the same limits answer 431 with the JSON error model."""
    async with guarded(HeadLimits(max_count=20, max_bytes=16 * 1024)) as http:
        r = await http.get("/", headers=headers)
    assert r.status_code == 431
    assert r.json() == {"error": "headers_too_large",
                        "error_description": "the request headers are too many or too large"}
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.anyio
async def test_guard_passes_heads_within_the_limits() -> None:
    async with guarded(HeadLimits(max_count=20, max_bytes=16 * 1024)) as http:
        r = await http.get("/", headers={"x-big": "a" * 10_000})
    assert (r.status_code, r.text) == (200, "ok")


class Recorder:
    """A back-channel receiver that records what it was given."""

    def __init__(self) -> None:
        self.forms: list[dict[str, str]] = []

    async def receive(self, form: dict[str, str]) -> None:
        self.forms.append(form)


def backchannel(recorder: Recorder) -> httpx.AsyncClient:
    app = Starlette(routes=[backchannel_route(recorder, "/bff")])  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.mark.spec("RFC 6749 §3.1")
@pytest.mark.anyio
@pytest.mark.parametrize("body", [
    "logout_token=a&logout_token=b",
    "logout_token=a&logout_token=",
    "logout_token=&logout_token=b",
    "logout_token=a&x=1&logout_token=a",
    "logout_token=a&" + "&".join(f"f{i}=1" for i in range(20)),
    "logout_token",
    "logout_token=%FF%FE&x=\u00e9",
])
async def test_repeated_or_malformed_form_is_refused(body: str) -> None:
    """No "last wins": a repeated parameter, a field flood or a broken form is a 400."""
    recorder = Recorder()
    async with backchannel(recorder) as http:
        r = await http.post("/bff/backchannel-logout", content=body.encode(), headers=FORM)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_logout_token")
    assert recorder.forms == []


@pytest.mark.anyio
async def test_single_logout_token_is_passed_on() -> None:
    recorder = Recorder()
    async with backchannel(recorder) as http:
        r = await http.post("/bff/backchannel-logout", content=b"logout_token=a.b.c",
                            headers=FORM)
    assert r.status_code == 200
    assert recorder.forms == [{"logout_token": "a.b.c"}]


@pytest.mark.spec("RFC 9110 §15.5.14")
@pytest.mark.anyio
@pytest.mark.parametrize("declared", [True, False])
async def test_form_above_32_kib_is_413(declared: bool) -> None:
    recorder = Recorder()
    body = b"logout_token=" + b"a" * (32 * 1024)

    async def stream() -> Any:
        yield body

    async with backchannel(recorder) as http:
        r = await http.post("/bff/backchannel-logout", headers=FORM,
                            content=body if declared else stream())
    assert r.status_code == 413
    assert json.loads(r.content)["error"] == "payload_too_large"
    assert recorder.forms == []
