"""The mutual-TLS path (BFF with certificate-bound tokens -> API over mTLS) beside direct calls.

Usage: .venv/bin/python -m bench.mtls_bench [--duration S] [--repeats N]
The row is the throughput ratio of BFF -> API (oauth.sender_constraint = "mtls") against a
direct call presenting the same certificate-bound token over mTLS with the BFF's certificate,
in the same run (adjacent pairs, median). Results go to the engineer's notes, not RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import (
    SCOPE,
    BenchStack,
    LoadResult,
    in_subprocess,
    machine,
    open_cookie_session,
    pair_summary,
    sign_in,
)
from bff.devstack import (
    Child,
    free_port,
    start_authorization_server,
    start_bff,
    start_example_api,
    write_keys,
    write_toml,
)
from tests.support.mtls import write_mtls_material


async def _direct(url: str, token: str, cert: str, key: str, ca: str, concurrency: int,
                  duration: float) -> LoadResult:
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(cert, key)
    latencies: list[float] = []
    errors = count = 0
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=context)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one() -> None:
            nonlocal errors, count
            started = time.perf_counter()
            async with session.get(url, headers=headers) as response:
                await response.read()
                errors += response.status != 200
            count += 1
            latencies.append((time.perf_counter() - started) * 1000)

        await one()
        latencies.clear()
        count = errors = 0
        start = time.perf_counter()
        end = start + duration

        async def worker() -> None:
            while time.perf_counter() < end:
                await one()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        return LoadResult(count, errors, time.perf_counter() - start, latencies)


def run_direct(**kwargs: Any) -> dict[str, float]:
    """Direct mTLS load (call through a subprocess, like ``in_subprocess``)."""
    return asyncio.run(_direct(**kwargs)).summary()


def direct_in_subprocess(**kwargs: Any) -> dict[str, float]:
    return in_subprocess("bench.mtls_bench:run_direct", **kwargs)


def run(duration: float, repeats: int, concurrency: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bff-mtls-bench-"))
    material = write_mtls_material(workdir)
    children: list[Child] = []
    try:
        jwks = write_keys(workdir)
        port = free_port()
        audience = "http://127.0.0.1/example-api/"
        page = f"http://127.0.0.1:{port}/"
        authz = start_authorization_server({
            "resource": audience, "accessTokenTTL": 3600,
            "tls": {"cert": str(material.server.cert), "key": str(material.server.key),
                    "ca": str(material.ca.cert)},
            "clients": [{"client_id": "bff-jwt-mtls", "jwks": jwks, "redirect_uris": [page],
                         "post_logout_redirect_uris": [page],
                         "tls_client_certificate_bound_access_tokens": True,
                         "dpop_bound_access_tokens": False}]}, workdir)
        children.append(authz)
        issuer = authz.ready["issuer"]
        api = start_example_api(issuer, audience, extra_args=[
            "--tls-cert", str(material.server.cert), "--tls-key", str(material.server.key),
            "--tls-client-ca", str(material.ca.cert)])
        children.append(api)
        ca = str(material.ca.cert)
        write_toml(workdir / "bff.toml", {
            "server": {"public_url": f"http://127.0.0.1:{port}", "log_level": "warning"},
            "oauth": {"issuer": issuer, "client_id": "bff-jwt-mtls",
                      "client_key_file": "client.jwk", "redirect_uri": page,
                      "resources": [audience], "scope": SCOPE, "sender_constraint": "mtls",
                      "tls_cert_file": str(material.client.cert),
                      "tls_key_file": str(material.client.key), "tls_ca_file": ca},
            "session": {"cookie_key_files": ["cookie.jwk"]},
            "routes": [{"prefix": "/api", "upstream": api.ready["url"], "resource": audience,
                        "tls_ca_file": ca},
                       # sign_in calls /hello/x: the API's echo route, over mTLS too
                       {"prefix": "/hello", "upstream": f"{api.ready['url']}/echo",
                        "resource": audience, "tls_ca_file": ca}]})
        bff = start_bff(workdir / "bff.toml", port)
        children.append(bff)
        stack = BenchStack(workdir, issuer, api.ready["url"], "", audience,
                           f"http://127.0.0.1:{port}", bff, children)
        jar, _ = sign_in(stack)
        token = open_cookie_session(stack, jar).tokens[audience].token
        pairs: list[tuple[float, float]] = []
        for _ in range(repeats):
            via = in_subprocess(url=f"{stack.bff_url}/api/accounts", cookie=jar.header(),
                                concurrency=concurrency, duration=duration)
            direct = direct_in_subprocess(
                url=f"{api.ready['url']}/accounts", token=token, cert=str(material.client.cert),
                key=str(material.client.key), ca=ca, concurrency=concurrency, duration=duration)
            if via["errors"] or direct["errors"]:
                raise SystemExit(f"bench: failed responses: {via} {direct}")
            print(f"  mtls via {via['rps']:7.0f} req/s p50 {via['p50_ms']:6.2f} ms | "
                  f"direct {direct['rps']:7.0f} req/s p50 {direct['p50_ms']:6.2f} ms", flush=True)
            pairs.append((via["rps"], direct["rps"]))
        return {"machine": machine(), **pair_summary(pairs)}
    finally:
        for child in reversed(children):
            child.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    s = run(args.duration, args.repeats, args.concurrency)
    print(json.dumps(s, indent=2))
    print(f"BFF -> API over mTLS: throughput ratio against a direct mTLS call "
          f"{s['ratio_median']:.2f} (range {s['ratio_min']:.2f}-{s['ratio_max']:.2f})")


if __name__ == "__main__":
    main()
