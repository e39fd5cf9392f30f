"""Starlette endpoints of the browser API (DESIGN §3); each translates to one handler call."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bff.errors import (
    BFFError,
    InvalidSeal,
    MalformedBody,
    MobileCredentialOnBrowserDoor,
    SessionExpired,
    SessionRequired,
)
from bff.handler.browser import BrowserHandler, Outcome
from bff.sessions.cookies import request_cookies
from bff.web.errors import error_response

MAX_JSON_BODY = 16 * 1024
CSRF_HEADER = "x-csrf-token"
# the errors that mean "this session cookie is no good": the only ones that clear it
SESSION_REFUSED = (SessionRequired, SessionExpired, InvalidSeal)
# logout also asks the browser to drop every cookie of the site, including any the BFF does
# not know about (W3C Clear Site Data §3.1)
LOGOUT_HEADERS = {"Clear-Site-Data": '"cookies"'}

Endpoint = Callable[[Request], Awaitable[Response]]


def cookies_of(request: Request) -> dict[str, str]:
    """The request's cookies, read by the app's one parser (not Starlette's)."""
    return request_cookies(request.scope["headers"])


def json_response(outcome: Outcome, status: int = 200,
                  extra_headers: dict[str, str] | None = None) -> Response:
    """A JSON response with the outcome's cookies; never cached."""
    response = Response(json.dumps(outcome.body, separators=(",", ":")), status,
                        media_type="application/json",
                        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                                 **(extra_headers or {})})
    for cookie in outcome.cookies:
        response.headers.append("set-cookie", cookie.header())
    return response


def browser_error(exc: BaseException, request: Request, clear: list[str]) -> Response:
    """The error answer; clears the session cookies when the session itself was refused.

    Only a refused session clears them: a failed login attempt (no or a spent transaction)
    is something any site can provoke with a link, and must leave an existing session alone.
    """
    extra = [(b"set-cookie", h.encode("latin-1")) for h in clear] if isinstance(
        exc, SESSION_REFUSED) else []
    return error_response(exc, request.url.path, extra)


async def read_json(request: Request) -> dict[str, Any]:
    """A JSON object body of at most 16 KiB, sent as ``application/json``."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise MalformedBody("content type is not application/json")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BODY:
            raise MalformedBody("body too large")
    try:
        data = json.loads(body) if body else {}
    except (ValueError, RecursionError) as exc:  # deep nesting exhausts the parser's stack
        raise MalformedBody("body is not JSON") from exc
    if not isinstance(data, dict):
        raise MalformedBody("body is not a JSON object")
    return data


def browser_routes(handler: BrowserHandler, prefix: str,
                   clear_cookie_headers: Callable[[Request], list[str]],
                   refuse_proofs: bool = False) -> list[BaseRoute]:
    """The ``/bff`` routes; ``refuse_proofs``: the mobile door is on, so a proof or handle
    sent here is a mobile client at the wrong door."""

    def endpoint(fn: Callable[[Request], Awaitable[Outcome]],
                 extra_headers: dict[str, str] | None = None) -> Endpoint:
        async def run(request: Request) -> Response:
            try:
                if refuse_proofs and ("dpop" in request.headers or request.headers.get(
                        "authorization", "").lower().startswith("dpop ")):
                    raise MobileCredentialOnBrowserDoor("instance proof on the browser door")
                return json_response(await fn(request), extra_headers=extra_headers)
            except BFFError as exc:
                return browser_error(exc, request, clear_cookie_headers(request))
        return run

    async def login_start(request: Request) -> Outcome:
        return await handler.login_start(await read_json(request), cookies_of(request))

    async def login_end(request: Request) -> Outcome:
        return await handler.login_end(await read_json(request), cookies_of(request))

    async def session(request: Request) -> Outcome:
        return await handler.session_info(cookies_of(request))

    async def userinfo(request: Request) -> Outcome:
        return await handler.userinfo(cookies_of(request))

    async def refresh(request: Request) -> Outcome:
        return await handler.refresh(cookies_of(request), request.headers.get(CSRF_HEADER))

    async def logout(request: Request) -> Outcome:
        return await handler.logout(cookies_of(request), request.headers.get(CSRF_HEADER))

    return [
        Route(f"{prefix}/login/start", endpoint(login_start), methods=["POST"]),
        Route(f"{prefix}/login/end", endpoint(login_end), methods=["POST"]),
        Route(f"{prefix}/session", endpoint(session), methods=["GET"]),
        Route(f"{prefix}/userinfo", endpoint(userinfo), methods=["GET"]),
        Route(f"{prefix}/refresh", endpoint(refresh), methods=["POST"]),
        Route(f"{prefix}/logout", endpoint(logout, LOGOUT_HEADERS), methods=["POST"]),
    ]
