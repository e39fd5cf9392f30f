"""BFF CPU per proxied call of this code against another version of it, in one run.

Usage: .venv/bin/python -m bench.code_ab --base DIR [--duration S] [--repeats N]
``DIR`` holds the other version's ``bff`` package (e.g. ``git archive <commit> bff | tar -x -C
DIR``). Both run side by side on the same AS, upstream and Redis, in alternating wrk runs
toward the hello-world upstream: memory store, Redis store, and a stale client (one old cookie
replayed). Prints medians and the per-round ratio new/base; writes nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

from bench.common import bench_stack, machine, session_cookie, sign_in
from bench.wrk import require_wrk, wrk
from tests.support.redis_server import RedisServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="folder holding the other bff package")
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    require_wrk()
    base = Path(args.base).resolve()
    if not (base / "bff" / "__init__.py").exists():
        raise SystemExit(f"bench: no bff package in {base}")
    here = Path(__file__).resolve().parent.parent
    # PYTHONSAFEPATH: ``python -m bff.cli`` must not find this worktree's bff in the cwd first
    base_env = {"PYTHONPATH": os.pathsep.join([str(base), str(here / "devstack")]),
                "PYTHONSAFEPATH": "1"}
    print(f"machine: {machine()}", flush=True)
    with RedisServer() as redis:
        variants = [
            {"store": "memory", "env": base_env},
            {"store": "redis", "redis_url": redis.url},
            {"store": "redis", "redis_url": redis.url, "env": base_env},
        ]
        with bench_stack(more=variants) as stack:
            jar, _ = sign_in(stack)
            bffs = dict(zip(["new memory", "base memory", "new redis", "base redis"],
                            stack.bffs, strict=True))
            rounds: dict[str, list[float]] = {}
            for _ in range(args.repeats):
                for kind, age in (("memory", 0.0), ("redis", 0.0), ("stale", 120.0)):
                    store = "memory" if kind == "stale" else kind
                    for version in ("new", "base"):
                        url, child = bffs[f"{version} {store}"]
                        r = wrk(f"{url}/hello/x", duration=args.duration, connections=32,
                                headers={"Cookie": session_cookie(stack, jar, age=age)},
                                cpu_pids={"bff": child.process.pid})
                        if r["errors"] or (r["set_cookies"] and not age):
                            raise SystemExit(f"bench: {version} {kind}: failed or re-sealed")
                        rounds.setdefault(f"{version} {kind}", []).append(r["cpu_us_bff"])
                        print(f"  {version:<4} {kind:<6} {r['rps']:7.0f} req/s  BFF CPU "
                              f"{r['cpu_us_bff']:5.0f} us/call", flush=True)
    for kind in ("memory", "redis", "stale"):
        new, old = rounds[f"new {kind}"], rounds[f"base {kind}"]
        ratios = sorted(n / o for n, o in zip(new, old, strict=True))
        print(f"{kind:<6}: new {statistics.median(new):.0f} us, base "
              f"{statistics.median(old):.0f} us per call; new/base {statistics.median(ratios):.2f}"
              f" (range {ratios[0]:.2f}-{ratios[-1]:.2f})")


if __name__ == "__main__":
    sys.exit(main())
