"""TLS client certificates from files, re-read on a schedule or on demand (RFC 8705 §2, §3).

One ``ssl.SSLContext`` per certificate is handed to httpx and aiohttp and stays the same object:
a rotation loads the new certificate and key into it, so new connections present the new
certificate while pooled ones finish with the old one (old and new overlap). New files are
first loaded into a scratch context: a half-written pair (a new certificate with the old key)
is refused and the current one stays in use until the next check.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

log = logging.getLogger("bff.crypto.tls")


def certificate_thumbprint(der: bytes) -> str:
    """``x5t#S256``: base64url SHA-256 of the DER certificate, unpadded (RFC 8705 §3.1)."""
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode("ascii")


def pem_thumbprint(pem: bytes) -> str:
    """``x5t#S256`` of the first certificate in a PEM file's bytes."""
    cert = x509.load_pem_x509_certificate(pem)
    return certificate_thumbprint(cert.public_bytes(Encoding.DER))


def _key_type(pem: bytes) -> str:
    return type(x509.load_pem_x509_certificate(pem).public_key()).__name__


def server_context(ca_file: str = "") -> ssl.SSLContext:
    """A client-side context verifying the server against ``ca_file`` (else the system CAs)."""
    context = ssl.create_default_context(cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@dataclass(frozen=True)
class _Stamp:
    cert: tuple[int, int]
    key: tuple[int, int]


def _stamp(cert_file: Path, key_file: Path) -> _Stamp:
    c, k = os.stat(cert_file), os.stat(key_file)
    return _Stamp((c.st_mtime_ns, c.st_size), (k.st_mtime_ns, k.st_size))


class ClientCertificate:
    """A client certificate and key from PEM files, in a context that follows their rotation."""

    def __init__(self, cert_file: Path, key_file: Path, ca_file: str = "", *,
                 reload_interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.reload_interval = reload_interval
        self._clock = clock
        self.context = server_context(ca_file)
        self.context.load_cert_chain(cert_file, key_file)
        self._stamp = _stamp(cert_file, key_file)
        pem = cert_file.read_bytes()
        self._thumbprint = pem_thumbprint(pem)
        self._key_type = _key_type(pem)
        self._checked_at = clock()

    @property
    def thumbprint(self) -> str:
        """``x5t#S256`` of the certificate new connections present."""
        self.maybe_reload()
        return self._thumbprint

    def maybe_reload(self) -> None:
        """Re-read the files when ``reload_interval`` passed since the last look (0: never)."""
        if self.reload_interval > 0 and self._clock() - self._checked_at >= self.reload_interval:
            self.reload()

    def reload(self) -> bool:
        """Load the files again if they changed; True when a new certificate is in use."""
        self._checked_at = self._clock()
        try:
            stamp = _stamp(self.cert_file, self.key_file)
            if stamp == self._stamp:
                return False
            # a scratch load first: a certificate that does not match its key changes nothing
            # (a bare context: the system CA store, ~17 ms to load, has nothing to do with it)
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(self.cert_file, self.key_file)
            pem = self.cert_file.read_bytes()
            if _key_type(pem) != self._key_type:
                # OpenSSL keeps one certificate per key type: an EC context loading an RSA
                # pair would hold both, and could present either
                raise ValueError("the new certificate has another key type")
            thumbprint = pem_thumbprint(pem)
            self.context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.warning("client certificate not reloaded; the current one stays in use",
                        extra={"event": "tls_reload_failed", "cause": type(exc).__name__})
            return False
        self._stamp, self._thumbprint = stamp, thumbprint
        log.info("client certificate reloaded", extra={"event": "tls_reloaded"})
        return True
