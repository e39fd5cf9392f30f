"""Command line: ``python -m gateway`` serves the phantom-token gateway and prints a READY line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn
from example_api.__main__ import _bind, _http_url, _Parser, _ReadyServer

from gateway.cache import DEFAULT_MAX_AGE, DEFAULT_MAX_ENTRIES, IntrospectionCache
from gateway.gateway import PhantomTokenGateway
from gateway.introspection import Introspector


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _Parser(prog="gateway", description="Phantom-token gateway (opaque -> JWT)")
    parser.add_argument("--issuer", type=_http_url, required=True, help="AS issuer")
    parser.add_argument("--resource", required=True, help="the audience of the opaque tokens")
    parser.add_argument("--client-id", required=True, help="the gateway's client id at the AS")
    parser.add_argument("--client-key", required=True, help="private JWK file (private_key_jwt)")
    parser.add_argument("--signing-key", required=True, help="private JWK file for the API JWTs")
    parser.add_argument("--gateway-issuer", required=True, help="iss of the JWTs it signs")
    parser.add_argument("--upstream", type=_http_url, required=True, help="the API's base URL")
    parser.add_argument("--upstream-audience", required=True, help="aud of the JWTs it signs")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--public-base-url", type=_http_url, help="base URL clients use in htu")
    parser.add_argument("--cache-max-age", type=float, default=DEFAULT_MAX_AGE,
                        help="seconds an introspection answer is kept (the revocation bound)")
    parser.add_argument("--cache-size", type=int, default=DEFAULT_MAX_ENTRIES)
    args = parser.parse_args(argv)
    if args.cache_max_age <= 0 or args.cache_size <= 0:
        parser.error("--cache-max-age and --cache-size must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, bind the socket and serve until interrupted."""
    args = _parse(argv)
    try:
        client_jwk = json.loads(Path(args.client_key).read_text())
        signing_jwk = json.loads(Path(args.signing_key).read_text())
    except (OSError, ValueError) as exc:
        print(f"gateway: error: cannot read a key file: {exc}", file=sys.stderr)
        return 1
    app = PhantomTokenGateway(
        issuer=args.issuer, resource=args.resource,
        introspector=Introspector(issuer=args.issuer, client_id=args.client_id,
                                  client_jwk=client_jwk),
        upstream=args.upstream, upstream_audience=args.upstream_audience,
        signing_jwk=signing_jwk, gateway_issuer=args.gateway_issuer,
        cache=IntrospectionCache(max_age=args.cache_max_age, max_entries=args.cache_size),
        public_base_url=args.public_base_url)
    try:
        sock = _bind(args.host, args.port)
    except OSError as exc:
        print(f"gateway: error: cannot bind {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    ready = "READY " + json.dumps({"url": f"http://{host}:{port}", "port": port})
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    asyncio.run(_ReadyServer(config, ready).serve(sockets=[sock]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
