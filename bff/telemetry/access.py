"""Per request: one JSON access-log line (method, path without the query, status, duration) and
the request metrics by area (``bff``, ``proxy``, ``ops``, ``static``: never by raw path)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bff.telemetry.metrics import METRICS

log = logging.getLogger("bff.access")


class AccessLog:
    """Raw ASGI middleware; the query string is left out because it can carry codes."""

    def __init__(self, app: ASGIApp, *, bff_prefix: str = "/bff",
                 is_proxied: Callable[[str], bool] = lambda path: False,
                 log_lines: bool = True) -> None:
        self.app = app
        self.bff_prefix = bff_prefix + "/"
        self.is_proxied = is_proxied
        self.log_lines = log_lines

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
        status = 0

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            elapsed = time.perf_counter() - start
            area = self.area(scope["path"])
            METRICS.requests.inc(area=area, status=str(status))
            METRICS.duration.observe(elapsed, area=area)
            if self.log_lines:
                client = scope.get("client")
                log.info("request", extra={
                    "method": scope["method"], "path": scope["path"], "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "client": client[0] if client else None})
