"""Builds the ASGI app from a validated configuration: the one place where parts are wired."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from bff.config.loader import LoadedConfig
from bff.crypto.seal import Sealer
from bff.errors import BFFError, EndpointNotFound, InvalidRequest, MethodNotAllowed
from bff.handler.backchannel import BackchannelLogout, SessionRevocations
from bff.handler.browser import BrowserHandler
from bff.handler.refresh import SingleFlightRefresher
from bff.handler.service import SessionService
from bff.oauth.client import ClientSettings, FapiClient
from bff.oauth.clock import Clock, system_clock
from bff.oauth.jws import JWSSigner
from bff.proxy.forwarder import UpstreamPool
from bff.proxy.routes import ProxyDispatcher
from bff.sessions.cookies import CookieNames, clear_session, request_cookies
from bff.sessions.stores import CookieSessionStore, ServerSessionStore, SessionStore
from bff.sessions.transactions import LoginTransactions
from bff.store import keys
from bff.store.base import MarkerSource, Store
from bff.store.breaker import BreakerStore
from bff.store.factory import build_store
from bff.store.mirror import MarkerMirror
from bff.telemetry.access import AccessLog
from bff.web.backchannel import backchannel_route
from bff.web.browser import browser_routes
from bff.web.errors import error_response
from bff.web.headers import HSTS_HEADER, STATIC_HEADERS, SecurityHeaders
from bff.web.health import health_endpoints, metrics_endpoint
from bff.web.limits import HeadLimitGuard, HeadLimits
from bff.web.security import OriginGuard

log = logging.getLogger("bff.app")


@dataclass
class Parts:
    """The wired components, exposed for the CLI, tests and benchmarks."""

    config: LoadedConfig
    http: httpx.AsyncClient
    client: FapiClient
    store: Store
    sessions: SessionStore
    service: SessionService
    handler: BrowserHandler
    names: CookieNames
    backchannel: BackchannelLogout
    upstreams: UpstreamPool
    proxy: ProxyDispatcher | None = None
    mirror: MarkerMirror | None = None


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def build_parts(config: LoadedConfig, *, clock: Clock = system_clock,
                store: Store | None = None,
                http: httpx.AsyncClient | None = None) -> Parts:
    """Wire every component from the configuration."""
    s = config.settings
    if s.insecure.plain_http_cookies:
        log.warning("INSECURE: cookies without __Host- prefix and Secure (plain-http loopback "
                    "development only)", extra={"setting": "insecure.plain_http_cookies"})
    if s.insecure.allow_algorithms:
        log.warning("INSECURE: algorithms beyond FAPI 2.0 allowed",
                    extra={"setting": "insecure.allow_algorithms"})
    if s.insecure.logout_token_without_typ:
        log.warning("INSECURE: logout tokens without typ logout+jwt (missing or JWT) accepted",
                    extra={"setting": "insecure.logout_token_without_typ"})
    if s.insecure.loopback_endpoints:
        log.warning("INSECURE: plain-http AS endpoints on loopback hosts accepted",
                    extra={"setting": "insecure.loopback_endpoints"})
    names = CookieNames(secure=not s.insecure.plain_http_cookies)
    sealer = Sealer(config.seal_keys)
    store = store or build_store(s.store)
    http = http or httpx.AsyncClient(timeout=s.oauth.http_timeout, follow_redirects=False,
                                     headers={"User-Agent": "bff/0.1"})
    client = FapiClient(ClientSettings(
        issuer=s.oauth.issuer, client_id=s.oauth.client_id, signer=JWSSigner(config.client_jwk),
        redirect_uri=s.oauth.redirect_uri, scope=s.oauth.scope,
        post_logout_redirect_uri=s.oauth.post_logout_redirect_uri or None,
        algorithms=tuple(s.oauth.algorithms), clock_skew=s.oauth.clock_skew,
        authorization_params=dict(s.oauth.authorization_params),
        request_objects=s.oauth.request_objects, response_mode=s.oauth.response_mode,
        loopback_endpoints=s.insecure.loopback_endpoints),
        http, clock)
    sessions: SessionStore = (ServerSessionStore(sealer, names, store)
                              if s.session.store == "server" else CookieSessionStore(sealer, names))
    transactions = LoginTransactions(sealer, names, store, s.session.login_timeout,
                                     s.session.max_login_transactions)
    mirror = marker_mirror(config, store)
    revocations = SessionRevocations(store, clock, s.session.absolute_timeout,
                                     fail_open=s.session.store == "cookie", sealer=sealer,
                                     mirror=mirror)
    refresher = SingleFlightRefresher(store, sealer, clock, grace=s.session.refresh_grace,
                                      on_refreshed=revocations.record_latest)
    service = SessionService(s, client, refresher, clock, revocations)
    handler = BrowserHandler(s, client, sessions, transactions, service, names)
    backchannel = BackchannelLogout(client, store, revocations, clock,
                                    strict_typ=not s.insecure.logout_token_without_typ)
    return Parts(config, http, client, store, sessions, service, handler, names, backchannel,
                 UpstreamPool(), mirror=mirror)


def marker_mirror(config: LoadedConfig, store: Store) -> MarkerMirror | None:
    """The in-memory mirror of the logout markers, for a store that announces them."""
    staleness = config.settings.store.mirror_staleness
    source = store.inner if isinstance(store, BreakerStore) else store
    if staleness <= 0 or config.settings.store.cluster or not isinstance(source, MarkerSource):
        return None
    return MarkerMirror(source, keys.MIRRORED, staleness=staleness)


def build_app(config: LoadedConfig, *, parts: Parts | None = None,
              clock: Clock = system_clock) -> ASGIApp:
    """The complete ASGI application."""
    parts = parts or build_parts(config, clock=clock)
    s = config.settings
    prefix = s.server.path_prefix

    def clear_headers(request: Request) -> list[str]:
        cookies = request_cookies(request.scope["headers"])
        return [c.header() for c in clear_session(parts.names, cookies) if c.name in cookies]

    healthz, readyz = health_endpoints(parts.client.discovery, parts.store)
    routes: list[BaseRoute] = [
        *browser_routes(parts.handler, prefix, clear_headers),
        backchannel_route(parts.backchannel, prefix),
        Route("/healthz", healthz, methods=["GET"]),  # type: ignore[arg-type]
        Route("/readyz", readyz, methods=["GET"]),  # type: ignore[arg-type]
    ]
    if s.server.metrics:
        routes.append(Route("/metrics", metrics_endpoint, methods=["GET"]))
    if s.server.static_dir:
        routes.append(Mount("/", SecurityHeaders(
            StaticFiles(directory=s.server.static_dir, html=True), STATIC_HEADERS)))

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        error: BFFError = {404: EndpointNotFound, 405: MethodNotAllowed}.get(
            status, InvalidRequest)(f"HTTP {status}")
        return error_response(error, request.url.path)

    async def server_error(request: Request, exc: Exception) -> Response:
        return error_response(exc, request.url.path)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        # the proxy's connection pools belong to this event loop: made here, closed here
        await parts.upstreams.open()
        # everything built at start-up lives as long as the process: the collector need not
        # walk it again on each full collection (measured 14-19 us per proxied call)
        gc.collect()
        gc.freeze()
        if parts.mirror is not None:
            parts.mirror.start()
        try:
            yield
        finally:
            # what was frozen may become garbage now (an app built again in the same process)
            gc.unfreeze()
            if parts.mirror is not None:
                await parts.mirror.stop()
            await parts.http.aclose()
            await parts.store.close()
            await parts.upstreams.close()

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: http_error, Exception: server_error})
    app.state.parts = parts
    proxied = parts.proxy = ProxyDispatcher(app, parts.handler.authenticate, parts.service,
                                            s.routes, parts.upstreams)
    guarded: ASGIApp = OriginGuard(
        proxied, own_origin=origin_of(s.server.public_url), cors_origins=s.cors.allowed_origins,
        exempt_paths=(f"{prefix}/backchannel-logout",), max_age=s.cors.max_age)
    if s.server.hsts and urlsplit(s.server.public_url).scheme == "https":
        # RFC 6797 §7.1: on every answer over https, the BFF's own and proxied ones alike
        guarded = SecurityHeaders(guarded, [HSTS_HEADER])
    limited = HeadLimitGuard(guarded, HeadLimits.of(s.server))
    return AccessLog(limited, bff_prefix=prefix,
                     is_proxied=lambda path: proxied.route_for(path) is not None,
                     log_lines=s.server.access_log)
