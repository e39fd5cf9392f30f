"""Request head limits: too many header fields or too many bytes get 431 (RFC 6585 §5).

The limit has to hold while the head is parsed, not after: httptools accumulates a header
value in memory until its end, and uvicorn hands the app a complete list of headers, so an
ASGI middleware alone sees a 150 MiB header only once it has been buffered. The uvicorn
protocol below counts bytes as they arrive and stops reading at the limit; the middleware
repeats the check for servers other than ``bff run``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bff.config.model import ServerSettings
from bff.errors import HeadersTooLarge
from bff.web.errors import raw_error, send_error
from bff.web.writes import CoalescedWrites

# after a refusal, keep reading (and discarding) briefly so that the client reads the 431
# instead of a connection reset caused by closing with its data unread
LINGER_SECONDS = 1.0
# request line overhead (method, spaces, version, CRLF) and per-field overhead (": ", CRLF)
_LINE_OVERHEAD = 16
_FIELD_OVERHEAD = 4


@dataclass(frozen=True)
class HeadLimits:
    """At most ``max_count`` header fields and ``max_bytes`` of request line plus headers."""

    max_count: int = ServerSettings.max_header_count
    max_bytes: int = ServerSettings.max_header_bytes

    @classmethod
    def of(cls, server: ServerSettings) -> HeadLimits:
        """The limits configured under ``[server]``."""
        return cls(server.max_header_count, server.max_header_bytes)

    def exceeded(self, count: int, size: int) -> str:
        """Why a head of ``count`` fields and ``size`` bytes is refused; empty when it is not."""
        if count > self.max_count:
            return "too many header fields"
        if size > self.max_bytes:
            return "request head too large"
        return ""


def _refusal_bytes(detail: str, path: str) -> bytes:
    return raw_error(HeadersTooLarge(detail), path, "Request Header Fields Too Large")


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request head beyond ``limits`` as it arrives."""

    limits: ClassVar[HeadLimits] = HeadLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_received = 0  # bytes received while the head is incomplete: a lower bound
        self._fields = 0
        self._size = _LINE_OVERHEAD
        self._refused = False
        self._writes: CoalescedWrites | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._writes = CoalescedWrites(transport, self.loop)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._writes is not None:
            self._writes.discard()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        if self._writes is not None:
            self._writes.flush()  # an answer just completed is still kept: it goes first
        super().shutdown()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._head_received += len(data)
        super().data_received(data)
        if self._in_head and not self._refused and self._head_received > self.limits.max_bytes:
            self._refuse("request head too large (still arriving)")

    def on_message_begin(self) -> None:
        if self._refused:
            return
        self._fields, self._size = 0, _LINE_OVERHEAD
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        if self._refused:
            return
        self._size += len(url)
        if self._size > self.limits.max_bytes:
            self._refuse("request target too large")
            return
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._refused:
            return
        self._fields += 1
        self._size += len(name) + len(value) + _FIELD_OVERHEAD
        reason = self.limits.exceeded(self._fields, self._size)
        if reason:
            self._refuse(reason)
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._in_head = False
        super().on_headers_complete()
        if self.cycle is not None and self._writes is not None:
            # the cycle's answers go out one write per loop iteration (bff/web/writes.py)
            self.cycle.transport = self._writes  # type: ignore[assignment]

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._in_head, self._head_received = True, 0
        super().on_message_complete()

    def _refuse(self, detail: str) -> None:
        self._refused = True
        if self._writes is not None:
            self._writes.flush()  # an earlier answer kept for this iteration goes first
        if self.transport.is_closing():  # uvicorn already answered a parse error
            return
        busy = self.cycle is not None and not self.cycle.response_complete
        if busy:
            # a pipelined head while the previous response is still being written: the
            # answer cannot go out of order, so that response is the last on this connection
            self.cycle.keep_alive = False
            return
        self.transport.write(_refusal_bytes(detail, ""))
        if self.transport.can_write_eof():
            self.transport.write_eof()
            asyncio.get_running_loop().call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()


def bounded_protocol(limits: HeadLimits) -> type[BoundedHttpToolsProtocol]:
    """The protocol class for uvicorn's ``http=`` option with these limits."""
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), {"limits": limits})


def uvicorn_options(server: ServerSettings) -> dict[str, Any]:
    """The uvicorn options of ``bff run`` (also used by the tests' servers)."""
    return {"http": bounded_protocol(HeadLimits.of(server)), "log_config": None,
            "access_log": False, "server_header": False, "lifespan": "on",
            "proxy_headers": False}


class HeadLimitGuard:
    """The same limits as ASGI middleware, for when another server runs the app."""

    def __init__(self, app: ASGIApp, limits: HeadLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope["headers"]
            size = (_LINE_OVERHEAD + len(scope.get("raw_path") or b"")
                    + len(scope.get("query_string") or b"")
                    + sum(len(n) + len(v) + _FIELD_OVERHEAD for n, v in headers))
            reason = self.limits.exceeded(len(headers), size)
            if reason:
                await send_error(send, HeadersTooLarge(reason), scope.get("path", ""))
                return
        await self.app(scope, receive, send)
