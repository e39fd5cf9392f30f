"""Shared parts of the benchmarks: the dev stack, a signed-in session, an async load generator."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bff.crypto.keys import seal_key_from_jwk
from bff.crypto.seal import Sealer
from bff.devstack import (
    Child,
    free_port,
    start_authorization_server,
    start_bff,
    start_example_api,
    write_keys,
    write_toml,
)
from bff.oauth.dpop import DPoPKey
from bff.sessions.model import Session
from tests.support.as_login import ASBrowser
from tests.support.cookies import Jar
from tests.support.flows import call, login

SCOPE = "openid profile email offline_access accounts payments"


def machine() -> str:
    """One line describing the machine the figures come from."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")


@dataclass
class BenchStack:
    workdir: Path
    issuer: str
    api_url: str
    hello_url: str
    audience: str
    bff_url: str
    bff: Child
    children: list[Child] = field(default_factory=list)
    bffs: list[tuple[str, Child]] = field(default_factory=list)
    api: Child | None = None
    hello: Child | None = None


@contextmanager
def bench_stack(session_store: str = "cookie", store: str = "memory",
                redis_url: str = "", access_ttl: int = 3600,
                more: list[dict[str, Any]] | None = None) -> Iterator[BenchStack]:
    """AS + verifying API + hello API + one BFF process per variant.

    ``more`` adds BFF variants (``session_store``, ``store``, ``redis_url``, ``server``: more
    ``[server]`` settings such as ``workers``; ``env``: the process's extra environment, e.g.
    a ``PYTHONPATH`` with another version of the code) on the same AS/API.
    """
    workdir = Path(tempfile.mkdtemp(prefix="bff-bench-"))
    children: list[Child] = []
    variants: list[dict[str, Any]] = [
        {"session_store": session_store, "store": store, "redis_url": redis_url}, *(more or [])]
    try:
        jwks = write_keys(workdir)
        api_port = free_port()
        audience = f"http://127.0.0.1:{api_port}/"
        ports = [free_port() for _ in variants]
        pages = [f"http://127.0.0.1:{p}/" for p in ports]
        authz = start_authorization_server({
            "clients": [{"client_id": "bff", "jwks": jwks, "redirect_uris": pages,
                         "post_logout_redirect_uris": pages}],
            "resource": audience, "accessTokenTTL": access_ttl}, workdir)
        children.append(authz)
        issuer = authz.ready["issuer"]
        api = start_example_api(issuer, audience, port=api_port)
        children.append(api)
        hello = start_example_api("", "", hello_only=True)
        children.append(hello)
        bffs: list[tuple[str, Child]] = []
        for i, (variant, port, page) in enumerate(zip(variants, ports, pages, strict=True)):
            store_table: dict[str, Any] = {"backend": variant.get("store", "memory")}
            if variant.get("redis_url"):
                store_table["url"] = variant["redis_url"]
            write_toml(workdir / f"bff{i}.toml", {
                "server": {"public_url": f"http://127.0.0.1:{port}", "log_level": "warning",
                           **variant.get("server", {})},
                "oauth": {"issuer": issuer, "client_id": "bff", "client_key_file": "client.jwk",
                          "redirect_uri": page, "resources": [audience], "scope": SCOPE},
                "session": {"store": variant.get("session_store", "cookie"),
                            "cookie_key_files": ["cookie.jwk"]},
                "store": store_table,
                "routes": [{"prefix": "/api", "upstream": api.ready["url"],
                            "resource": audience},
                           {"prefix": "/hello", "upstream": hello.ready["url"],
                            "resource": audience}],
            })
            child = start_bff(workdir / f"bff{i}.toml", port, env=variant.get("env"))
            children.append(child)
            bffs.append((f"http://127.0.0.1:{port}", child))
        yield BenchStack(workdir, issuer, api.ready["url"], hello.ready["url"], audience,
                         bffs[0][0], bffs[0][1], children, bffs, api, hello)
    finally:
        for child in reversed(children):
            child.stop()


def sign_in(stack: BenchStack, bff_url: str | None = None) -> tuple[Jar, str]:
    """A signed-in cookie jar and its CSRF token, with the API token already obtained."""
    browser = ASBrowser()
    jar = Jar()
    origin = bff_url or stack.bff_url
    with httpx.Client(base_url=origin, headers={"Origin": origin}, timeout=30) as http:
        body = login(http, jar, browser, return_to="/", redirect_uri=f"{origin}/")
        assert call(http, jar, "GET", "/api/accounts").status_code == 200
        assert call(http, jar, "GET", "/hello/x").status_code == 200
    browser.close()
    return jar, str(body["csrfToken"])


def open_cookie_session(stack: BenchStack, jar: Jar) -> Session:
    """Unseal the cookie session (the benchmark owns the cookie key) to call the API directly."""
    key = json.loads((stack.workdir / "cookie.jwk").read_text())
    sealer = Sealer([seal_key_from_jwk(key)])
    return Session.from_bytes(sealer.open(jar.cookies["__Host-bff-session"],
                                          "__Host-bff-session"))


def session_cookie(stack: BenchStack, jar: Jar, *, age: float = 0.0) -> str:
    """A Cookie header for the jar's session as the BFF would seal it ``age`` seconds ago.

    With ``age`` 0 the BFF has no reason to re-seal it for a minute (``last_seen`` is now), so
    a saturation run that replays one header measures the proxied call and nothing else; an
    ``age`` over a minute is the stale client that every call would re-seal.
    """
    key = json.loads((stack.workdir / "cookie.jwk").read_text())
    sealer = Sealer([seal_key_from_jwk(key)])
    session = open_cookie_session(stack, jar).with_changes(last_seen=time.time() - age)
    sealed = sealer.seal(session.to_bytes(), "__Host-bff-session")
    return f"__Host-bff-session={sealed}"


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


# -- load generation (runs in its own process) ----------------------------------------------------


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(q * len(data)))]

    def summary(self) -> dict[str, float]:
        return {"rps": self.rps, "p50_ms": self.pct(0.50), "p99_ms": self.pct(0.99),
                "errors": self.errors, "requests": self.requests,
                "mean_ms": statistics.fmean(self.latencies_ms) if self.latencies_ms else 0}


HeaderFn = Callable[[], dict[str, str]]


def _direct_headers(token: str, dpop_jwk: dict[str, Any], url: str,
                    nonce_box: dict[str, str]) -> HeaderFn:
    key = DPoPKey(dpop_jwk)

    def headers() -> dict[str, str]:
        return {"Authorization": f"DPoP {token}",
                "DPoP": key.proof("GET", url, access_token=token, nonce=nonce_box.get("n"))}
    return headers


async def _load(url: str, make_headers: HeaderFn, *, concurrency: int, duration: float,
                rate: float | None, nonce_box: dict[str, str]) -> LoadResult:
    connector = aiohttp.TCPConnector(limit=concurrency)
    latencies: list[float] = []
    errors = 0
    count = 0
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(scheduled: float) -> None:
            nonlocal errors, count
            for _ in range(2):
                async with session.get(url, headers=make_headers()) as response:
                    await response.read()
                    nonce = response.headers.get("DPoP-Nonce")
                    if nonce:
                        nonce_box["n"] = nonce
                    if response.status == 401 and "use_dpop_nonce" in response.headers.get(
                            "WWW-Authenticate", ""):
                        continue
                    if response.status != 200:
                        errors += 1
                    break
            count += 1
            latencies.append((time.perf_counter() - scheduled) * 1000)

        await one(time.perf_counter())  # warm: connection and nonce
        latencies.clear()
        count = errors = 0
        start = time.perf_counter()
        end = start + duration
        if rate is None:
            async def worker() -> None:
                while time.perf_counter() < end:
                    await one(time.perf_counter())
            await asyncio.gather(*[worker() for _ in range(concurrency)])
        else:
            interval = 1.0 / rate
            tasks = []
            scheduled = start
            while scheduled < end:
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(scheduled)))
                scheduled += interval
            await asyncio.gather(*tasks)
        seconds = time.perf_counter() - start
    return LoadResult(count, errors, seconds, latencies)


def run_load(url: str, *, cookie: str | None = None, token: str | None = None,
             dpop_jwk: dict[str, Any] | None = None, concurrency: int = 32,
             duration: float = 10.0, rate: float | None = None) -> dict[str, float]:
    """Run one load phase in this process (call it through ``in_subprocess``)."""
    nonce_box: dict[str, str] = {}
    if token is not None and dpop_jwk is not None:
        make = _direct_headers(token, dpop_jwk, url, nonce_box)
    else:
        fixed = {"Cookie": cookie} if cookie else {}

        def make() -> dict[str, str]:
            return fixed
    result = asyncio.run(_load(url, make, concurrency=concurrency, duration=duration,
                               rate=rate, nonce_box=nonce_box))
    return result.summary()


def pair_summary(pairs: list[tuple[float, float]]) -> dict[str, float]:
    """Median, min and max of via/direct throughput over adjacent pairs, and the median rates."""
    ratios = [v / d for v, d in pairs]
    return {"ratio_median": statistics.median(ratios), "ratio_min": min(ratios),
            "ratio_max": max(ratios), "via_rps": statistics.median(v for v, _ in pairs),
            "direct_rps": statistics.median(d for _, d in pairs)}


def in_subprocess(target: str = "bench.common:run_load", **kwargs: Any) -> dict[str, float]:
    """Run a load generator (``module:function``, ``run_load`` by default) in a separate Python
    process, so the generator has its own interpreter."""
    module, function = target.split(":")
    code = (f"import json,sys; from {module} import {function}; "
            f"print(json.dumps({function}(**json.loads(sys.argv[1]))))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(kwargs)], capture_output=True,
                         text=True, check=False, cwd=Path(__file__).resolve().parent.parent)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))

