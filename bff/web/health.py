"""Liveness and readiness (the AS answered recently and the store is reachable)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from bff.errors import BFFError
from bff.oauth.discovery import Discovery
from bff.store.base import Store
from bff.telemetry.metrics import CONTENT_TYPE, METRICS


async def metrics_endpoint(request: Request) -> Response:
    """``/metrics`` in the Prometheus text format (counts only; no user or token data)."""
    return PlainTextResponse(METRICS.render(), media_type=CONTENT_TYPE,
                             headers={"Cache-Control": "no-store"})


async def _check(probe: Callable[[], Awaitable[None]]) -> str:
    try:
        await probe()
    except BFFError as exc:
        return exc.code
    return "ok"


def health_endpoints(discovery: Discovery, store: Store) -> tuple[
        object, object]:
    """``/healthz`` (the process runs) and ``/readyz`` (its dependencies answer)."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    async def readyz(request: Request) -> Response:
        # A live probe, not the cached metadata: the AS may have gone away since it was fetched.
        as_state, store_state = await asyncio.gather(_check(discovery.probe),
                                                     _check(store.ping))
        checks = {"authorization_server": as_state, "store": store_state}
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if ready else "unavailable", "checks": checks},
                            status_code=200 if ready else 503,
                            headers={"Cache-Control": "no-store"})

    return healthz, readyz
