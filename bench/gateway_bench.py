"""The phantom-token gateway path (BFF -> gateway -> API) beside direct calls, in one run.

Usage: .venv/bin/python -m bench.gateway_bench [--duration S] [--repeats N]
Rows, each as a throughput ratio against a direct DPoP call to the verifying API in the same
run (adjacent pairs, median of the pairs): BFF -> API (the usual proxy path, for reference),
BFF -> gateway -> API. Prints the figures; results go to the engineer's notes, not RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    SCOPE,
    BenchStack,
    in_subprocess,
    machine,
    open_cookie_session,
    pair_summary,
    sign_in,
)
from bff.devstack import (
    Child,
    free_port,
    gateway_api_args,
    gateway_as_options,
    start_authorization_server,
    start_bff,
    start_example_api,
    start_gateway,
    write_gateway_keys,
    write_keys,
    write_toml,
)

GATEWAY_RESOURCE = "http://127.0.0.1/gateway/"


def run(duration: float, repeats: int, concurrency: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bff-gateway-bench-"))
    children: list[Child] = []
    try:
        jwks = write_keys(workdir)
        options = gateway_as_options(write_gateway_keys(workdir), GATEWAY_RESOURCE)
        api_port, port = free_port(), free_port()
        audience = f"http://127.0.0.1:{api_port}/"
        page = f"http://127.0.0.1:{port}/"
        authz = start_authorization_server({
            **options, "resource": audience, "accessTokenTTL": 3600,
            "clients": [{"client_id": "bff", "jwks": jwks, "redirect_uris": [page],
                         "post_logout_redirect_uris": [page]}, *options["clients"]]}, workdir)
        children.append(authz)
        issuer = authz.ready["issuer"]
        api = start_example_api(issuer, audience, port=api_port)
        children.append(api)
        behind = start_example_api(issuer, audience, extra_args=gateway_api_args(workdir))
        children.append(behind)
        gateway = start_gateway(issuer, GATEWAY_RESOURCE, behind.ready["url"], audience,
                                workdir)
        children.append(gateway)
        write_toml(workdir / "bff.toml", {
            "server": {"public_url": f"http://127.0.0.1:{port}", "log_level": "warning"},
            "oauth": {"issuer": issuer, "client_id": "bff", "client_key_file": "client.jwk",
                      "redirect_uri": page, "resources": [audience, GATEWAY_RESOURCE],
                      "scope": SCOPE},
            "session": {"cookie_key_files": ["cookie.jwk"]},
            "routes": [{"prefix": "/api", "upstream": api.ready["url"], "resource": audience},
                       {"prefix": "/gw", "upstream": gateway.ready["url"],
                        "resource": GATEWAY_RESOURCE},
                       # sign_in calls /hello/x: the gateway path too (the API's echo route)
                       {"prefix": "/hello", "upstream": f"{gateway.ready['url']}/echo",
                        "resource": GATEWAY_RESOURCE}]})
        bff = start_bff(workdir / "bff.toml", port)
        children.append(bff)
        stack = BenchStack(workdir, issuer, api.ready["url"], gateway.ready["url"], audience,
                           f"http://127.0.0.1:{port}", bff, children)
        jar, _ = sign_in(stack)
        session = open_cookie_session(stack, jar)
        token = session.tokens[audience].token
        direct_url = f"{api.ready['url']}/accounts"
        rows: dict[str, list[tuple[float, float]]] = {"proxy": [], "gateway": []}
        raw: list[dict[str, Any]] = []
        for _ in range(repeats):
            for row, path in (("proxy", "/api/accounts"), ("gateway", "/gw/accounts")):
                via = in_subprocess(url=f"{stack.bff_url}{path}", cookie=jar.header(),
                                    concurrency=concurrency, duration=duration)
                direct = in_subprocess(url=direct_url, token=token, dpop_jwk=session.dpop_jwk,
                                       concurrency=concurrency, duration=duration)
                if via["errors"] or direct["errors"]:
                    raise SystemExit(f"bench: failed responses ({row}): {via} {direct}")
                print(f"  {row:<8} via {via['rps']:7.0f} req/s p50 {via['p50_ms']:6.2f} ms | "
                      f"direct {direct['rps']:7.0f} req/s p50 {direct['p50_ms']:6.2f} ms",
                      flush=True)
                rows[row].append((via["rps"], direct["rps"]))
                raw.append({"row": row, "via": via, "direct": direct})
        summary = {row: pair_summary(pairs) for row, pairs in rows.items()}
        return {"machine": machine(), "duration": duration, "repeats": repeats,
                "concurrency": concurrency, "summary": summary, "raw": raw}
    finally:
        for child in reversed(children):
            child.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    result = run(args.duration, args.repeats, args.concurrency)
    print(json.dumps(result["summary"], indent=2))
    for row, label in (("proxy", "BFF -> API"), ("gateway", "BFF -> gateway -> API")):
        s = result["summary"][row]
        print(f"{label}: throughput ratio against a direct call {s['ratio_median']:.2f} "
              f"(range {s['ratio_min']:.2f}-{s['ratio_max']:.2f})")


if __name__ == "__main__":
    main()
