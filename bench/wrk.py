"""Saturation throughput with wrk (Debian's package): a C load generator that costs the machine
far less CPU per request than any Python loop, so the servers get the cores.

Direct calls to the verifying API need a fresh DPoP proof per request; wrk cannot sign, so a
Lua script replays nothing: it walks through proofs signed in advance (each with its own
``jti``, the API's nonce and a current ``iat``), one per request.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bff.oauth.dpop import DPoPKey

# Every run counts the answers that carry Set-Cookie (a saturation run of a fresh cookie must
# see none: a re-sealed cookie per call is another benchmark); the same script for every side,
# so wrk's own cost per response is the same on both.
LUA_COUNT = r"""
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args) setcookies = 0 end
response = function(status, headers, body)
  for name, _ in pairs(headers) do
    if string.lower(name) == "set-cookie" then setcookies = setcookies + 1 break end
  end
end
done = function(summary, latency, requests)
  local n = 0
  for _, thread in ipairs(threads) do n = n + thread:get("setcookies") end
  io.write(string.format("Set-Cookie responses: %d\n", n))
end
"""

LUA_PROOFS = LUA_COUNT + r"""
local proofs = {}
for line in io.lines(os.getenv("BENCH_PROOFS")) do proofs[#proofs + 1] = line end
local token = os.getenv("BENCH_TOKEN")
local i = 0
request = function()
  i = i + 1
  if i > #proofs then i = #proofs end
  return wrk.format("GET", nil, {["Authorization"] = "DPoP " .. token, ["DPoP"] = proofs[i]})
end
"""


def require_wrk() -> str:
    """The wrk binary, or a clear message on how to get it."""
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("bench: wrk is required: `scripts/setup --with-bench` installs it as "
                         "root (apt-get install wrk)")
    return path


def _parse(output: str) -> dict[str, float]:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       output)
    cookies = re.search(r"Set-Cookie responses: (\d+)", output)
    if rps is None or total is None or cookies is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    failed = int(bad.group(1)) if bad else 0
    if errors:
        failed += sum(int(g) for g in errors.groups())
    return {"rps": float(rps.group(1)), "requests": float(total.group(1)),
            "errors": float(failed), "set_cookies": float(cookies.group(1))}


def wrk(url: str, *, duration: float, connections: int, headers: dict[str, str] | None = None,
        env: dict[str, str] | None = None, script: str | None = None,
        cpu_pids: dict[str, int] | None = None) -> dict[str, float]:
    """One closed-loop wrk run with one thread; ``cpu_pids`` adds ``cpu_us_<name>`` per request
    (the process tree's own CPU time over the run divided by the requests it answered)."""
    argv = [require_wrk(), "-t1", f"-c{connections}", f"-d{duration:g}s"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    with tempfile.TemporaryDirectory(prefix="bff-wrk-") as tmp:
        if script is None:
            script = str(Path(tmp) / "count.lua")
            Path(script).write_text(LUA_COUNT)
        argv += ["-s", script]
        before = {n: tree_cpu_seconds(p) for n, p in (cpu_pids or {}).items()}
        out = subprocess.run([*argv, url], capture_output=True, text=True, check=True,
                             env={**os.environ, **(env or {})})
        after = {n: tree_cpu_seconds(p) for n, p in (cpu_pids or {}).items()}
    result = _parse(out.stdout)
    for name in before:
        result[f"cpu_us_{name}"] = ((after[name] - before[name]) / max(1.0, result["requests"])
                                    * 1e6)
    return result


def tree_cpu_seconds(pid: int) -> float:
    """utime + stime of a process and all its descendants (workers), in seconds."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = fields
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    ticks = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        fields = stats.get(current)
        if fields is not None:
            total += (int(fields[11]) + int(fields[12])) / ticks
        todo += children.get(current, [])
    return total


def wrk_direct_dpop(url: str, token: str, dpop_jwk: dict[str, Any], nonce: str | None, *,
                    duration: float, connections: int, expected_rps: float,
                    cpu_pids: dict[str, int] | None = None) -> dict[str, float]:
    """wrk against the verifying API with one pre-signed, never reused proof per request."""
    key = DPoPKey(dpop_jwk)
    count = int(expected_rps * duration * 1.5) + 1000
    with tempfile.TemporaryDirectory(prefix="bff-wrk-") as tmp:
        proofs = Path(tmp) / "proofs.txt"
        proofs.write_text("\n".join(key.proof("GET", url, access_token=token, nonce=nonce)
                                    for _ in range(count)) + "\n")
        script = Path(tmp) / "proofs.lua"
        script.write_text(LUA_PROOFS)
        result = wrk(url, duration=duration, connections=connections, script=str(script),
                     env={"BENCH_PROOFS": str(proofs), "BENCH_TOKEN": token},
                     cpu_pids=cpu_pids)
    result["proofs"] = float(count)
    return result
