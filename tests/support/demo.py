"""``bff demo`` as a child process, on a port picked again when another process took it first."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bff.devstack import free_port

REPO = Path(__file__).resolve().parents[2]


def start_demo(*args: str, env: dict[str, str] | None = None, attempts: int = 5,
               timeout: float = 60) -> tuple[subprocess.Popen[str], int, str]:
    """``bff demo ARGS --port N``, read until it is running or has exited: (process, N, output).

    The demo must know its port before it starts the AS (redirect URIs), and ``bff demo`` takes
    no inherited socket, so N is a free port; the demo holds it from its first step on, and
    when another process bound N in the moment between, the demo says so and N is picked again.
    """
    for attempt in range(attempts):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "bff.cli", "demo", *args, "--port", str(port)], cwd=REPO,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, **(env or {})})
        assert process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if "Press Ctrl-C" in line or not line:
                break
        text = "".join(lines)
        if f"port {port} is in use" in text and attempt < attempts - 1:
            process.wait(10)
            process.stdout.close()
            continue
        return process, port, text
    raise AssertionError("unreachable: the last attempt returns")  # pragma: no cover
