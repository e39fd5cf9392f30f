"""Serving ``bff run``: uvicorn (one process or several workers) and the one ready line.

The ready line is printed by the parent once ``/healthz`` answers through the listening socket,
so it means the same thing with one process or many: requests are being served now.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from bff.config.model import ServerSettings
from bff.telemetry.metrics import MULTIPROC_ENV
from bff.web.limits import HeadLimits, bounded_protocol, uvicorn_options


class BoundedConfig(uvicorn.Config):
    """uvicorn's config with the head-limit protocol made in each process.

    The protocol class is made at run time (it carries the limits), so it cannot be pickled
    for a worker process; each process builds it again from the picklable limits.
    """

    def __init__(self, app: Any, server: ServerSettings, **kwargs: Any) -> None:
        options = uvicorn_options(server)
        options.pop("http")
        self.head_limits = HeadLimits.of(server)
        super().__init__(app, http="httptools", **options, **kwargs)

    def load(self) -> None:
        super().load()
        self.http_protocol_class = bounded_protocol(self.head_limits)


@dataclass(frozen=True)
class ReadyLine:
    """What the ready line says besides the URL."""

    issuer: str
    store: str
    session_store: str
    workers: int

    def text(self, url: str) -> str:
        return json.dumps({"event": "ready", "url": url, "issuer": self.issuer,
                           "store": self.store, "session_store": self.session_store,
                           "workers": self.workers}, separators=(",", ":"))


def prepare_metrics_dir(configured: str) -> str:
    """The multiprocess metrics folder, emptied of an earlier run's files, set for the workers."""
    folder = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="bff-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(folder)
    return str(folder)


def listen_url(host: str, port: int) -> str:
    """The URL the server listens on (IPv6 hosts in brackets)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


_NO_FORK = threading.Lock()
"""Held while the ready probe runs code that takes locks (name resolution, imports, stdout).

granian forks its workers from the thread that serves while the probe thread runs; a worker
forked while the probe held an import lock inherits it held by a thread it does not have, and
its first call needing that module (aiohttp's connect, resolving the upstream) waits forever.
So a fork waits for the probe to leave such code (the pattern ``logging`` uses for its locks).
"""
os.register_at_fork(before=_NO_FORK.acquire, after_in_parent=_NO_FORK.release,
                    after_in_child=_NO_FORK.release)


def _healthz_answers(host: str, port: int, timeout: float = 2.0) -> bool:
    """One ``GET /healthz``: True when its status is 200."""
    request = f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    with _NO_FORK:
        try:
            conn = socket.create_connection((host, port), timeout=timeout)
            conn.sendall(request.encode("ascii"))
        except OSError:
            return False
    # waiting for the answer takes no lock: the worker that answers may be forked meanwhile
    head = b""
    try:
        while b"\r\n" not in head and len(head) < 256:
            chunk = conn.recv(256)
            if not chunk:
                break
            head += chunk
    except OSError:
        return False
    finally:
        conn.close()
    return head.startswith((b"HTTP/1.1 200 ", b"HTTP/1.0 200 "))


def wait_until_serving(host: str, port: int, stop: threading.Event,
                       interval: float = 0.05) -> bool:
    """Ask ``/healthz`` until it answers 200 (False when stopped first)."""
    # a wildcard listener is reached through loopback
    probe_host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    while not stop.is_set():
        if _healthz_answers(probe_host, port):
            return True
        time.sleep(interval)
    return False


def announce_when_serving(host: str, port: int, stop: threading.Event, ready: ReadyLine) -> None:
    """Print the ready line once ``/healthz`` answers (a thread's target)."""
    if wait_until_serving(host, port, stop):
        with _NO_FORK:  # a worker forked while this holds stdout's lock could never print
            # one write: a log line of another thread on the same pipe cannot split it
            sys.stdout.write(ready.text(listen_url(host, port)) + "\n")
            sys.stdout.flush()


def inherited_socket(fd: int) -> socket.socket:
    """The listening TCP socket a parent process handed down as file descriptor ``fd``.

    The parent binds (port 0 if it likes) and keeps the port until the server takes it over,
    so no other process can take the port in between. Raises ``ValueError`` when ``fd`` is not
    an inherited IPv4/IPv6 stream socket.
    """
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise ValueError(f"file descriptor {fd} is not an open socket ({exc.strerror})") from None
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
        sock.detach()  # not ours to close: the caller passed the wrong descriptor
        raise ValueError(f"file descriptor {fd} is not a TCP socket")
    sock.listen()  # harmless when the parent listened already; needed when it only bound
    return sock


def serve(config: BoundedConfig, ready: ReadyLine, sock: socket.socket | None = None) -> None:
    """Bind (or take ``sock``), serve (one process or ``config.workers``), print the ready
    line once serving."""
    if sock is None:
        sock = config.bind_socket()
    else:
        config.host = sock.getsockname()[0]
    port = sock.getsockname()[1]
    stop = threading.Event()

    threading.Thread(target=announce_when_serving, args=(config.host, port, stop, ready),
                     name="bff-ready", daemon=True).start()
    server = uvicorn.Server(config)
    try:
        if config.workers > 1:
            Multiprocess(config, sockets=[sock]).run()
        else:
            server.run(sockets=[sock])
    finally:
        stop.set()
        sock.close()
