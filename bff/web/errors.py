"""The one place where errors become HTTP answers: status, JSON body and headers (DESIGN §3).

Every error answer of the app (browser and mobile endpoints, the back-channel receiver, the
Origin guard, the proxy, the 404/405/500 handlers and the head limits) is rendered here, so they
all carry the same headers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from starlette.responses import Response
from starlette.types import Send

from bff import errors as e
from bff.telemetry.metrics import METRICS

log = logging.getLogger("bff.web")

# most specific first: the first class in an error's MRO found here decides
STATUS: dict[type[e.BFFError], int] = {
    e.PayloadTooLarge: 413,
    e.HeadersTooLarge: 431,
    e.EndpointNotFound: 404,
    e.MethodNotAllowed: 405,
    e.RateLimited: 429,
    e.RequestRejected: 400,
    e.NotAuthenticated: 401,
    e.InvalidSeal: 401,
    e.Forbidden: 403,
    e.ResourceServerTimeout: 504,
    e.UpstreamFailure: 502,
    e.StoreUnavailable: 503,
}
# the rest of the body is not wanted, or the head could not be read: the connection ends
_CLOSE = (e.PayloadTooLarge, e.HeadersTooLarge)
Headers = list[tuple[bytes, bytes]]


def status_for(exc: BaseException) -> int:
    """The HTTP status of an error (500 for anything unexpected)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_body(exc: BaseException) -> tuple[int, bytes]:
    """Status and JSON body; descriptions are fixed sentences, never input or exception text."""
    status = status_for(exc)
    if status == 500 or not isinstance(exc, e.BFFError):
        code, description = "server_error", "internal error"
    elif isinstance(exc, e.InvalidSeal):
        code, description = e.SessionRequired.code, e.SessionRequired.description
    else:
        code, description = exc.code, exc.description
    answer: dict[str, object] = {"error": code, "error_description": description}
    if isinstance(exc, e.StepUpRequired):
        # RFC 9470 §3: what the API asked for, already checked against a strict grammar
        answer.update({k: v for k in ("acr_values", "max_age")
                       if (v := getattr(exc, k, None)) is not None})
    body = json.dumps(answer).encode()
    return status, body


def log_error(exc: BaseException, path: str) -> None:
    """Log the internal detail of an error, never a secret."""
    status = status_for(exc)
    METRICS.errors.inc(code=exc.code if isinstance(exc, e.BFFError) and status != 500
                       else "server_error")
    if status == 500:
        log.error("unhandled error", exc_info=exc, extra={"path": path})
    else:
        detail = exc.detail if isinstance(exc, e.BFFError) else ""
        code = exc.code if isinstance(exc, e.BFFError) else "server_error"
        cause = type(exc.__cause__).__name__ if exc.__cause__ else None
        log.warning("request failed", extra={"path": path, "status": status, "code": code,
                                             "detail": detail, "cause": cause})


def render_error(exc: BaseException, path: str,
                 extra_headers: Iterable[tuple[bytes, bytes]] = ()) -> tuple[int, Headers, bytes]:
    """Log ``exc`` and give the status, headers and body of its answer."""
    log_error(exc, path)
    status, body = error_body(exc)
    headers: Headers = [
        (b"content-type", b"application/json"), (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"), (b"content-length", str(len(body)).encode())]
    if isinstance(exc, _CLOSE):
        headers.append((b"connection", b"close"))
    return status, [*headers, *extra_headers], body


async def send_error(send: Send, exc: BaseException, path: str,
                     extra_headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """Send the answer for ``exc`` on a raw ASGI channel."""
    status, headers, body = render_error(exc, path, extra_headers)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def error_response(exc: BaseException, path: str,
                   extra_headers: Iterable[tuple[bytes, bytes]] = ()) -> Response:
    """The answer for ``exc`` as a Starlette response."""
    status, headers, body = render_error(exc, path, extra_headers)
    response = Response(body, status)
    response.raw_headers = headers
    return response


def raw_error(exc: BaseException, path: str, reason: str) -> bytes:
    """The answer for ``exc`` as HTTP/1.1 bytes, for a protocol that answers before ASGI."""
    status, headers, body = render_error(exc, path)
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(
        f"{k.decode('latin-1')}: {v.decode('latin-1')}\r\n" for k, v in headers) + "\r\n"
    return head.encode("latin-1") + body
