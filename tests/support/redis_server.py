"""Throwaway redis-server processes (standalone and a 3-master cluster) for tests and benchmarks."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

HOST = "127.0.0.1"
START_TIMEOUT = 5.0
CLUSTER_TIMEOUT = 15.0


def _require(binary: str) -> str:
    """The absolute path of a redis binary, or a clear error saying how to get it."""
    path = shutil.which(binary)
    if path is None:
        raise RuntimeError(
            f"{binary} not found: install the redis-server package "
            "(the test command installs it when run as root)"
        )
    return path


def free_port() -> int:
    """A loopback port nobody is listening on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def free_cluster_port(taken: set[int]) -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too.

    Kernel-chosen ports are often above 55535, where the bus port would not exist.
    """
    while True:
        port = random.randint(20000, 30000)
        if port not in taken and _bindable(port) and _bindable(port + 10000):
            return port


def command(port: int, *args: str, timeout: float = 1.0) -> bytes:
    """Send one command with a raw socket and return the reply payload.

    A raw socket keeps the launcher independent of the client library under test.
    """
    request = f"*{len(args)}\r\n".encode()
    for arg in args:
        data = arg.encode()
        request += b"$%d\r\n%s\r\n" % (len(data), data)
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(request)
        reply = b""
        while b"\r\n" not in reply:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            reply += chunk
        head, _, rest = reply.partition(b"\r\n")
        if head.startswith(b"$"):
            size = int(head[1:])
            while len(rest) < size + 2:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed")
                rest += chunk
            return rest[:size]
        if head.startswith(b"-"):
            raise RuntimeError(head[1:].decode())
        return head[1:]


class _Process:
    """One redis-server child on a fixed port."""

    def __init__(self, port: int, directory: Path, extra: list[str]) -> None:
        self.port = port
        self.directory = directory
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # No persistence: a restart must come back empty, like a lost cache node.
        argv = [_require("redis-server"), "--port", str(self.port), "--bind", HOST,
                "--save", "", "--appendonly", "no", "--dir", str(self.directory), *self.extra]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} exited at start-up")
            try:
                if command(self.port, "PING", timeout=0.5) == b"PONG":
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not answer PING")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "server not running"
        return self.process.pid


class RedisServer:
    """A standalone redis-server on a free loopback port; ``stop``/``start`` keep the port."""

    def __init__(self) -> None:
        _require("redis-server")
        self._tmp = tempfile.TemporaryDirectory(prefix="bff-redis-")
        self.port = free_port()
        self._process = _Process(self.port, Path(self._tmp.name), [])

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def pid(self) -> int:
        return self._process.pid

    def start(self) -> None:
        """Start (or restart, empty) on the same port."""
        self._process.start()

    def stop(self) -> None:
        """Stop the server; clients see connection refused until ``start``."""
        self._process.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
        self._tmp.cleanup()


class RedisCluster3:
    """Three cluster-enabled masters with all slots assigned, no replicas."""

    def __init__(self) -> None:
        _require("redis-server")
        self._cli = _require("redis-cli")
        self._tmp = tempfile.TemporaryDirectory(prefix="bff-redis-cluster-")
        self.ports: list[int] = []
        for _ in range(3):
            self.ports.append(free_cluster_port(set(self.ports)))
        directory = Path(self._tmp.name)
        self._nodes = [
            _Process(port, directory, ["--cluster-enabled", "yes",
                                       "--cluster-config-file", f"nodes-{port}.conf",
                                       "--cluster-node-timeout", "2000"])
            for port in self.ports
        ]

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.ports[0]}"

    def start(self) -> None:
        try:
            for node in self._nodes:
                node.start()
            subprocess.run(
                [self._cli, "--cluster", "create", *(f"{HOST}:{p}" for p in self.ports),
                 "--cluster-replicas", "0", "--cluster-yes"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                timeout=CLUSTER_TIMEOUT)
            self._wait_ok()
        except BaseException:
            self.stop()
            raise

    def _wait_ok(self) -> None:
        deadline = time.monotonic() + CLUSTER_TIMEOUT
        while True:
            states = [command(p, "CLUSTER", "INFO") for p in self.ports]
            if all(b"cluster_state:ok" in s for s in states):
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the redis cluster did not reach cluster_state:ok")
            time.sleep(0.05)

    def stop(self) -> None:
        for node in self._nodes:
            node.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
        self._tmp.cleanup()


@contextmanager
def redis_url_or_start() -> Iterator[str]:
    """``$REDIS_URL`` when set (an existing server), else a fresh local redis-server."""
    existing = os.environ.get("REDIS_URL")
    if existing:
        yield existing
        return
    with RedisServer() as server:
        yield server.url
