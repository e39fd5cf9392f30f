"""Throwaway redis-server processes for tests and benchmarks.

Standalone, TLS-only, a master watched by Sentinels, and a 3-master cluster.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

from tests.support.tls import TlsMaterial, write_tls_material

HOST = "127.0.0.1"
START_TIMEOUT = 5.0
CLUSTER_TIMEOUT = 15.0
SENTINEL_SERVICE = "mymaster"

# A RESP reply: a simple or bulk string, nil, or an array of replies.
Reply = bytes | list["Reply"] | None


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


def _read_reply(stream: BinaryIO) -> Reply:
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed")
    kind, body = line[:1], line[1:-2]
    if kind == b"-":
        raise RuntimeError(body.decode())
    if kind == b"$":
        size = int(body)
        if size < 0:
            return None
        data = stream.read(size + 2)
        if len(data) < size + 2:
            raise ConnectionError("connection closed")
        return data[:size]
    if kind == b"*":
        count = int(body)
        if count < 0:
            return None
        return [_read_reply(stream) for _ in range(count)]
    return body


def request(port: int, *args: str, timeout: float = 1.0,
            tls: ssl.SSLContext | None = None) -> Reply:
    """Send one command with a raw (optionally TLS) socket and return the parsed reply.

    A raw socket keeps the launchers independent of the client library under test.
    """
    payload = f"*{len(args)}\r\n".encode()
    for arg in args:
        data = arg.encode()
        payload += b"$%d\r\n%s\r\n" % (len(data), data)
    with socket.create_connection((HOST, port), timeout=timeout) as plain:
        sock = plain if tls is None else tls.wrap_socket(plain, server_hostname=HOST)
        with sock, sock.makefile("rb") as stream:
            sock.sendall(payload)
            return _read_reply(stream)


def command(port: int, *args: str, timeout: float = 1.0,
            tls: ssl.SSLContext | None = None) -> bytes:
    """One command whose reply is a string (nil reads as ``b""``)."""
    reply = request(port, *args, timeout=timeout, tls=tls)
    if isinstance(reply, list):
        raise TypeError(f"{args[0]} answered an array; use request()")
    return reply or b""


class _Process:
    """One redis-server child on a fixed port.

    With ``tls`` the port is a TLS port (the plain port is off) and start-up is checked
    through that client context. With ``sentinel_config`` it runs as a Sentinel whose
    settings all live in that (rewritable) file.
    """

    def __init__(self, port: int, directory: Path, extra: list[str], *,
                 tls: ssl.SSLContext | None = None,
                 sentinel_config: Path | None = None) -> None:
        self.port = port
        self.directory = directory
        self.extra = extra
        self.tls = tls
        self.sentinel_config = sentinel_config
        self.process: subprocess.Popen[bytes] | None = None

    def _argv(self) -> list[str]:
        server = _require("redis-server")
        if self.sentinel_config is not None:
            return [server, str(self.sentinel_config), "--sentinel", *self.extra]
        listen = ["--port", str(self.port)] if self.tls is None else [
            "--port", "0", "--tls-port", str(self.port)]
        # No persistence: a restart must come back empty, like a lost cache node.
        return [server, *listen, "--bind", HOST, "--save", "", "--appendonly", "no",
                "--dir", str(self.directory), *self.extra]

    def start(self) -> None:
        argv = self._argv()
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} exited at start-up")
            try:
                if command(self.port, "PING", timeout=0.5, tls=self.tls) == b"PONG":
                    return
            except (OSError, RuntimeError):
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


class _Launcher:
    """start() on enter; stop() and remove the temp directory on exit."""

    _tmp: tempfile.TemporaryDirectory[str]

    port: int
    _process: _Process
    _started: bool = False

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def _start_single(self) -> None:
        """Start the one server process, moving to another port only on its first start.

        redis-server cannot report a kernel-chosen port, so the first start takes a free one
        and, when another process bound it in between, moves to another; restarts never move.
        """
        for attempt in range(5):
            try:
                self._process.start()
            except RuntimeError:
                if self._started or attempt == 4:
                    raise
                self.port = self._process.port = free_port()
                continue
            self._started = True
            return

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
        self._tmp.cleanup()


class RedisServer(_Launcher):
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
        """Start (or restart, empty) on the same port (see ``_start_single``)."""
        self._start_single()

    def stop(self) -> None:
        """Stop the server; clients see connection refused until ``start``."""
        self._process.stop()



class RedisTLSServer(_Launcher):
    """A standalone redis-server that only speaks TLS, with a throwaway CA.

    ``auth_clients`` makes the server demand a client certificate signed by that CA.
    """

    def __init__(self, *, auth_clients: bool = False) -> None:
        _require("redis-server")
        self._tmp = tempfile.TemporaryDirectory(prefix="bff-redis-tls-")
        directory = Path(self._tmp.name)
        self.material: TlsMaterial = write_tls_material(directory)
        self.port = free_port()
        extra = ["--tls-cert-file", str(self.material.server.cert),
                 "--tls-key-file", str(self.material.server.key),
                 "--tls-ca-cert-file", str(self.material.ca.cert),
                 "--tls-auth-clients", "yes" if auth_clients else "no"]
        self._process = _Process(self.port, directory, extra, tls=self.client_context())

    @property
    def url(self) -> str:
        return f"rediss://{HOST}:{self.port}/0"

    @property
    def ca_file(self) -> str:
        return str(self.material.ca.cert)

    @property
    def client_cert_file(self) -> str:
        return str(self.material.client.cert)

    @property
    def client_key_file(self) -> str:
        return str(self.material.client.key)

    def client_context(self) -> ssl.SSLContext:
        """Trusts only the throwaway CA and presents the client certificate."""
        context = ssl.create_default_context(cafile=self.ca_file)
        context.load_cert_chain(self.client_cert_file, self.client_key_file)
        return context

    def start(self) -> None:
        try:
            self._start_single()
        except RuntimeError as exc:
            raise RuntimeError(f"{exc} (is redis-server built with TLS support?)") from exc

    def stop(self) -> None:
        self._process.stop()



class RedisSentinel(_Launcher):
    """One master (no replicas) watched by ``sentinels`` Sentinels with a quorum of 1.

    ``url`` lists every Sentinel, so clients go through Sentinel discovery for real.
    """

    def __init__(self, sentinels: int = 3) -> None:
        _require("redis-server")
        self._tmp = tempfile.TemporaryDirectory(prefix="bff-redis-sentinel-")
        self._directory = Path(self._tmp.name)
        self.master_port = free_port()
        self._master = _Process(self.master_port, self._directory, [])
        self.sentinel_ports: list[int] = []
        while len(self.sentinel_ports) < sentinels:
            port = free_port()
            if port != self.master_port and port not in self.sentinel_ports:
                self.sentinel_ports.append(port)
        self._sentinels = [
            _Process(port, self._directory / f"sentinel-{port}", [],
                     sentinel_config=self._directory / f"sentinel-{port}" / "sentinel.conf")
            for port in self.sentinel_ports
        ]

    @property
    def url(self) -> str:
        hosts = ",".join(f"{HOST}:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SENTINEL_SERVICE}?db=0"

    def _write_config(self, sentinel: _Process) -> None:
        # A fresh file per start: Sentinel rewrites it with what it learnt (its id, peers).
        assert sentinel.sentinel_config is not None
        sentinel.directory.mkdir(exist_ok=True)
        sentinel.sentinel_config.write_text(
            f"port {sentinel.port}\n"
            f"bind {HOST}\n"
            f"dir {sentinel.directory}\n"
            f"sentinel monitor {SENTINEL_SERVICE} {HOST} {self.master_port} 1\n"
            f"sentinel down-after-milliseconds {SENTINEL_SERVICE} 2000\n"
        )

    def start(self) -> None:
        try:
            self._master.start()
            for sentinel in self._sentinels:
                self._write_config(sentinel)
                sentinel.start()
            self._wait_master()
        except BaseException:
            self.stop()
            raise

    def _wait_master(self) -> None:
        expected = [HOST.encode(), str(self.master_port).encode()]
        deadline = time.monotonic() + START_TIMEOUT
        for port in self.sentinel_ports:
            while request(port, "SENTINEL", "get-master-addr-by-name",
                          SENTINEL_SERVICE) != expected:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"sentinel on port {port} does not know the master")
                time.sleep(0.02)

    def stop_sentinel(self, index: int) -> None:
        """Stop one Sentinel; clients must fall back to the next one in the URL."""
        self._sentinels[index].stop()

    def start_sentinel(self, index: int) -> None:
        sentinel = self._sentinels[index]
        self._write_config(sentinel)
        sentinel.start()

    def stop(self) -> None:
        for sentinel in self._sentinels:
            sentinel.stop()
        self._master.stop()



class RedisCluster3(_Launcher):
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



@contextmanager
def redis_url_or_start() -> Iterator[str]:
    """``$REDIS_URL`` when set (an existing server), else a fresh local redis-server."""
    existing = os.environ.get("REDIS_URL")
    if existing:
        yield existing
        return
    with RedisServer() as server:
        yield server.url
