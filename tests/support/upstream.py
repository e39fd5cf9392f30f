"""A small real HTTP/1.1 upstream over sockets, scripted per test (headers, keep-alive drops)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from dataclasses import dataclass, field


@dataclass
class Seen:
    """One request as the upstream read it."""

    conn: int
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes = b""


@dataclass
class _Conn:
    id: int
    writer: asyncio.StreamWriter
    expired: bool = False
    idle: bool = True


@dataclass
class ScriptedUpstream:
    """Answers every request with JSON describing it, keeping connections alive.

    ``headers[path]`` adds response headers for a path, ``delays[path]`` waits before answering.
    ``expire()`` models an upstream whose keep-alive timeout has passed on every open connection,
    racing the client's next request:
    the next request on such a connection is read and the socket closed without an answer.
    ``client_closed`` counts idle connections the client closed itself.
    """

    headers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    dropped: list[Seen] = field(default_factory=list)
    client_closed: int = 0
    port: int = 0

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._conns: dict[int, _Conn] = {}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self.loop).result(5)
        self.port = self.server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def expire(self) -> int:
        """Mark every open connection expired; returns how many there are."""
        for conn in self._conns.values():
            conn.expired = True
        return len(self._conns)

    def open_connections(self) -> int:
        return len(self._conns)

    async def _read(self, reader: asyncio.StreamReader, conn: _Conn) -> Seen | None:
        head = await reader.readuntil(b"\r\n\r\n")
        conn.idle = False
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = [(n.strip(), v.strip()) for n, _, v in
                   (line.partition(":") for line in lines[1:] if line)]
        names = {n.lower(): v for n, v in headers}
        body = b""
        if "content-length" in names:
            body = await reader.readexactly(int(names["content-length"]))
        elif names.get("transfer-encoding", "").lower() == "chunked":
            while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                body += await reader.readexactly(size)
                await reader.readexactly(2)
            await reader.readuntil(b"\r\n")
        return Seen(conn.id, method, target, headers, body)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Conn(next(self._ids), writer)
        self._conns[conn.id] = conn
        try:
            while True:
                conn.idle = True
                try:
                    request = await self._read(reader, conn)
                except asyncio.IncompleteReadError as exc:
                    if conn.idle and not exc.partial:
                        self.client_closed += 1
                    return
                if request is None:
                    return
                if conn.expired:
                    self.dropped.append(request)
                    return
                self.seen.append(request)
                path = request.target.split("?", 1)[0]
                await asyncio.sleep(self.delays.get(path, 0.0))
                body = json.dumps({"method": request.method, "path": path, "conn": conn.id,
                                   "headers": request.headers}).encode()
                extra = "".join(f"{n}: {v}\r\n" for n, v in self.headers.get(path, []))
                writer.write((f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n"
                              f"Keep-Alive: timeout=60\r\n{extra}\r\n").encode() + body)
                await writer.drain()
                if any(n.lower() == "connection" and v.lower() == "close"
                       for n, v in request.headers):
                    return
        except (ConnectionError, asyncio.LimitOverrunError):
            return
        finally:
            self._conns.pop(conn.id, None)
            with contextlib.suppress(OSError):
                writer.close()

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            for conn in list(self._conns.values()):
                conn.writer.transport.abort()
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
