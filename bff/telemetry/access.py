"""Per request: the request id, one JSON access-log line (method, path without the query,
status, duration) and the request metrics by area (``bff``, ``proxy``, ``ops``, ``static``:
never by raw path).

One outermost layer does all three with a single wrapper around ``send``: every layer and
wrapper is paid on each proxied call, and these three need the same two moments (the start and
the answer's status).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bff.telemetry.metrics import METRICS
from bff.telemetry.request_id import HEADER_BYTES, choose_request_id, request_id

log = logging.getLogger("bff.access")


class RequestTelemetry:
    """Outermost raw ASGI layer: sets the request id for the request's context and returns it
    as the answer's only ``X-Request-Id``; counts, times and logs the request. The query string
    is left out of the log because it can carry codes."""

    def __init__(self, app: ASGIApp, *, bff_prefix: str = "/bff",
                 is_proxied: Callable[[str], bool] = lambda path: False,
                 log_lines: bool = True, trust_incoming: bool = False) -> None:
        self.app = app
        self.bff_prefix = bff_prefix + "/"
        self.is_proxied = is_proxied
        self.log_lines = log_lines
        self.trust_incoming = trust_incoming

    def area(self, path: str) -> str:
        if path.startswith(self.bff_prefix):
            return "bff"
        if self.is_proxied(path):
            return "proxy"
        if path in ("/healthz", "/readyz", "/metrics"):
            return "ops"
        return "static"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        incoming = None
        if self.trust_incoming:
            for name, value in scope["headers"]:
                if name == HEADER_BYTES:
                    incoming = value
                    break
        rid = choose_request_id(incoming, self.trust_incoming)
        id_header = (HEADER_BYTES, rid.encode("ascii"))
        token = request_id.set(rid)
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # this id is the only one: an app's or upstream's own never passes
                headers = [(n, v) for n, v in message.get("headers", ())
                           if n.lower() != HEADER_BYTES]
                headers.append(id_header)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            try:
                self._record(scope, status, time.perf_counter() - start)  # the id still set
            finally:
                request_id.reset(token)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        area = self.area(scope["path"])
        METRICS.requests.inc(area=area, status=str(status))
        METRICS.duration.observe(elapsed, area=area)
        if self.log_lines and log.isEnabledFor(logging.INFO):
            client = scope.get("client")
            log.info("request", extra={
                "method": scope["method"], "path": scope["path"], "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "client": client[0] if client else None})
