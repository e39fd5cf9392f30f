"""The one place where error categories become HTTP statuses and JSON bodies (DESIGN §3)."""

from __future__ import annotations

import json
import logging

from bff import errors as e
from bff.telemetry.metrics import METRICS

log = logging.getLogger("bff.web")

# most specific first: the first class in an error's MRO found here decides
STATUS: dict[type[e.BFFError], int] = {
    e.PayloadTooLarge: 413,
    e.HeadersTooLarge: 431,
    e.RequestRejected: 400,
    e.NotAuthenticated: 401,
    e.InvalidSeal: 401,
    e.Forbidden: 403,
    e.ResourceServerTimeout: 504,
    e.UpstreamFailure: 502,
    e.StoreUnavailable: 503,
}


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
    body = json.dumps({"error": code, "error_description": description}).encode()
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
