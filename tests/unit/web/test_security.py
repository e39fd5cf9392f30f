"""The Origin guard and CORS in process (raw ASGI, no sockets)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from bff.web.security import OriginGuard

OWN = "https://bff.test"
APP = "https://app.test"


async def _inner(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-app", b"1")]})
    await send({"type": "http.response.body", "body": b"ok"})


def call(method: str, path: str = "/bff/logout", **headers: str
         ) -> tuple[int, dict[bytes, bytes], bytes]:
    guard = OriginGuard(_inner, own_origin=OWN + "/", cors_origins=[APP],
                        exempt_paths=("/bff/backchannel-logout", "/bff/mobile/"),
                        proof_calls_exempt=True)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path,
             "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]}
    asyncio.run(guard(scope, None, send))  # type: ignore[arg-type]
    return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]


@pytest.mark.spec("RFC 6454 §7.3")
@pytest.mark.parametrize("origin", [None, "https://evil.test", "null", APP + ".evil.test"])
def test_unsafe_methods_need_an_allowed_origin(origin: str | None) -> None:
    headers = {"origin": origin} if origin else {}
    status, _, body = call("POST", **headers)
    assert (status, json.loads(body)["error"]) == (403, "origin_not_allowed")


def test_the_own_origin_and_app_origins_pass_and_only_app_origins_get_cors() -> None:
    status, headers, _ = call("POST", origin=OWN)
    assert status == 200 and b"access-control-allow-origin" not in headers
    status, headers, _ = call("POST", origin=APP)
    assert status == 200 and headers[b"access-control-allow-origin"] == APP.encode()
    assert headers[b"access-control-allow-credentials"] == b"true"
    assert call("GET")[0] == 200, "a safe method without Origin is fine"


@pytest.mark.spec("Fetch Standard §3.2.3 CORS-preflight")
def test_preflights_are_answered_for_app_origins_only() -> None:
    status, headers, _ = call("OPTIONS", origin=APP, access_control_request_method="POST")
    assert status == 204 and headers[b"access-control-max-age"] == b"600"
    assert b"x-csrf-token" in headers[b"access-control-allow-headers"].lower()
    status, _, body = call("OPTIONS", origin="https://evil.test",
                           access_control_request_method="POST")
    assert (status, json.loads(body)["error"]) == (403, "origin_not_allowed")


def test_the_back_channel_and_the_mobile_door_are_exempt() -> None:
    assert call("POST", "/bff/backchannel-logout")[0] == 200
    assert call("POST", "/bff/mobile/register")[0] == 200


@pytest.mark.spec("RFC 9449 §7.1")
def test_a_proof_call_without_origin_passes_only_without_cookies() -> None:
    """A DPoP-signed call carries nothing ambient; with a Cookie it is a browser call again."""
    assert call("POST", "/api/x", dpop="a.b.c")[0] == 200
    status, _, body = call("POST", "/api/x", dpop="a.b.c", cookie="__Host-bff-session=x")
    assert (status, json.loads(body)["error"]) == (403, "origin_not_allowed")
    status, _, _ = call("POST", "/api/x", dpop="a.b.c", origin="https://evil.test")
    assert status == 403, "a proof call from a foreign origin is checked like any other"


def test_websockets_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    guard = OriginGuard(app, own_origin=OWN, cors_origins=[])
    asyncio.run(guard({"type": "websocket", "path": "/x"}, None, None))  # type: ignore[arg-type]
    assert seen == ["websocket"]
