"""Validation of the mutual TLS settings: client authentication and sender constraint (RFC 8705)."""

from __future__ import annotations

import ssl
from pathlib import Path

from bff.config.model import Settings
from bff.errors import Problem

CLIENT_AUTH_METHODS = ("private_key_jwt", "tls_client_auth", "self_signed_tls_client_auth")
# RFC 8705 §2.1 (PKI) and §2.2 (self-signed): the certificate authenticates the client
TLS_CLIENT_AUTH = ("tls_client_auth", "self_signed_tls_client_auth")
SENDER_CONSTRAINTS = ("dpop", "mtls")


def uses_client_certificate(s: Settings) -> bool:
    """The BFF presents its client certificate to the AS (either use of RFC 8705)."""
    return s.oauth.client_auth in TLS_CLIENT_AUTH or s.oauth.sender_constraint == "mtls"


def check_mtls_settings(s: Settings) -> list[Problem]:
    """Choices and the keys each choice needs; files are checked by ``check_tls_files``."""
    p: list[Problem] = []
    o = s.oauth
    if o.client_auth not in CLIENT_AUTH_METHODS:
        p.append(Problem("oauth.client_auth", f"must be one of {', '.join(CLIENT_AUTH_METHODS)}"))
    if o.sender_constraint not in SENDER_CONSTRAINTS:
        p.append(Problem("oauth.sender_constraint", "must be dpop or mtls"))
    if uses_client_certificate(s):
        for key in ("tls_cert_file", "tls_key_file"):
            if not getattr(o, key):
                p.append(Problem(f"oauth.{key}", "is required when the BFF authenticates or "
                                 "binds tokens with mutual TLS"))
    if o.tls_reload_interval < 0:
        p.append(Problem("oauth.tls_reload_interval", "must not be negative (0: never)"))
    for i, r in enumerate(s.routes):
        if bool(r.tls_cert_file) != bool(r.tls_key_file):
            p.append(Problem(f"routes[{i}].tls_key_file",
                             "tls_cert_file and tls_key_file go together"))
        if (r.tls_cert_file or r.tls_ca_file) and not r.upstream.startswith("https://"):
            p.append(Problem(f"routes[{i}].upstream", "must be https to use TLS settings"))
        if s.oauth.sender_constraint == "mtls" and not r.upstream.startswith("https://"):
            p.append(Problem(f"routes[{i}].upstream",
                             "must be https: certificate-bound tokens need mutual TLS"))
    return p


def check_tls_files(s: Settings, base: Path) -> list[Problem]:
    """Every configured certificate, key and CA bundle loads (relative to ``base``).

    Runs at start and on every key reload (each minute by default, on the event loop): the
    contexts made here load only the configured files, never the system's CA store (about
    17 ms each), and none is made where nothing is configured.
    """
    p: list[Problem] = []
    pairs = [("oauth", s.oauth.tls_cert_file, s.oauth.tls_key_file, s.oauth.tls_ca_file)]
    pairs += [(f"routes[{i}]", r.tls_cert_file, r.tls_key_file, r.tls_ca_file)
              for i, r in enumerate(s.routes)]
    for key, cert, private, ca in pairs:
        if not ca and not (cert and private):
            continue
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if ca:
            try:
                context.load_verify_locations(base / ca)
            except (OSError, ssl.SSLError):
                p.append(Problem(f"{key}.tls_ca_file", "is not a readable PEM CA bundle"))
        if cert and private:
            try:
                context.load_cert_chain(base / cert, base / private)
            except (OSError, ssl.SSLError):
                p.append(Problem(f"{key}.tls_cert_file",
                                 "certificate and key are not readable PEM files that match"))
    return p
