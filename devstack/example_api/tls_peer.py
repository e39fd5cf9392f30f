"""The ASGI TLS extension for uvicorn: the client certificate in ``scope["extensions"]["tls"]``.

uvicorn (0.54) does not fill the extension, so this H11 protocol wraps the app per connection
and adds ``client_cert_chain`` (PEM, the peer's certificate first) as the ASGI TLS extension
specifies. Run it with ``uvicorn.Config(http=TLSPeerProtocol, ssl_cert_reqs=CERT_OPTIONAL)``.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from example_api.dpop_guard import ASGIApp, Receive, Scope, Send


def _with_peer(app: Any, chain: list[str]) -> ASGIApp:
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        extensions = scope.setdefault("extensions", {})
        extensions["tls"] = {"client_cert_chain": list(chain), "client_cert_name": None,
                             "client_cert_error": None}
        await app(scope, receive, send)

    return wrapped


class TLSPeerProtocol(H11Protocol):
    """uvicorn's H11 protocol, plus the peer certificate of each TLS connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Read the peer certificate once per connection and wrap the app with it."""
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
        self.app = _with_peer(self.app, chain)
