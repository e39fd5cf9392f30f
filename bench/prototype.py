"""The floor the proxy's per-call CPU is measured against: the same stack doing nothing else.

uvicorn with httptools and uvloop, one raw ASGI callable, one pooled aiohttp session, and a
fresh ES256 DPoP proof (RFC 9449 §4.2) signed with ``cryptography`` for every call. No session
cookie, no checks, no logs, no metrics: what any proxy built on these parts pays per call.
Configured through the environment (the benchmark starts it as a child process):

- ``PROTOTYPE_UPSTREAM``: base URL the path is appended to;
- ``PROTOTYPE_TOKEN``: the access token sent as ``Authorization: DPoP``;
- ``PROTOTYPE_JWK``: the private EC P-256 JWK the proofs are signed with.

It listens on a free port of 127.0.0.1 and prints ``READY {"url": ...}`` once it does.

Usage: .venv/bin/python -m bench.prototype (or ``start_prototype`` below)
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import uvicorn
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from yarl import URL

from bff.devstack import Child, spawn

Scope = dict[str, Any]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


class Prototype:
    """One route: every request goes to the upstream with the token and a fresh proof."""

    def __init__(self, upstream: str, token: str, jwk: dict[str, str]) -> None:
        self.upstream = upstream.rstrip("/")
        self.token = token
        self.key = ec.EllipticCurvePrivateNumbers(
            _int(jwk["d"]), ec.EllipticCurvePublicNumbers(_int(jwk["x"]), _int(jwk["y"]),
                                                          ec.SECP256R1())).private_key()
        public = {"crv": "P-256", "kty": "EC", "x": jwk["x"], "y": jwk["y"]}
        self.header = _b64(json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": public},
                                      separators=(",", ":")).encode())
        self.ath = _b64(hashlib.sha256(token.encode()).digest())
        self.nonce: str | None = None
        self.session: aiohttp.ClientSession | None = None

    def proof(self, method: str, url: str) -> str:
        claims: dict[str, Any] = {"jti": uuid.uuid4().hex, "htm": method, "htu": url,
                                  "iat": int(time.time()), "ath": self.ath}
        if self.nonce:
            claims["nonce"] = self.nonce
        signing_input = f"{self.header}.{_b64(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(),
                                                  ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.session = aiohttp.ClientSession(
                        connector=aiohttp.TCPConnector(limit=0), auto_decompress=False,
                        cookie_jar=aiohttp.DummyCookieJar())
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self.session is not None:
                        await self.session.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        assert self.session is not None
        url = self.upstream + scope["path"]
        for _ in range(2):
            headers = {"Authorization": f"DPoP {self.token}",
                       "DPoP": self.proof(scope["method"], url)}
            async with self.session.request(scope["method"], URL(url, encoded=True),
                                            headers=headers) as response:
                body = await response.read()
                nonce = response.headers.get("DPoP-Nonce")
                if nonce:
                    self.nonce = nonce
                if response.status == 401 and nonce:
                    continue
                await send({"type": "http.response.start", "status": response.status,
                            "headers": [(b"content-type", response.headers.get(
                                "Content-Type", "application/octet-stream").encode()),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return


def start_prototype(upstream: str, token: str, jwk: dict[str, Any]) -> Child:
    """The prototype as a child process; its URL is ``child.ready["url"]``."""
    return spawn("prototype", [sys.executable, "-m", "bench.prototype"], ready_prefix="READY ",
                 cwd=Path(__file__).resolve().parent.parent,
                 env={"PROTOTYPE_UPSTREAM": upstream, "PROTOTYPE_TOKEN": token,
                      "PROTOTYPE_JWK": json.dumps(jwk)})


def main() -> None:
    app = Prototype(os.environ["PROTOTYPE_UPSTREAM"], os.environ["PROTOTYPE_TOKEN"],
                    json.loads(os.environ["PROTOTYPE_JWK"]))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)  # connections wait in the backlog until the loop serves them
    config = uvicorn.Config(app, http="httptools", loop="uvloop", log_level="warning",
                            access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    print("READY " + json.dumps({"url": f"http://127.0.0.1:{sock.getsockname()[1]}"}),
          flush=True)
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
