"""Route dispatch (longest prefix wins, everything else to the app) and per-route TLS."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

from bff.config.model import OAuthSettings, RouteSettings, Settings
from bff.proxy.forwarder import UpstreamPool
from bff.proxy.routes import ProxyDispatcher
from bff.proxy.tls import RouteTLS, route_tls
from tests.support.mtls import write_mtls_material


def dispatcher(app: Any) -> ProxyDispatcher:
    async def authenticate(call: Any) -> Any:
        raise AssertionError("not reached")

    routes = [RouteSettings(prefix="/api", upstream="https://a.test"),
              RouteSettings(prefix="/api/v2", upstream="https://b.test")]
    return ProxyDispatcher(app, authenticate, None, routes, UpstreamPool())  # type: ignore[arg-type]


def test_the_longest_prefix_wins_and_only_whole_segments_match() -> None:
    d = dispatcher(None)
    assert d.route_for("/api/v2/x").base == "https://b.test"  # type: ignore[union-attr]
    assert d.route_for("/api/v20").base == "https://a.test"  # type: ignore[union-attr]
    assert d.route_for("/api").base == "https://a.test"  # type: ignore[union-attr]
    assert d.route_for("/apix") is None and d.route_for("/bff/session") is None


def test_calls_outside_every_route_and_websockets_go_to_the_app() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])

    d = dispatcher(app)
    asyncio.run(d({"type": "http", "path": "/bff/session"}, None, None))  # type: ignore[arg-type]
    asyncio.run(d({"type": "websocket", "path": "/api/x"}, None, None))  # type: ignore[arg-type]
    assert seen == ["/bff/session", "/api/x"]


def test_route_tls_choices(tmp_path: Path) -> None:
    m = write_mtls_material(tmp_path)
    plain = route_tls(RouteSettings(prefix="/api"), Settings(), tmp_path)
    assert plain == RouteTLS() and plain.current() is True
    ca_only = route_tls(RouteSettings(prefix="/api", tls_ca_file=str(m.ca.cert)), Settings(),
                        tmp_path)
    assert isinstance(ca_only.current(), ssl.SSLContext) and ca_only.certificate is None
    own = route_tls(RouteSettings(prefix="/api", tls_cert_file=str(m.client.cert),
                                  tls_key_file=str(m.client.key),
                                  tls_ca_file=str(m.ca.cert)), Settings(), tmp_path)
    assert own.certificate is not None and isinstance(own.current(), ssl.SSLContext)
    assert not own.certificate_bound
    bound = Settings(oauth=OAuthSettings(sender_constraint="mtls",
                                         tls_cert_file=str(m.client.cert),
                                         tls_key_file=str(m.client.key)))
    inherited = route_tls(RouteSettings(prefix="/api"), bound, tmp_path)
    assert inherited.certificate_bound and inherited.certificate is not None
