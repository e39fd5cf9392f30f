"""Dispatch configured route prefixes to the proxy before any framework routing runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from bff.config.model import RouteSettings
from bff.handler.service import Authenticator, SessionService
from bff.oauth.dpop import NonceCache
from bff.proxy.forwarder import ProxyRoute, UpstreamPool
from bff.proxy.proofs import ProofBatcher
from bff.proxy.tls import RouteTLS


class ProxyDispatcher:
    """Sends calls under a route prefix to its ProxyRoute, everything else to ``app``."""

    def __init__(self, app: ASGIApp, authenticate: Authenticator, service: SessionService,
                 routes: Sequence[RouteSettings], pool: UpstreamPool,
                 tls: Mapping[str, RouteTLS] | None = None) -> None:
        self.app = app
        self.nonces = NonceCache()
        self.proofs = ProofBatcher()  # one for every route: a batch spans them all
        # longest prefix first, so /api/v2 wins over /api
        tls = tls or {}
        self.routes = sorted((ProxyRoute(authenticate, service, r, self.nonces, pool,
                                         tls.get(r.prefix), self.proofs)
                              for r in routes),
                             key=lambda r: -len(r.prefix))

    def route_for(self, path: str) -> ProxyRoute | None:
        """The route whose prefix covers ``path``, if any."""
        for route in self.routes:
            if route.matches(path):
                return route
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.route_for(scope["path"]) if scope["type"] == "http" else None
        if route is not None:
            await route(scope, receive, send)
            return
        await self.app(scope, receive, send)
