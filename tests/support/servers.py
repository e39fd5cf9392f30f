"""Run an ASGI app with uvicorn (or granian) on a free loopback port in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import uvicorn


def bound_socket(host: str = "127.0.0.1") -> socket.socket:
    """A TCP socket bound to a kernel-chosen port, held until served (no release and rebind)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


def port_of(sock: socket.socket) -> int:
    """The port a bound socket holds."""
    return int(sock.getsockname()[1])


def _socket_on(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


class ThreadServer:
    """A real HTTP server over sockets for an in-process ASGI app."""

    def __init__(self, app: Any, port: int = 0, sock: socket.socket | None = None,
                 options: dict[str, Any] | None = None) -> None:
        # a caller-made socket lets the port be known (and held) before the app exists
        if sock is None:
            sock = bound_socket() if port == 0 else _socket_on(port)
        self.sock = sock
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # ``options``: the BFF passes bff.web.limits.uvicorn_options, i.e. what ``bff run`` uses
        config = uvicorn.Config(app, **(options or {
            "log_config": None, "access_log": False, "lifespan": "on", "server_header": False,
            "proxy_headers": False}))
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.serve(sockets=[self.sock]))
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def start(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def run_coro(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the server's loop (objects of the app are bound to it)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()

    def __enter__(self) -> ThreadServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class GranianThreadServer:
    """``ThreadServer``'s interface on granian's embedded server (the same Rust I/O as
    ``bff run`` with ``server.engine = "granian"``), for running the suite's cases on it."""

    def __init__(self, app: Any, port: int = 0, sock: socket.socket | None = None) -> None:
        from granian.constants import HTTPModes, Interfaces
        from granian.log import LogLevels
        from granian.server.embed import Server

        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
        self.port = sock.getsockname()[1]
        # granian binds the address itself: the port was only held until now
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = Server(app, address="127.0.0.1", port=self.port,
                             interface=Interfaces.ASGI, http=HTTPModes.http1,
                             log_level=LogLevels.warning)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.serve())
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def start(self) -> GranianThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if time.monotonic() > deadline or not self.thread.is_alive():
                    raise RuntimeError("server did not start") from None
                time.sleep(0.01)

    def run_coro(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the server's loop (objects of the app are bound to it)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.loop is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.server.stop)
        self.thread.join(10)

    def __enter__(self) -> GranianThreadServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
