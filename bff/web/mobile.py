"""Starlette endpoints of the mobile door (DESIGN §6); each translates to one door call.

Every answer, errors included, carries a fresh ``DPoP-Nonce`` for the next instance proof
(RFC 9449 §8.2) and ``Cache-Control: no-store``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bff.errors import BFFError, ProofNonceRequired
from bff.mobile.door import MobileCall, MobileDoor
from bff.web.browser import read_json
from bff.web.errors import error_response

Endpoint = Callable[[Request], Awaitable[Response]]


def call_of(request: Request) -> MobileCall:
    """The door's view of a request (header names lower-case; the last value wins)."""
    raw = tuple(request.scope["headers"])
    return MobileCall(request.method, request.url.path,
                      {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}, raw)


def mobile_routes(door: MobileDoor, prefix: str) -> list[BaseRoute]:
    """The ``/bff/mobile`` routes."""

    def endpoint(fn: Callable[[Request], Awaitable[dict[str, Any]]]) -> Endpoint:
        async def run(request: Request) -> Response:
            nonce = [(b"dpop-nonce", door.nonces.issue().encode("ascii"))]
            try:
                body = await fn(request)
            except BFFError as exc:
                if isinstance(exc, ProofNonceRequired):
                    nonce.append((b"www-authenticate", b'DPoP error="use_dpop_nonce"'))
                return error_response(exc, request.url.path, nonce)
            response = Response(json.dumps(body, separators=(",", ":")), 200,
                                media_type="application/json",
                                headers={"Cache-Control": "no-store",
                                         "X-Content-Type-Options": "nosniff"})
            response.raw_headers += nonce
            return response
        return run

    async def challenge(request: Request) -> dict[str, Any]:
        return await door.challenge(call_of(request))

    async def register(request: Request) -> dict[str, Any]:
        call = call_of(request)
        # the attester-JWT form has no body; the App Attest form sends its object as JSON
        has_body = request.headers.get("content-length", "0") != "0" or (
            "transfer-encoding" in request.headers)
        return await door.register(call, await read_json(request) if has_body else {})

    async def unregister(request: Request) -> dict[str, Any]:
        return await door.unregister(call_of(request))

    async def login_start(request: Request) -> dict[str, Any]:
        call = call_of(request)
        return await door.login_start(call, await read_json(request))

    async def login_end(request: Request) -> dict[str, Any]:
        call = call_of(request)
        return await door.login_end(call, await read_json(request))

    async def session(request: Request) -> dict[str, Any]:
        return await door.session_info(call_of(request))

    async def refresh(request: Request) -> dict[str, Any]:
        return await door.refresh(call_of(request))

    async def logout(request: Request) -> dict[str, Any]:
        return await door.logout(call_of(request))

    base = f"{prefix}/mobile"
    return [
        Route(f"{base}/challenge", endpoint(challenge), methods=["POST"]),
        Route(f"{base}/register", endpoint(register), methods=["POST"]),
        Route(f"{base}/register", endpoint(unregister), methods=["DELETE"]),
        Route(f"{base}/login/start", endpoint(login_start), methods=["POST"]),
        Route(f"{base}/login/end", endpoint(login_end), methods=["POST"]),
        Route(f"{base}/session", endpoint(session), methods=["GET"]),
        Route(f"{base}/refresh", endpoint(refresh), methods=["POST"]),
        Route(f"{base}/logout", endpoint(logout), methods=["POST"]),
    ]
