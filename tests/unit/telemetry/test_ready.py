"""The ready probe of ``bff run`` and the worker processes forked while it runs."""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

import pytest

from bff.telemetry import ready


def test_no_worker_is_forked_while_the_ready_probe_holds_a_lock(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A fork waits until the probe thread leaves code that takes locks.

    granian forks its workers while ``bff run``'s probe thread runs; a worker forked while the
    probe held an import lock (its first name resolution imports the idna codec) inherited the
    lock held for good, and its first proxied call hung in aiohttp's connect. ``held`` stands
    for such a lock: the forked child must be able to take it.
    """
    held = threading.Lock()
    inside = threading.Event()
    real = socket.create_connection

    def connecting(*args: Any, **kwargs: Any) -> socket.socket:
        with held:  # as an import of a codec, in the middle of the probe's connect
            inside.set()
            threading.Event().wait(0.3)
            return real(*args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", connecting)
    with socket.socket() as closed:  # a port nothing listens on: the probe is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    stop = threading.Event()
    probe = threading.Thread(target=ready.wait_until_serving, args=("127.0.0.1", port, stop))
    probe.start()
    try:
        assert inside.wait(5)
        pid = os.fork()
        if pid == 0:  # the worker: exit 0 when the lock can be taken, 1 when it is held for good
            os._exit(0 if held.acquire(timeout=2) else 1)
        _, status = os.waitpid(pid, 0)
    finally:
        stop.set()
        probe.join(5)
    assert os.waitstatus_to_exitcode(status) == 0
