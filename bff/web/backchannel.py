"""``POST /bff/backchannel-logout``: the OIDC back-channel logout receiver (§2.5, §2.8)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bff.errors import BFFError, InvalidLogoutToken, PayloadTooLarge
from bff.handler.backchannel import BackchannelLogout
from bff.oauth.client import FapiClient
from bff.web.errors import error_response

MAX_FORM = 32 * 1024
MAX_FIELDS = 8


async def read_form(request: Request, limit: int = MAX_FORM) -> dict[str, str]:
    """A small urlencoded form, read no further than ``limit`` bytes; repeated names refused."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise InvalidLogoutToken("not a form post")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        # refused before a byte of the body is read (RFC 9110 §15.5.14)
        raise PayloadTooLarge("declared form above the limit")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge("form above the limit")
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=bool(body),
                          max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidLogoutToken("malformed form") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        # RFC 6749 §3.1: parameters must not be repeated; "last wins" would let a proxy and
        # the BFF disagree on which token was sent
        if name in form:
            raise InvalidLogoutToken("repeated form parameter")
        form[name] = value
    return form


def backchannel_route(receiver: BackchannelLogout, prefix: str) -> Route:
    """Answers 200 on success and 400 with the JSON error model otherwise (§2.8)."""

    async def endpoint(request: Request) -> Response:
        try:
            await receiver.receive(await read_form(request))
        except BFFError as exc:
            return error_response(exc, request.url.path)
        return Response(b"", 200, headers={"Cache-Control": "no-store"})

    return Route(f"{prefix}/backchannel-logout", endpoint, methods=["POST"])


def instance_backchannel_route(receiver: BackchannelLogout,
                               client_of: Callable[[str], Awaitable[FapiClient]],
                               prefix: str) -> Route:
    """``POST <prefix>/backchannel-logout/{instance}``: logout tokens for an app instance's
    own client (its registration names this URI); ends only that instance's sessions."""

    async def endpoint(request: Request) -> Response:
        try:
            form = await read_form(request)
            await receiver.receive(form, await client_of(request.path_params["instance"]))
        except BFFError as exc:
            return error_response(exc, request.url.path)
        return Response(b"", 200, headers={"Cache-Control": "no-store"})

    return Route(f"{prefix}/backchannel-logout/{{instance}}", endpoint, methods=["POST"])
