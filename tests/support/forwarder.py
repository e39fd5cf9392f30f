"""A TCP forwarder that can be switched off (connections refused) and on again on the same port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading


class SwitchableForwarder:
    """Forwards 127.0.0.1:``port`` to ``target_port``; ``down()`` refuses, ``up()`` reopens.

    With ``port=0`` the first ``up()`` binds a port the kernel picks and records it in ``port``
    (no free-port guess that another process could take first); later ``up()`` calls reuse it.
    ``target_port`` may be set after construction, e.g. once the target reports its port.
    """

    def __init__(self, target_port: int = 0, port: int = 0) -> None:
        self.port = port
        self.target_port = target_port
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self.writers -= {writer, up_writer}

    def up(self) -> None:
        async def start() -> asyncio.Server:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self.port))
            self.port = sock.getsockname()[1]
            return await asyncio.start_server(self._handle, sock=sock)
        self.server = asyncio.run_coroutine_threadsafe(start(), self.loop).result(5)

    def down(self) -> None:
        if self.server is not None:
            server = self.server

            async def stop() -> None:
                server.close()
                # pooled keep-alive connections must break too, as when a host goes away
                for writer in list(self.writers):
                    writer.transport.abort()
                await server.wait_closed()
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
            self.server = None

    def close(self) -> None:
        self.down()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
