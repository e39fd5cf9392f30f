"""Liveness and readiness (AS metadata and the store reachable)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from bff.errors import BFFError
from bff.oauth.discovery import Discovery
from bff.store.base import Store
from bff.telemetry.metrics import METRICS


async def metrics_endpoint(request: Request) -> Response:
    """``/metrics`` in the Prometheus text format (counts only; no user or token data)."""
    return PlainTextResponse(METRICS.render(), media_type="text/plain; version=0.0.4",
                             headers={"Cache-Control": "no-store"})


def health_endpoints(discovery: Discovery, store: Store) -> tuple[
        object, object]:
    """``/healthz`` (the process runs) and ``/readyz`` (its dependencies answer)."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    async def readyz(request: Request) -> Response:
        checks: dict[str, str] = {}
        for name, probe in (("authorization_server", discovery.metadata), ("store", store.ping)):
            try:
                await probe()
                checks[name] = "ok"
            except BFFError as exc:
                checks[name] = exc.code
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if ready else "unavailable", "checks": checks},
                            status_code=200 if ready else 503,
                            headers={"Cache-Control": "no-store"})

    return healthz, readyz
