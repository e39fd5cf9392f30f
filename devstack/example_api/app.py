"""The example banking API: Starlette routes behind :class:`DPoPGuard`."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Final

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from example_api.bank import Bank, PaymentError
from example_api.dpop_guard import ASGIApp, DPoPGuard, Receive, Scope, Send
from example_api.gateway_trust import GatewayTokenGuard, GatewayTrust
from example_api.sca import NotApproved, PaymentPolicy, StepUp

_MIB: Final = 1024 * 1024
_CHUNK: Final = 64 * 1024
_DEFAULT_DOWNLOAD: Final = 200 * _MIB
_MAX_DOWNLOAD: Final = 1024 * _MIB
_MAX_EVENTS: Final = 10_000
_MAX_WAIT_MS: Final = 600_000
_MAX_TRACKED_PATHS: Final = 10_000
_PATTERN: Final = bytes(range(256)) * (_CHUNK // 256)
_ALL_METHODS: Final = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
REQUIRED_SCOPES: Final = {"/accounts": ["accounts"], "/payments": ["payments"]}
EXEMPT_PATHS: Final = ("/hello", "/__stats")


def _error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _int_param(request: Request, name: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) > maximum:
        raise ValueError(f"{name} must be an integer between 0 and {maximum}")
    return int(raw)


class _CallCounter:
    """Counts requests per path before the guard sees them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.calls: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            # Cap distinct keys so arbitrary /echo paths cannot grow memory without bound.
            if path in self.calls or len(self.calls) < _MAX_TRACKED_PATHS:
                self.calls[path] += 1
        await self.app(scope, receive, send)


def create_app(
    *,
    issuer: str,
    audience: str,
    jwks_uri: str,
    public_base_url: str | None = None,
    http_client: httpx.AsyncClient | None = None,
    clock: Callable[[], float] = time.time,
    certificate_bound: bool = False,
    policy: PaymentPolicy | None = None,
    gateway: GatewayTrust | None = None,
) -> ASGIApp:
    """Build the guarded banking API; the client and clock are injectable for tests.

    With ``gateway`` the API sits behind the phantom-token gateway and admits only the JWTs
    that the gateway signed (no token from the AS itself).
    """
    bank = Bank()
    sca = policy or PaymentPolicy(clock=clock)
    holder: dict[str, object] = {}

    async def accounts(request: Request) -> Response:
        return JSONResponse({"accounts": [a.to_json() for a in bank.accounts.values()]})

    async def transactions(request: Request) -> Response:
        account = bank.accounts.get(request.path_params["account_id"])
        if account is None:
            return _error(404, "not_found", "Unknown account")
        return JSONResponse({"transactions": [t.to_json() for t in account.transactions]})

    async def payments(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "invalid_payment", "Body must be JSON")
        claims = request.scope.get("state", {}).get("dpop_token_claims", {})
        try:
            # a payment that cannot be booked asks for no approval, and spends none
            source = bank.check(body)[0]
            sca.check(claims, body, source.currency)
        except StepUp as exc:
            response = _error(401, "insufficient_user_authentication", str(exc))
            response.headers["www-authenticate"] = exc.challenge()
            return response
        except NotApproved as exc:
            return _error(403, "payment_not_approved", str(exc))
        except PaymentError as exc:
            return _error(400, "invalid_payment", str(exc))
        try:
            payment = bank.pay(body)
        except PaymentError as exc:
            return _error(400, "invalid_payment", str(exc))
        return JSONResponse({"payment": payment}, status_code=201)

    async def download(request: Request) -> Response:
        try:
            size = _int_param(request, "size", _DEFAULT_DOWNLOAD, _MAX_DOWNLOAD)
        except ValueError as exc:
            return _error(400, "invalid_request", str(exc))

        async def chunks() -> AsyncIterator[bytes]:
            remaining = size
            while remaining > 0:
                piece = _PATTERN if remaining >= _CHUNK else _PATTERN[:remaining]
                remaining -= len(piece)
                yield piece

        return StreamingResponse(
            chunks(), media_type="application/octet-stream",
            headers={"content-length": str(size)},
        )

    async def events(request: Request) -> Response:
        try:
            count = _int_param(request, "count", 5, _MAX_EVENTS)
            interval = _int_param(request, "interval_ms", 100, _MAX_WAIT_MS)
        except ValueError as exc:
            return _error(400, "invalid_request", str(exc))

        async def stream() -> AsyncIterator[str]:
            for seq in range(count):
                if seq:
                    await anyio.sleep(interval / 1000)
                yield f"data: {json.dumps({'seq': seq, 'at': time.time()})}\n\n"

        return StreamingResponse(
            stream(), media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    async def echo(request: Request) -> Response:
        body = await request.body()
        raw_path = request.scope.get("raw_path") or b""
        return JSONResponse({
            "method": request.method,
            "path": request.url.path,
            "raw_path": raw_path.decode("latin-1"),
            "query_string": request.scope["query_string"].decode("latin-1"),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")]
                        for k, v in request.scope["headers"]],
            "body_length": len(body),
        })

    async def slow(request: Request) -> Response:
        try:
            ms = _int_param(request, "ms", 1000, _MAX_WAIT_MS)
        except ValueError as exc:
            return _error(400, "invalid_request", str(exc))
        await anyio.sleep(ms / 1000)
        return JSONResponse({"ok": True})

    async def hello(request: Request) -> Response:
        return JSONResponse({"hello": "world"})

    async def stats(request: Request) -> Response:
        guard = holder["guard"]
        counter = holder["counter"]
        assert isinstance(guard, DPoPGuard | GatewayTokenGuard)
        assert isinstance(counter, _CallCounter)
        return JSONResponse({**guard.stats, "calls": dict(counter.calls)})

    routes = [
        Route("/accounts", accounts, methods=["GET"]),
        Route("/accounts/{account_id}/transactions", transactions, methods=["GET"]),
        Route("/payments", payments, methods=["POST"]),
        Route("/download/large", download, methods=["GET"]),
        Route("/events", events, methods=["GET"]),
        Route("/echo/{path:path}", echo, methods=_ALL_METHODS),
        Route("/slow", slow, methods=["GET"]),
        Route("/hello", hello, methods=["GET"]),
        Route("/__stats", stats, methods=["GET"]),
    ]
    guard: DPoPGuard | GatewayTokenGuard
    if gateway is not None:
        guard = GatewayTokenGuard(Starlette(routes=routes), trust=gateway, audience=audience,
                                  required_scopes=REQUIRED_SCOPES, exempt_paths=EXEMPT_PATHS,
                                  clock=clock)
        counter = _CallCounter(guard)
        holder.update(guard=guard, counter=counter)
        return counter
    guard = DPoPGuard(
        Starlette(routes=routes),
        issuer=issuer,
        audience=audience,
        jwks_uri=jwks_uri,
        public_base_url=public_base_url,
        required_scopes=REQUIRED_SCOPES,
        exempt_paths=EXEMPT_PATHS,
        http_client=http_client,
        clock=clock,
        certificate_bound=certificate_bound,
    )
    counter = _CallCounter(guard)
    holder.update(guard=guard, counter=counter)
    return counter
