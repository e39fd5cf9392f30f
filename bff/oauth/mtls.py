"""The BFF's mutual TLS to the authorization server: a client certificate and its httpx client.

RFC 8705 §2 (client authentication) and §3 (certificate-bound access tokens) both present the
same certificate; the httpx client holds the certificate's live ``ssl.SSLContext``, so a
rotated certificate is used by every new connection.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from bff.crypto.tls import ClientCertificate


@dataclass(frozen=True)
class MutualTLS:
    """The certificate and the httpx client that presents it."""

    certificate: ClientCertificate
    http: httpx.AsyncClient

    @classmethod
    def build(cls, certificate: ClientCertificate, timeout: float) -> MutualTLS:
        """An httpx client presenting ``certificate`` (verifying the AS with its CA bundle)."""
        return cls(certificate, httpx.AsyncClient(
            verify=certificate.context, timeout=timeout, follow_redirects=False,
            headers={"User-Agent": "bff/0.1"}))
