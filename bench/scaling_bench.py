"""One BFF worker against two, cookie mode with Redis, toward the hello-world upstream (issue 10).

Usage: .venv/bin/python -m bench.scaling_bench [--duration S] [--repeats N] [--no-write]
Alternates wrk runs against a one-worker and a two-worker BFF (same AS, upstream and Redis),
prints the ratio of their ceilings, and counts the Redis commands each proxied call costs (from
Redis's own ``total_commands_processed``), also for a server-mode BFF (the session read).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from bench.common import bench_stack, machine, session_cookie, sign_in
from bench.results import write_section
from bench.wrk import require_wrk, wrk
from tests.support.redis_server import RedisServer, command


def redis_commands(port: int) -> int:
    for line in command(port, "INFO", "stats").decode().splitlines():
        if line.startswith("total_commands_processed:"):
            return int(line.split(":")[1])
    raise RuntimeError("no total_commands_processed in INFO stats")


def run(url: str, cookie: str, pid: int, redis_port: int, duration: float,
        connections: int) -> dict[str, float]:
    before = redis_commands(redis_port)
    result = wrk(url, duration=duration, connections=connections, headers={"Cookie": cookie},
                 cpu_pids={"bff": pid})
    # INFO itself is one command; the mirrors' heartbeats are a few per second
    result["redis_per_call"] = (redis_commands(redis_port) - before - 1) / result["requests"]
    if result["errors"] or result["set_cookies"]:
        raise SystemExit(f"bench: {url}: {result['errors']:.0f} errors, "
                         f"{result['set_cookies']:.0f} re-sealed answers; figures not written")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    require_wrk()
    started = time.time()
    print(f"machine: {machine()}", flush=True)
    with RedisServer() as redis:
        variants = [{"store": "redis", "redis_url": redis.url,
                     "server": {"workers": 2, "metrics": False}},
                    {"session_store": "server", "store": "redis", "redis_url": redis.url}]
        with bench_stack(store="redis", redis_url=redis.url, more=variants) as stack:
            (one_url, one), (two_url, two), (server_url, server) = stack.bffs
            jar, _ = sign_in(stack)
            rounds: dict[str, list[dict[str, float]]] = {"one": [], "two": [], "server": []}
            for _ in range(args.repeats):
                for name, url, child in (("one", one_url, one), ("two", two_url, two)):
                    r = run(f"{url}/hello/x", session_cookie(stack, jar), child.process.pid,
                            redis.port, args.duration, args.concurrency)
                    rounds[name].append(r)
                    print(f"  {name} worker(s): {r['rps']:8.0f} req/s  BFF CPU "
                          f"{r['cpu_us_bff']:5.0f} us/call  Redis commands/call "
                          f"{r['redis_per_call']:.3f}", flush=True)
            # server mode: signed in just before, so no call re-saves the session
            server_jar, _ = sign_in(stack, server_url)
            r = run(f"{server_url}/hello/x", server_jar.header(), server.process.pid,
                    redis.port, args.duration, args.concurrency)
            rounds["server"].append(r)
            print(f"  server mode, one worker: {r['rps']:8.0f} req/s  BFF CPU "
                  f"{r['cpu_us_bff']:5.0f} us/call  Redis commands/call "
                  f"{r['redis_per_call']:.3f}", flush=True)
    ratios = sorted(t["rps"] / o["rps"] for o, t in zip(rounds["one"], rounds["two"],
                                                          strict=True))
    med = {name: statistics.median(r["rps"] for r in rs) for name, rs in rounds.items()}
    per_call = {name: statistics.median(r["redis_per_call"] for r in rs)
                for name, rs in rounds.items()}
    cpu = {name: statistics.median(r["cpu_us_bff"] for r in rs) for name, rs in rounds.items()}
    body = "\n".join([
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}; "
        f"{time.time() - started:.0f} s in all. Cookie mode, Redis store, the hello-world "
        f"upstream; wrk with one thread and {args.concurrency} connections, {args.duration:g} s "
        f"per run, {args.repeats} rounds alternating the one-worker and the two-worker BFF. "
        "Every run replays a freshly sealed cookie and is refused if any answer re-seals it.",
        "",
        f"**Two workers / one worker: {statistics.median(ratios):.2f}** (median, range "
        f"{ratios[0]:.2f}-{ratios[-1]:.2f}); one worker {med['one']:.0f} req/s, two workers "
        f"{med['two']:.0f} req/s; BFF CPU per call {cpu['one']:.0f} / {cpu['two']:.0f} µs "
        "(all workers' CPU over the run, divided by the requests).",
        "",
        f"Redis commands per proxied call: cookie mode {per_call['one']:.3f} (one worker), "
        f"{per_call['two']:.3f} (two workers), server mode {per_call['server']:.3f} "
        "(the session read; one run). The few remaining commands are the mirrors' "
        "heartbeats.",
        "",
        f"What the figure means: the machine has {os.cpu_count()} cores, and the load generator,"
        " the upstream and Redis run on them too, so a second worker can only take what is "
        "left of them; 2x is out of reach here by construction. Each worker is a separate "
        "process with its own event loop, pools and marker mirror, and shares nothing with the "
        "others but Redis, which a proxied call in cookie mode no longer touches: on a machine "
        "with a core per worker plus room for the upstream, the ceiling grows with the workers "
        "until the upstream, the network or Redis (logins and refreshes only) sets the pace.",
    ])
    print(body)
    if not args.no_write:
        write_section(Path(__file__).with_name("RESULTS.md"), "Scaling (issue 10)", body)
    print(f"two workers / one worker: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
