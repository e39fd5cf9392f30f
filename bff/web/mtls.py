"""Wiring of the BFF's client certificates: built from the settings, re-read on SIGHUP."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from bff.config.loader import LoadedConfig
from bff.config.mtls import uses_client_certificate
from bff.crypto.tls import ClientCertificate
from bff.oauth.mtls import MutualTLS

log = logging.getLogger("bff.mtls")


def client_mtls(config: LoadedConfig) -> MutualTLS | None:
    """The certificate toward the AS, when client auth or the sender constraint uses mTLS."""
    s = config.settings
    if not uses_client_certificate(s):
        return None
    o, base = s.oauth, config.base_dir
    certificate = ClientCertificate(base / o.tls_cert_file, base / o.tls_key_file,
                                    str(base / o.tls_ca_file) if o.tls_ca_file else "",
                                    reload_interval=o.tls_reload_interval)
    return MutualTLS.build(certificate, o.http_timeout)


def certificate_reloader(certificates: Sequence[ClientCertificate]) -> Callable[[], None]:
    """Re-reads every certificate (run on SIGHUP, besides each one's own schedule)."""

    def reload() -> None:
        for certificate in certificates:
            certificate.reload()

    return reload
