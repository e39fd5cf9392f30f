"""``bff run`` with ``server.workers = N``: N processes serving one listening socket.

The parent binds the port once (so a second ``bff run`` on it still fails with "address
already in use"), then forks N workers. Each worker builds its own app after the fork: its own
event loop, connection pools, store clients and marker mirror; the kernel hands each new
connection to whichever worker accepts it first. The parent only supervises: SIGTERM or SIGINT
is passed on to every worker (each shuts down gracefully, as a single ``bff run`` does), and a
worker that dies on its own is replaced, unless workers keep dying at start-up.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from types import FrameType

log = logging.getLogger("bff.workers")

# a worker that dies sooner than this after its start counts as a start-up failure
EARLY_EXIT = 5.0
MAX_EARLY_EXITS = 3


def listening_socket(host: str, port: int) -> socket.socket:
    """The one socket every worker accepts on (IPv6 when the host is an IPv6 address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def supervise(workers: int, sock: socket.socket, serve: Callable[[socket.socket], None]) -> int:
    """Fork ``workers`` processes running ``serve(sock)``; returns the exit code."""
    children: dict[int, float] = {}
    stopping = False
    early_exits = 0

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, signal.SIG_DFL)
            code = 0
            try:
                serve(sock)
            except BaseException:  # reported; the exit code says it too
                logging.getLogger("bff.workers").exception("worker failed")
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
        children[pid] = time.monotonic()

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(workers):
        spawn()
    log.info("workers started", extra={"event": "workers_started", "workers": workers})
    code = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        started = children.pop(pid, None)
        if started is None or stopping:
            continue
        exit_code = os.waitstatus_to_exitcode(status)
        log.warning("worker exited; starting another", extra={
            "event": "worker_exited", "exit_code": exit_code})
        if time.monotonic() - started < EARLY_EXIT:
            early_exits += 1
            if early_exits >= MAX_EARLY_EXITS:
                log.error("workers keep failing at start-up; stopping",
                          extra={"event": "workers_failing"})
                code = 1
                stop(signal.SIGTERM, None)
                continue
        spawn()
    sock.close()
    return code
