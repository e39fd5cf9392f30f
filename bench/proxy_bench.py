"""Proxy throughput and latency beside direct calls to the same API, in one run (issue 4).

Usage: .venv/bin/python -m bench.proxy_bench [--duration S]
Prints the figures, writes bench/RESULTS.md (proxy section), and ends with two lines: the
proxy/direct throughput ratio against a trivial hello-world upstream, then against the
DPoP-verifying example API (the figure that matters, last).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    BenchStack,
    bench_stack,
    in_subprocess,
    machine,
    open_cookie_session,
    process_cpu_seconds,
    session_cookie,
    sign_in,
)
from bench.profile import profile_bff
from bench.prototype import start_prototype
from bench.results import write_section
from bench.wrk import require_wrk, wrk, wrk_direct_dpop
from bff.devstack import Child
from bff.oauth.dpop import DPoPKey
from tests.support.as_login import ASBrowser
from tests.support.cookies import Jar
from tests.support.flows import call, login
from tests.support.redis_server import RedisServer

# a p99 over a few seconds moves with any hiccup of the shared VM: the median of five pairs
LATENCY_PAIRS = 5


def phase(label: str, **kwargs: Any) -> dict[str, float]:
    result = in_subprocess(**kwargs)
    print(f"  {label:<38} {result['rps']:8.0f} req/s  p50 {result['p50_ms']:6.2f} ms  "
          f"p99 {result['p99_ms']:6.2f} ms  errors {result['errors']:.0f}", flush=True)
    return result


def fresh_nonce(url: str, token: str, dpop_jwk: dict[str, Any]) -> str | None:
    """The API's current DPoP nonce, from the challenge to a proof without one (RFC 9449 §9)."""
    proof = DPoPKey(dpop_jwk).proof("GET", url, access_token=token)
    response = httpx.get(url, headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    return response.headers.get("DPoP-Nonce")


def _median_range(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median": statistics.median(ordered), "min": ordered[0], "max": ordered[-1]}


def _check_run(label: str, result: dict[str, float], *, set_cookies_allowed: bool = False) -> None:
    print(f"  {label:<46} {result['rps']:8.0f} req/s  errors {result['errors']:.0f}"
          + "".join(f"  {k[7:]} {v:5.0f} us/call" for k, v in result.items()
                    if k.startswith("cpu_us_"))
          + f"  Set-Cookie {result['set_cookies']:.0f}", flush=True)
    if result["errors"]:
        raise SystemExit(f"bench: {label}: the load run had failed responses; figures not "
                         "written")
    if result["set_cookies"] and not set_cookies_allowed:
        raise SystemExit(f"bench: {label}: {result['set_cookies']:.0f} answers re-sealed the "
                         "cookie; a saturation run must measure a fresh one")


@dataclass
class Side:
    """Another server measured in the same rounds: a BFF variant or the prototype."""

    name: str
    url: str  # the whole URL to load
    child: Child
    cookie: bool = True  # send the session cookie (a BFF) or nothing (the prototype)


def compare(stack: BenchStack, jar: Jar, path: str, direct_url: str, duration: float,
            concurrency: int, repeats: int, verifying: bool,
            extra: list[Side] | None = None, stale: bool = False) -> dict[str, Any]:
    """Saturation throughput with wrk in adjacent runs (BFF, direct, then any extra BFF
    variants and the stale client), then latency at ~30% of the slower side's saturation with
    an open-loop generator, in pairs. Ratios are medians of the runs' ratios: pairing cancels
    the drift and noise a shared 2-core VM shows between runs.

    Every BFF run replays a cookie sealed just before it (the BFF would not re-seal it), and
    fails on any Set-Cookie in the answers; CPU per call is each process's own CPU time over
    the run divided by the requests answered.
    """
    session = open_cookie_session(stack, jar)
    token = session.tokens[stack.audience].token
    upstream = stack.api if verifying else stack.hello
    assert upstream is not None
    up_pid = upstream.process.pid
    bff_pid = stack.bff.process.pid
    via = f"{stack.bff_url}{path}"
    runs: dict[str, list[dict[str, float]]] = {"bff": [], "direct": [], "stale": []}
    for side in extra or []:
        runs[side.name] = []
    expected = 15_000.0
    for _ in range(repeats):
        bff = wrk(via, duration=duration, connections=concurrency,
                  headers={"Cookie": session_cookie(stack, jar)},
                  cpu_pids={"bff": bff_pid, "upstream": up_pid})
        _check_run(f"via BFF {path}", bff)
        if verifying:
            direct = wrk_direct_dpop(direct_url, token, session.dpop_jwk,
                                     fresh_nonce(direct_url, token, session.dpop_jwk),
                                     duration=duration, connections=concurrency,
                                     expected_rps=expected, cpu_pids={"upstream": up_pid})
            expected = max(expected, direct["rps"] * 1.2)
        else:
            direct = wrk(direct_url, duration=duration, connections=concurrency,
                         cpu_pids={"upstream": up_pid})
        _check_run(f"direct {path}", direct)
        runs["bff"].append(bff)
        runs["direct"].append(direct)
        for side in extra or []:
            other = wrk(side.url, duration=duration, connections=concurrency,
                        headers={"Cookie": session_cookie(stack, jar)} if side.cookie else {},
                        cpu_pids={"bff": side.child.process.pid, "upstream": up_pid})
            _check_run(f"{side.name} {side.url}", other)
            runs[side.name].append(other)
        if stale:
            # one old cookie replayed, as a client that ignores Set-Cookie would: every answer
            # carries the re-sealed cookie, and the BFF should not pay a seal per call for it
            old = wrk(via, duration=duration, connections=concurrency,
                      headers={"Cookie": session_cookie(stack, jar, age=120)},
                      cpu_pids={"bff": bff_pid, "upstream": up_pid})
            _check_run(f"stale client {path}", old, set_cookies_allowed=True)
            if old["set_cookies"] < old["requests"] * 0.99:
                raise SystemExit("bench: the stale-client run was not re-sealed on every answer")
            runs["stale"].append(old)
    out: dict[str, Any] = {"runs": runs}
    out["ratio"] = _median_range([b["rps"] / d["rps"]
                                  for b, d in zip(runs["bff"], runs["direct"], strict=True)])
    for name, results in runs.items():
        if not results:
            continue
        out[f"{name}_rps"] = _median_range([r["rps"] for r in results])
        for key in results[0]:
            if key.startswith("cpu_us_"):
                out[f"{name}_{key}"] = _median_range([r[key] for r in results])
    for name in runs:
        if runs[name] and name != "direct":
            out[f"{name}_ratio"] = _median_range([
                o["rps"] / d["rps"] for o, d in zip(runs[name], runs["direct"], strict=True)])
    rate = 0.3 * min(out["bff_rps"]["median"], out["direct_rps"]["median"])
    bff_lat: list[dict[str, float]] = []
    direct_lat: list[dict[str, float]] = []
    for _ in range(LATENCY_PAIRS if verifying else 1):
        bff_lat.append(phase(f"via BFF at {rate:.0f} req/s", url=via,
                             cookie=session_cookie(stack, jar), concurrency=64,
                             duration=duration, rate=rate))
        direct_lat.append(phase(f"direct at {rate:.0f} req/s", url=direct_url, token=token,
                                dpop_jwk=session.dpop_jwk, concurrency=64, duration=duration,
                                rate=rate))
    for side, lat in (("bff_lat", bff_lat), ("direct_lat", direct_lat)):
        out[side] = {q: statistics.median(r[q] for r in lat) for q in ("p50_ms", "p99_ms")}
    out["added_p50"] = _median_range([b["p50_ms"] - d["p50_ms"]
                                      for b, d in zip(bff_lat, direct_lat, strict=True)])
    out["added_p99"] = _median_range([b["p99_ms"] - d["p99_ms"]
                                      for b, d in zip(bff_lat, direct_lat, strict=True)])
    out["rate"] = rate
    return out


def login_and_refresh_cpu(stack: BenchStack, rounds: int = 20) -> tuple[float, float]:
    """BFF CPU milliseconds per login (start + end) and per refresh; AS time is another process."""
    pid = stack.bff.process.pid
    browser = ASBrowser()
    login_cpu = 0.0
    with httpx.Client(base_url=stack.bff_url, headers={"Origin": stack.bff_url},
                      timeout=30) as http:
        jars = []
        for _ in range(rounds):
            jar = Jar()
            t0 = process_cpu_seconds(pid)
            url = call(http, jar, "POST", "/bff/login/start", json={}).json()["authorizationUrl"]
            t1 = process_cpu_seconds(pid)
            callback = browser.authorize(url, f"{stack.bff_url}/")
            t2 = process_cpu_seconds(pid)
            r = call(http, jar, "POST", "/bff/login/end", json={"pageUrl": callback})
            t3 = process_cpu_seconds(pid)
            assert r.status_code == 200, r.text
            login_cpu += (t1 - t0) + (t3 - t2)
            jars.append((jar, r.json()["csrfToken"]))
        t0 = process_cpu_seconds(pid)
        for jar, csrf in jars:
            assert call(http, jar, "POST", "/bff/refresh", csrf=csrf).status_code == 200
        refresh_cpu = process_cpu_seconds(pid) - t0
    browser.close()
    return login_cpu / rounds * 1000, refresh_cpu / rounds * 1000


def cookie_sizes(stack: BenchStack) -> dict[str, int]:
    browser = ASBrowser()
    jar = Jar()
    with httpx.Client(base_url=stack.bff_url, headers={"Origin": stack.bff_url},
                      timeout=30) as http:
        login(http, jar, browser, return_to="/", redirect_uri=f"{stack.bff_url}/")
        after_login = {n: len(v) for n, v in jar.cookies.items() if "bff" in n}
        call(http, jar, "GET", "/api/accounts")
        after_api = {n: len(v) for n, v in jar.cookies.items() if "bff" in n}
    browser.close()
    return {"after login (ID-token claims, userinfo token, refresh token, DPoP key)":
            sum(after_login.values()),
            "after the first API call (plus the API's JWT access token)": sum(after_api.values()),
            "cookies after the first API call": len(after_api)}


def _fmt(r: dict[str, float], unit: str = "", digits: int = 2) -> str:
    return (f"{r['median']:.{digits}f}{unit} (range {r['min']:.{digits}f}-"
            f"{r['max']:.{digits}f})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", type=float, default=0.0,
                        help="seconds of py-spy sampling of the BFF under wrk (hello upstream)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    require_wrk()
    started = time.time()
    print(f"machine: {machine()}", flush=True)
    with RedisServer() as redis, bench_stack(
            more=[{"store": "redis", "redis_url": redis.url},
                  {"server": {"engine": "granian"}}]) as stack:
        jar, _ = sign_in(stack)
        redis_url, redis_bff = stack.bffs[1]
        granian_url, granian_bff = stack.bffs[2]
        session = open_cookie_session(stack, jar)
        token = session.tokens[stack.audience].token
        # the same stack doing nothing else, with the session's token and key (see prototype.py)
        protos = [start_prototype(stack.api_url, token, session.dpop_jwk),
                  start_prototype(stack.hello_url, token, session.dpop_jwk)]
        try:
            print("verifying example API (/accounts: token + proof verification, JSON):")
            api = compare(stack, jar, "/api/accounts", f"{stack.api_url}/accounts",
                          args.duration, args.concurrency, args.repeats, verifying=True,
                          extra=[Side("prototype", f"{protos[0].ready['url']}/accounts",
                                      protos[0], cookie=False)])
            print("hello-world upstream (no verification):")
            hello = compare(stack, jar, "/hello/x", f"{stack.hello_url}/x", args.duration,
                            args.concurrency, args.repeats, verifying=False,
                            extra=[Side("redis", f"{redis_url}/hello/x", redis_bff),
                                   Side("granian", f"{granian_url}/hello/x", granian_bff),
                                   Side("prototype", f"{protos[1].ready['url']}/x", protos[1],
                                        cookie=False)], stale=True)
        finally:
            for proto in protos:
                proto.stop()
        profile = ""
        if args.profile:
            profile = profile_bff(stack.bff.process.pid, f"{stack.bff_url}/hello/x",
                                  session_cookie(stack, jar), args.profile, args.concurrency)
            print(profile)
        login_ms, refresh_ms = login_and_refresh_cpu(stack)
        sizes = cookie_sizes(stack)
    print(f"BFF CPU per login: {login_ms:.2f} ms; per refresh: {refresh_ms:.2f} ms")
    for k, v in sizes.items():
        print(f"cookie size {k}: {v}")
    rows = [
        "| upstream | path | saturation req/s (median) | BFF CPU µs/call | upstream CPU "
        "µs/call | p50 at 30% (ms) | p99 at 30% (ms) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, data in (("verifying API", api), ("hello world", hello)):
        rows.append(f"| {name} | via BFF | {data['bff_rps']['median']:.0f} | "
                    f"{data['bff_cpu_us_bff']['median']:.0f} | "
                    f"{data['bff_cpu_us_upstream']['median']:.0f} | "
                    f"{data['bff_lat']['p50_ms']:.2f} | {data['bff_lat']['p99_ms']:.2f} |")
        rows.append(f"| {name} | direct | {data['direct_rps']['median']:.0f} | - | "
                    f"{data['direct_cpu_us_upstream']['median']:.0f} | "
                    f"{data['direct_lat']['p50_ms']:.2f} | {data['direct_lat']['p99_ms']:.2f} |")
    for name, data in (("verifying API", api), ("hello world", hello)):
        rows.append(f"| {name} | via the prototype (same stack, nothing else) | "
                    f"{data['prototype_rps']['median']:.0f} | "
                    f"{data['prototype_cpu_us_bff']['median']:.0f} | "
                    f"{data['prototype_cpu_us_upstream']['median']:.0f} | - | - |")
    rows.append(f"| hello world | via BFF, cookie mode + Redis | "
                f"{hello['redis_rps']['median']:.0f} | "
                f"{hello['redis_cpu_us_bff']['median']:.0f} | "
                f"{hello['redis_cpu_us_upstream']['median']:.0f} | - | - |")
    rows.append(f"| hello world | via BFF on granian | "
                f"{hello['granian_rps']['median']:.0f} | "
                f"{hello['granian_cpu_us_bff']['median']:.0f} | "
                f"{hello['granian_cpu_us_upstream']['median']:.0f} | - | - |")
    rows.append(f"| hello world | via BFF, stale client (one old cookie, re-sealed answers) | "
                f"{hello['stale_rps']['median']:.0f} | "
                f"{hello['stale_cpu_us_bff']['median']:.0f} | "
                f"{hello['stale_cpu_us_upstream']['median']:.0f} | - | - |")
    api_cpu = api["bff_cpu_us_bff"]
    hello_cpu = hello["bff_cpu_us_bff"]
    over_proto = {name: _median_range([b["cpu_us_bff"] / p["cpu_us_bff"] for b, p in zip(
        data["runs"]["bff"], data["runs"]["prototype"], strict=True)])
        for name, data in (("api", api), ("hello", hello))}
    redis_over_memory = hello["redis_cpu_us_bff"]["median"] / hello_cpu["median"]
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}; "
        f"{time.time() - started:.0f} s in all. One BFF process (one uvicorn worker), the "
        "example API (one uvicorn worker), Redis and the load generator share the machine's "
        f"cores. Saturation is measured with wrk (one thread, {args.concurrency} connections, "
        f"{args.duration:g} s per run, {args.repeats} rounds of adjacent runs); direct calls to "
        "the verifying API carry one pre-signed, never reused DPoP proof each. Every run "
        "through the BFF replays a cookie sealed just before it (the BFF has no reason to "
        "re-seal it) and the script refuses a run whose answers carry any Set-Cookie, except "
        "the stale-client row. CPU per call is a process's own CPU time (utime + stime, "
        "/proc) over the run divided by the requests wrk counted. Latency at 30% comes from "
        "an open-loop aiohttp generator.",
        "",
        f"**Proxy/direct throughput ratio against the verifying example API: "
        f"{_fmt(api['ratio'])}** (median of {args.repeats} adjacent pairs; target ≥ 0.90)",
        "",
        f"Added latency at ~30% of saturation ({api['rate']:.0f} req/s), median of "
        f"{LATENCY_PAIRS} pairs: "
        f"p50 {_fmt(api['added_p50'], ' ms')}, p99 {_fmt(api['added_p99'], ' ms')} "
        "(target ≤ 0.5 / 1.5 ms).",
        "",
        f"Proxy/direct throughput ratio against a hello-world upstream, fresh cookie: "
        f"{_fmt(hello['ratio'])} (target ≥ 0.20)",
        "",
        f"BFF CPU per proxied call: {_fmt(hello_cpu, ' µs', 0)} toward the hello-world "
        f"upstream, {_fmt(api_cpu, ' µs', 0)} toward the verifying API (target ≤ 140 µs). "
        f"The prototype (`bench/prototype.py`: uvicorn + httptools, one raw ASGI route, one "
        f"aiohttp session, an ES256 proof per call, nothing else) in the same rounds: "
        f"{_fmt(hello['prototype_cpu_us_bff'], ' µs', 0)} and "
        f"{_fmt(api['prototype_cpu_us_bff'], ' µs', 0)}; **the BFF costs "
        f"{_fmt(over_proto['hello'], 'x')} the prototype's CPU per call** toward the "
        f"hello-world upstream and {_fmt(over_proto['api'], 'x')} toward the verifying API "
        "(median of the rounds' ratios). The BFF's figure is "
        f"{hello_cpu['median'] / hello['direct_cpu_us_upstream']['median']:.1f}x the "
        f"hello-world upstream's own CPU per call and "
        f"{api_cpu['median'] / api['direct_cpu_us_upstream']['median']:.2f}x the verifying "
        "API's. The prototype's throughput ratio against direct calls, same rounds: "
        f"{_fmt(hello['prototype_ratio'])} (hello world), {_fmt(api['prototype_ratio'])} "
        "(verifying API).",
        "",
        f"Cookie mode with Redis: {_fmt(hello['redis_cpu_us_bff'], ' µs', 0)} of BFF CPU per "
        f"call, **{redis_over_memory:.2f}x the memory store's** in the same rounds (target "
        f"≤ 1.10); throughput ratio {_fmt(hello['redis_ratio'])}.",
        "",
        f"granian instead of uvicorn (same BFF, same rounds): throughput ratio "
        f"{_fmt(hello['granian_ratio'])} against {_fmt(hello['ratio'])} on uvicorn; BFF CPU "
        f"per call {_fmt(hello['granian_cpu_us_bff'], ' µs', 0)} (granian's Rust I/O thread "
        "is counted: it is the same process).",
        "",
        f"Stale client (one cookie last seen 2 minutes ago, replayed): "
        f"{_fmt(hello['stale_cpu_us_bff'], ' µs', 0)} of BFF CPU per call, throughput ratio "
        f"{_fmt(hello['stale_ratio'])}; every answer carries the re-sealed cookie.",
        "",
        *rows,
        "",
        f"BFF CPU per login (`login/start` + `login/end`, AS time excluded): "
        f"{login_ms:.2f} ms; per refresh: {refresh_ms:.2f} ms (mean of 20).",
        "",
        "Sealed cookie sizes for a typical session (bytes of cookie values):",
        "",
        *[f"- {k}: {v}" for k, v in sizes.items()],
    ]
    if profile:
        lines += ["", "Profile of the BFF under wrk (hello-world upstream, py-spy, share of "
                  "samples by leaf function):", "", "```", profile, "```"]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section(Path(__file__).with_name("RESULTS.md"), "Proxy (issue 4)", body)
    print(f"proxy/direct throughput ratio (hello-world upstream): {hello['ratio']['median']:.2f}")
    print(f"proxy/direct throughput ratio (verifying example API): {api['ratio']['median']:.2f}")


if __name__ == "__main__":
    main()
