"""Where the BFF's CPU goes under load: py-spy samples while wrk saturates one route."""

from __future__ import annotations

import collections
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from bench.wrk import wrk


def profile_bff(pid: int, url: str, cookie: str, seconds: float, connections: int,
                top: int = 25) -> str:
    """The leaf functions that hold most samples, as a text table (py-spy must be installed)."""
    spy = shutil.which("py-spy") or str(Path(__file__).resolve().parents[1] / ".venv/bin/py-spy")
    with tempfile.TemporaryDirectory(prefix="bff-spy-") as tmp:
        out = Path(tmp) / "raw.txt"
        load = threading.Thread(target=wrk, args=(url,), kwargs={
            "duration": seconds + 2, "connections": connections,
            "headers": {"Cookie": cookie}})
        load.start()
        subprocess.run([spy, "record", "--pid", str(pid), "--duration", f"{seconds:g}",
                        "--rate", "250", "--format", "raw", "--output", str(out), "--nonblocking"],
                       check=True, capture_output=True)
        load.join()
        return summarize(out.read_text())


def summarize(raw: str, top: int = 25) -> str:
    """Share of samples per leaf frame, and per module of the project (inclusive)."""
    leaves: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        leaves[_short(frames[-1])] += n
        for module in {_module(f) for f in frames} - {""}:
            ours[module] += n
    if not total:
        return "no samples"
    lines = [f"{100 * n / total:5.1f}%  {name}" for name, n in leaves.most_common(top)]
    lines += ["", "inclusive, by module of the BFF:"]
    lines += [f"{100 * n / total:5.1f}%  {name}" for name, n in ours.most_common(12)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({'/'.join(path.split('/')[-2:])})"


def _module(frame: str) -> str:
    """``bff/...`` for a frame in the project's package, else empty."""
    path = "/" + frame.partition(" (")[2].rstrip(")").rsplit(":", 1)[0]
    if "/bff/" not in path or "site-packages" in path:
        return ""
    return "bff/" + path.rsplit("/bff/", 1)[1]
