"""``POST /bff/backchannel-logout``: the OIDC back-channel logout receiver (§2.5, §2.8)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bff.errors import BFFError, InvalidLogoutToken
from bff.handler.backchannel import BackchannelLogout
from bff.web.errors import error_body, log_error

MAX_FORM = 32 * 1024


def backchannel_route(receiver: BackchannelLogout, prefix: str) -> Route:
    """Answers 200 on success and 400 with the JSON error model otherwise (§2.8)."""

    async def endpoint(request: Request) -> Response:
        headers = {"Cache-Control": "no-store"}
        try:
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/x-www-form-urlencoded":
                raise InvalidLogoutToken("not a form post")
            body = await request.body()
            if len(body) > MAX_FORM:
                raise InvalidLogoutToken("form too large")
            await receiver.receive(dict(parse_qsl(body.decode("latin-1"))))
        except BFFError as exc:
            log_error(exc, request.url.path)
            status, payload = error_body(exc)
            return Response(payload, status, media_type="application/json", headers=headers)
        return Response(b"", 200, headers=headers)

    return Route(f"{prefix}/backchannel-logout", endpoint, methods=["POST"])
