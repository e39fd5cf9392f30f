"""Command line: ``python -m example_api`` serves the banking API and prints a READY line."""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import ssl
import sys
from collections.abc import Sequence
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpx
import uvicorn

from example_api.app import create_app
from example_api.dpop_guard import ASGIApp
from example_api.gateway_trust import GatewayTrust
from example_api.hello import hello_app
from example_api.tls_peer import TLSPeerProtocol

_USAGE_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """Argument parser whose errors fit on one line, so launchers can show them verbatim."""

    def error(self, message: str) -> NoReturn:
        """Print one line and exit with the usage status."""
        print(f"example_api: error: {message}", file=sys.stderr)
        raise SystemExit(_USAGE_ERROR)


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"not an http(s) URL: {value!r}")
    return value


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _Parser(prog="example_api", description="Example DPoP-protected banking API")
    parser.add_argument("--issuer", type=_http_url, help="authorization server issuer")
    parser.add_argument("--audience", help="expected access token audience")
    parser.add_argument("--jwks-uri", type=_http_url, help="default: from issuer discovery")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--public-base-url", type=_http_url, help="base URL clients use in htu")
    parser.add_argument("--hello-only", action="store_true", help="serve an unguarded hello app")
    # RFC 8705: serve over TLS, ask for a client certificate, admit certificate-bound tokens
    parser.add_argument("--tls-cert", help="server certificate (PEM); serves https")
    parser.add_argument("--tls-key", help="server key (PEM)")
    parser.add_argument("--tls-client-ca", help="CA bundle for client certificates")
    # behind the phantom-token gateway: trust only the gateway's pinned key
    parser.add_argument("--gateway-issuer", help="iss of the gateway's JWTs")
    parser.add_argument("--gateway-jwks-file", help="the gateway's public JWKS (JSON file)")
    args = parser.parse_args(argv)
    if bool(args.gateway_issuer) != bool(args.gateway_jwks_file):
        parser.error("--gateway-issuer and --gateway-jwks-file go together")
    if bool(args.tls_cert) != bool(args.tls_key) or (args.tls_client_ca and not args.tls_cert):
        parser.error("--tls-cert and --tls-key go together (and --tls-client-ca needs them)")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    if not args.hello_only and not args.audience:
        parser.error("--audience is required unless --hello-only is given")
    if not args.hello_only and not args.issuer and not args.gateway_issuer:
        parser.error("--issuer (or --gateway-issuer) is required unless --hello-only is given")
    return args


def _discover_jwks_uri(issuer: str) -> str:
    """Read ``jwks_uri`` from the issuer's metadata (OpenID Connect Discovery 1.0 §4)."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    response = httpx.get(url, timeout=10)
    response.raise_for_status()
    metadata = response.json()
    # Discovery §4.3: the metadata must name the issuer we asked about.
    if not isinstance(metadata, dict) or metadata.get("issuer") != issuer:
        raise ValueError("issuer in discovery metadata does not match --issuer")
    jwks_uri = metadata.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise ValueError("discovery metadata has no jwks_uri")
    return jwks_uri


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # asyncio only sets TCP_NODELAY on accepted sockets whose proto is IPPROTO_TCP; with the
    # default proto 0 every small response waits out Nagle plus delayed ACK (about 40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class _ReadyServer(uvicorn.Server):
    """A uvicorn server that announces its URL once it accepts connections."""

    def __init__(self, config: uvicorn.Config, ready_line: str) -> None:
        super().__init__(config)
        self._ready_line = ready_line

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start listening, then print the READY line for whoever launched us."""
        await super().startup(sockets=sockets)
        if self.started:
            print(self._ready_line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, bind the socket and serve until interrupted."""
    args = _parse(argv)
    app: ASGIApp
    if args.hello_only:
        app = hello_app
    elif args.gateway_issuer:
        try:
            trust = GatewayTrust.from_jwks_file(args.gateway_issuer, args.gateway_jwks_file)
        except (OSError, ValueError) as exc:
            print(f"example_api: error: gateway key: {exc}", file=sys.stderr)
            return 1
        app = create_app(issuer=args.issuer or "", audience=args.audience, jwks_uri="",
                         gateway=trust)
    else:
        try:
            jwks_uri = args.jwks_uri or _discover_jwks_uri(args.issuer)
        except (httpx.HTTPError, ValueError) as exc:
            print(f"example_api: error: discovery failed: {exc}", file=sys.stderr)
            return 1
        app = create_app(
            issuer=args.issuer,
            audience=args.audience,
            jwks_uri=jwks_uri,
            public_base_url=args.public_base_url,
            certificate_bound=bool(args.tls_client_ca),
        )
    try:
        sock = _bind(args.host, args.port)
    except OSError as exc:
        print(f"example_api: error: cannot bind {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if ":" in args.host else args.host
    scheme = "https" if args.tls_cert else "http"
    ready = "READY " + json.dumps({"url": f"{scheme}://{host}:{port}", "port": port})
    tls: dict[str, Any] = {}
    if args.tls_cert:
        tls = {"ssl_certfile": args.tls_cert, "ssl_keyfile": args.tls_key}
    if args.tls_client_ca:
        # optional, not required: a call without a certificate gets the API's JSON 401
        tls.update(ssl_ca_certs=args.tls_client_ca, ssl_cert_reqs=ssl.CERT_OPTIONAL,
                   http=TLSPeerProtocol)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="auto", **tls)
    asyncio.run(_ReadyServer(config, ready).serve(sockets=[sock]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
