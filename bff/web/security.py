"""Origin allowlist and CORS for the BFF's own endpoints and API routes (raw ASGI).

Every state-changing call must come from an allowed ``Origin`` (the BFF's own origin or a
configured app origin); CORS answers only those origins, always with credentials.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bff.errors import OriginNotAllowed
from bff.web.errors import send_error

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# X-BFF-Purpose: the one call a payment approval's token is for (bff/proxy/forwarder.py)
ALLOW_HEADERS = "Content-Type, X-CSRF-Token, X-BFF-Purpose, Accept, Last-Event-ID"
ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE"


def header(scope: Scope, name: bytes) -> str | None:
    """One request header (the last one when repeated), decoded as latin-1.

    The headers are indexed once per request: a proxied call asks for six of them.
    """
    index: dict[bytes, bytes] | None = scope.get("bff.headers")
    if index is None:
        index = scope["bff.headers"] = dict(scope.get("headers", ()))
    value = index.get(name)
    return None if value is None else value.decode("latin-1")


class OriginGuard:
    """Checks ``Origin`` on unsafe methods and answers CORS for allowed app origins."""

    def __init__(self, app: ASGIApp, *, own_origin: str, cors_origins: Iterable[str],
                 exempt_paths: Iterable[str] = (), max_age: int = 600,
                 proof_calls_exempt: bool = False) -> None:
        self.app = app
        # mobile calls: no cookie (nothing ambient a forged request could ride on) and an
        # instance proof, which the mobile door checks; browsers cannot send DPoP cross-site
        # without a preflight, which is refused for foreign origins
        self.proof_calls_exempt = proof_calls_exempt
        self.cors = frozenset(o.rstrip("/") for o in cors_origins)
        self.allowed = self.cors | {own_origin.rstrip("/")}
        self.exempt = tuple(exempt_paths)
        self.max_age = str(max_age).encode()

    def _cors_headers(self, origin: str) -> list[tuple[bytes, bytes]]:
        return [(b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-allow-credentials", b"true"), (b"vary", b"Origin")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        origin = header(scope, b"origin")
        if path.startswith(self.exempt) or (
                self.proof_calls_exempt and origin is None and header(scope, b"dpop")
                and header(scope, b"cookie") is None):
            await self.app(scope, receive, send)
            return
        if method == "OPTIONS" and origin is not None and header(
                scope, b"access-control-request-method"):
            if origin not in self.cors:
                await send_error(send, OriginNotAllowed("preflight from a foreign origin"), path)
                return
            await send({"type": "http.response.start", "status": 204, "headers": [
                *self._cors_headers(origin),
                (b"access-control-allow-methods", ALLOW_METHODS.encode()),
                (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
                (b"access-control-max-age", self.max_age)]})
            await send({"type": "http.response.body", "body": b""})
            return
        if method not in SAFE_METHODS and (origin is None or origin not in self.allowed):
            await send_error(send, OriginNotAllowed("unsafe method from a foreign or no origin"),
                             path)
            return
        if origin is None or origin not in self.cors:
            await self.app(scope, receive, send)
            return
        cors = self._cors_headers(origin)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *cors]}
            await send(message)

        await self.app(scope, receive, send_with_cors)
