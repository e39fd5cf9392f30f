"""Per-route TLS toward upstreams: the CA bundle and the client certificate (RFC 8705 §3)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from bff.config.model import RouteSettings, Settings
from bff.crypto.tls import ClientCertificate, server_context


@dataclass(frozen=True)
class RouteTLS:
    """The context a route's connections use (None: aiohttp's default verification)."""

    context: ssl.SSLContext | None = None
    certificate: ClientCertificate | None = None
    certificate_bound: bool = False

    def current(self) -> ssl.SSLContext | bool:
        """The context for the next request, after a scheduled look at rotated files."""
        if self.certificate is not None:
            self.certificate.maybe_reload()
        return self.context if self.context is not None else True


def route_tls(route: RouteSettings, s: Settings, base: Path) -> RouteTLS:
    """The route's TLS: its own certificate, else the BFF's when tokens are certificate-bound."""
    bound = s.oauth.sender_constraint == "mtls"
    cert, key = route.tls_cert_file, route.tls_key_file
    if not cert and bound:
        cert, key = s.oauth.tls_cert_file, s.oauth.tls_key_file
    if cert:
        certificate = ClientCertificate(base / cert, base / key,
                                        str(base / route.tls_ca_file) if route.tls_ca_file
                                        else "", reload_interval=s.oauth.tls_reload_interval)
        return RouteTLS(certificate.context, certificate, bound)
    if route.tls_ca_file:
        return RouteTLS(server_context(str(base / route.tls_ca_file)), None, bound)
    return RouteTLS(None, None, bound)
