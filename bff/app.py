"""Builds the ASGI app from a validated configuration: the one place where parts are wired."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from bff.config.loader import LoadedConfig
from bff.config.reload import KeyRing
from bff.crypto.seal import Sealer
from bff.crypto.tls import ClientCertificate
from bff.errors import BFFError, EndpointNotFound, InvalidRequest, MethodNotAllowed
from bff.handler.backchannel import BackchannelLogout, SessionRevocations
from bff.handler.browser import BrowserHandler
from bff.handler.refresh import SingleFlightRefresher
from bff.handler.service import ActiveSession, Call, SessionService
from bff.mobile.apple import apple_roots
from bff.mobile.attestation import AttestationVerifier, Challenges
from bff.mobile.door import MobileDoor, has_mobile_credential
from bff.mobile.platform import RegistrationEvidence, app_attest_verifier
from bff.mobile.proofs import InstanceProofs, ProofNonces
from bff.mobile.registry import InstanceRegistry
from bff.oauth.client import ClientSettings, FapiClient
from bff.oauth.clock import Clock, system_clock
from bff.oauth.jws import JWSSigner
from bff.proxy.forwarder import UpstreamPool
from bff.proxy.routes import ProxyDispatcher
from bff.proxy.tls import RouteTLS, route_tls
from bff.sessions.cookies import CookieNames, clear_session, request_cookies
from bff.sessions.stores import CookieSessionStore, ServerSessionStore, SessionStore
from bff.sessions.transactions import LoginTransactions
from bff.store import keys
from bff.store.base import MarkerSource, Store
from bff.store.breaker import BreakerStore
from bff.store.factory import build_store
from bff.store.mirror import MarkerMirror
from bff.telemetry.access import RequestTelemetry
from bff.web.backchannel import backchannel_route, instance_backchannel_route
from bff.web.browser import browser_routes
from bff.web.collector import serving_started, serving_stopped
from bff.web.errors import error_response
from bff.web.headers import HSTS_HEADER, STATIC_HEADERS, SecurityHeaders
from bff.web.health import health_endpoints, metrics_endpoint
from bff.web.jwks import jwks_endpoint
from bff.web.limits import HeadLimitGuard, HeadLimits
from bff.web.mobile import mobile_routes
from bff.web.mtls import certificate_reloader, client_mtls
from bff.web.openapi import openapi_endpoint
from bff.web.security import OriginGuard
from bff.web.static import SPAFiles

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
    keys: KeyRing | None = None
    route_tls: dict[str, RouteTLS] = field(default_factory=dict)

    def certificates(self) -> list[ClientCertificate]:
        """Every client certificate in use (re-read together on SIGHUP)."""
        certs = [t.certificate for t in self.route_tls.values() if t.certificate is not None]
        if self.client.mtls is not None:
            certs.append(self.client.mtls.certificate)
        return certs
    mobile: MobileDoor | None = None
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
    if s.insecure.app_attest_roots_file:
        log.warning("INSECURE: App Attest chains are checked against the roots of "
                    "insecure.app_attest_roots_file, not Apple's (tests only)",
                    extra={"setting": "insecure.app_attest_roots_file"})
    names = CookieNames(secure=not s.insecure.plain_http_cookies)
    sealer = Sealer(config.seal_keys)
    # without a client key (TLS client authentication and no signed requests) nothing is signed
    signer = JWSSigner(config.client_jwk) if config.client_jwk else None
    store = store or build_store(s.store)
    http = http or httpx.AsyncClient(timeout=s.oauth.http_timeout, follow_redirects=False,
                                     headers={"User-Agent": "bff/0.1"})
    mtls = client_mtls(config)
    client = FapiClient(ClientSettings(
        issuer=s.oauth.issuer, client_id=s.oauth.client_id, signer=signer,
        redirect_uri=s.oauth.redirect_uri, scope=s.oauth.scope,
        post_logout_redirect_uri=s.oauth.post_logout_redirect_uri or None,
        algorithms=tuple(s.oauth.algorithms), clock_skew=s.oauth.clock_skew,
        authorization_params=dict(s.oauth.authorization_params),
        request_objects=s.oauth.request_objects, response_mode=s.oauth.response_mode,
        loopback_endpoints=s.insecure.loopback_endpoints, metadata_ttl=s.oauth.metadata_ttl,
        client_auth=s.oauth.client_auth, sender_constraint=s.oauth.sender_constraint),
        http, clock, mtls=mtls)
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
    mobile = build_mobile(config, service, store, sealer, names, http, client, clock)
    return Parts(config, http, client, store, sessions, service, handler, names, backchannel,
                 UpstreamPool(), keys=KeyRing(config, signer, sealer),
                 route_tls={r.prefix: route_tls(r, s, config.base_dir) for r in s.routes},
                 mobile=mobile, mirror=mirror)


def build_mobile(config: LoadedConfig, service: SessionService, store: Store, sealer: Sealer,
                 names: CookieNames, http: httpx.AsyncClient, client: FapiClient,
                 clock: Clock) -> MobileDoor | None:
    """The mobile front door (DESIGN §6), when enabled."""
    s = config.settings
    if not s.mobile.enabled:
        return None
    m = s.mobile
    challenges = Challenges(store, m.challenge_ttl)
    nonces = ProofNonces(sealer, clock, m.nonce_ttl)
    audience = s.server.public_url.rstrip("/")
    roots = (x509.load_pem_x509_certificates(config.app_attest_roots_pem)
             if config.app_attest_roots_pem else apple_roots())
    attestations = RegistrationEvidence(
        AttestationVerifier(config.attester_jwks, m.apps, audience, store, challenges, clock,
                            m.proof_max_age, algorithms=s.oauth.algorithms),
        m.app_attest, app_attest_verifier(m.app_attest, roots, clock))
    proofs = InstanceProofs(store, nonces, clock, m.proof_max_age, m.require_nonce,
                            algorithms=s.oauth.algorithms)
    registry = InstanceRegistry(s, store, sealer, http, client.discovery, clock,
                                config.registration_token,
                                backchannel_base=f"{audience}{s.server.path_prefix}"
                                                 "/backchannel-logout")
    return MobileDoor(s, service, store, sealer, names, registry, challenges, attestations,
                      proofs, nonces)


def marker_mirror(config: LoadedConfig, store: Store) -> MarkerMirror | None:
    """The in-memory mirror of the logout markers, for a store that announces them."""
    staleness = config.settings.store.mirror_staleness
    source = store.inner if isinstance(store, BreakerStore) else store
    if staleness <= 0 or config.settings.store.cluster or not isinstance(source, MarkerSource):
        return None
    return MarkerMirror(source, keys.MIRRORED, staleness=staleness)


def build_app(config: LoadedConfig, *, parts: Parts | None = None,
              clock: Clock = system_clock, server_limits_heads: bool = False) -> ASGIApp:
    """The complete ASGI application.

    ``server_limits_heads``: the server enforces ``HeadLimits`` while it parses (``bff run``'s
    uvicorn protocol), so the app need not count the headers again on every request.
    """
    parts = parts or build_parts(config, clock=clock)
    assert parts.keys is not None
    keys = parts.keys
    s = config.settings
    prefix = s.server.path_prefix

    def clear_headers(request: Request) -> list[str]:
        cookies = request_cookies(request.scope["headers"])
        return [c.header() for c in clear_session(parts.names, cookies) if c.name in cookies]

    healthz, readyz = health_endpoints(parts.client.discovery, parts.store)
    routes: list[BaseRoute] = [
        *browser_routes(parts.handler, prefix, clear_headers,
                        refuse_proofs=parts.mobile is not None),
        *(mobile_routes(parts.mobile, prefix) if parts.mobile is not None else []),
        backchannel_route(parts.backchannel, prefix),
        *([instance_backchannel_route(parts.backchannel, parts.mobile.backchannel_client, prefix)]
          if parts.mobile is not None else []),
        Route("/healthz", healthz, methods=["GET"]),  # type: ignore[arg-type]
        Route("/readyz", readyz, methods=["GET"]),  # type: ignore[arg-type]
        Route(f"{prefix}/jwks.json", jwks_endpoint(keys), methods=["GET"]),
        Route(f"{prefix}/openapi.json", openapi_endpoint(prefix, metrics=s.server.metrics),
              methods=["GET"]),
    ]
    if s.server.metrics:
        routes.append(Route("/metrics", metrics_endpoint, methods=["GET"]))
    if s.server.static_dir:
        routes.append(Mount("/", SecurityHeaders(
            SPAFiles(directory=s.server.static_dir, html=True), STATIC_HEADERS)))

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
        if parts.mirror is not None:
            parts.mirror.start()
        serving_started()  # the collector skips start-up objects and collects less often
        try:
            async with keys.watching(s.server.key_reload_interval,
                                     certificate_reloader(parts.certificates())):
                yield
        finally:
            serving_stopped()
            if parts.mirror is not None:
                await parts.mirror.stop()
            await parts.http.aclose()
            if parts.client.mtls is not None:
                await parts.client.mtls.http.aclose()
            await parts.store.close()
            await parts.upstreams.close()

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: http_error, Exception: server_error})
    app.state.parts = parts
    browser_door, mobile_door = parts.handler, parts.mobile

    async def authenticate(call: Call) -> ActiveSession:
        # the front door that authenticates a proxied call: an instance proof or handle picks
        # the mobile door (when enabled); the browser door refuses both
        if mobile_door is not None and has_mobile_credential(call.headers):
            return await mobile_door.authenticate(call)
        return await browser_door.authenticate(call)

    proxied = parts.proxy = ProxyDispatcher(app, authenticate, parts.service, s.routes,
                                            parts.upstreams, parts.route_tls)
    guarded: ASGIApp = OriginGuard(
        proxied, own_origin=origin_of(s.server.public_url), cors_origins=s.cors.allowed_origins,
        exempt_paths=(f"{prefix}/backchannel-logout",
                      *((f"{prefix}/mobile/",) if parts.mobile is not None else ())),
        max_age=s.cors.max_age, proof_calls_exempt=parts.mobile is not None)
    if s.server.hsts and urlsplit(s.server.public_url).scheme == "https":
        # RFC 6797 §7.1: on every answer over https, the BFF's own and proxied ones alike
        guarded = SecurityHeaders(guarded, [HSTS_HEADER])
    limited = guarded if server_limits_heads else HeadLimitGuard(guarded,
                                                                 HeadLimits.of(s.server))
    return RequestTelemetry(
        limited, bff_prefix=prefix, is_proxied=lambda path: proxied.route_for(path) is not None,
        log_lines=s.server.access_log, trust_incoming=s.server.trust_request_id)
