"""Certificates and a dev stack for mutual TLS tests (RFC 8705): PKI and self-signed clients."""

from __future__ import annotations

import base64
import datetime
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from joserfc.jwk import ECKey

from bff.crypto.keys import public_jwk
from bff.devstack import Child, start_authorization_server, start_example_api
from tests.support.stack import REDIRECT_URI
from tests.support.tls import CertFiles, _Authority, _write

CLIENT_DN = "CN=bff test client"


@dataclass(frozen=True)
class MTLSMaterial:
    """One test CA with a server and two client certificates, a self-signed client, a stranger."""

    ca: CertFiles
    server: CertFiles
    client: CertFiles
    other_client: CertFiles
    self_signed: CertFiles
    foreign_ca: CertFiles
    foreign_server: CertFiles


def _self_signed(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return cert, key


def write_mtls_material(directory: Path) -> MTLSMaterial:
    """Fresh certificates under ``directory``."""
    authority = _Authority("bff mtls test CA")
    foreign = _Authority("somebody else's CA")
    return MTLSMaterial(
        ca=_write(directory, "ca", authority.cert, authority.key),
        server=_write(directory, "server", *authority.issue("127.0.0.1",
                                                            ExtendedKeyUsageOID.SERVER_AUTH)),
        client=_write(directory, "client", *authority.issue("bff test client",
                                                            ExtendedKeyUsageOID.CLIENT_AUTH)),
        other_client=_write(directory, "other", *authority.issue(
            "bff test client", ExtendedKeyUsageOID.CLIENT_AUTH)),
        self_signed=_write(directory, "self", *_self_signed("bff self-signed client")),
        foreign_ca=_write(directory, "foreign-ca", foreign.cert, foreign.key),
        foreign_server=_write(directory, "foreign-server", *foreign.issue(
            "127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH)),
    )


def certificate_jwk(files: CertFiles) -> dict[str, Any]:
    """The public JWK of a self-signed certificate's key, with the certificate in ``x5c``."""
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    key = ECKey.import_key(cert.public_key())  # type: ignore[arg-type]
    jwk = dict(key.as_dict(private=False))
    jwk["x5c"] = [base64.b64encode(cert.public_bytes(Encoding.DER)).decode()]
    jwk["alg"] = "ES256"
    return jwk


@dataclass
class MTLSStack:
    """The dev AS with its mTLS listener and the certificate-bound example API."""

    issuer: str
    mtls_base: str
    api_url: str
    audience: str
    authz: Child
    api: Child


def mtls_clients(client_jwk: dict[str, Any], material: MTLSMaterial) -> list[dict[str, Any]]:
    """The DPoP client, a PKI mTLS client and a self-signed mTLS client, certificate-bound."""
    bound = {"tls_client_certificate_bound_access_tokens": True,
             "dpop_bound_access_tokens": False, "redirect_uris": [REDIRECT_URI],
             "post_logout_redirect_uris": [REDIRECT_URI]}
    return [
        {"client_id": "bff", "jwks": {"keys": [public_jwk(client_jwk)]},
         "redirect_uris": [REDIRECT_URI], "post_logout_redirect_uris": [REDIRECT_URI]},
        {**bound, "client_id": "bff-pki", "jwks": {"keys": [public_jwk(client_jwk)]},
         "token_endpoint_auth_method": "tls_client_auth",
         "tls_client_auth_subject_dn": CLIENT_DN},
        {**bound, "client_id": "bff-self", "jwks": {"keys": [certificate_jwk(
            material.self_signed)]}, "token_endpoint_auth_method": "self_signed_tls_client_auth"},
        # private_key_jwt with certificate-bound tokens (the other pairing)
        {**bound, "client_id": "bff-jwt-mtls", "jwks": {"keys": [public_jwk(client_jwk)]}},
        # an AS that forgets the binding: plain Bearer tokens for a client asking for mTLS
        {**bound, "client_id": "bff-unbound", "jwks": {"keys": [public_jwk(client_jwk)]},
         "tls_client_certificate_bound_access_tokens": False,
         "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": CLIENT_DN},
    ]


@contextmanager
def running_mtls_stack(workdir: Path, client_jwk: dict[str, Any],
                       material: MTLSMaterial) -> Iterator[MTLSStack]:
    """The dev AS (http issuer plus an mTLS listener) and the API over https with mTLS."""
    audience = "http://127.0.0.1/example-api/"
    as_config: dict[str, Any] = {
        "clients": mtls_clients(client_jwk, material), "resource": audience,
        "tls": {"cert": str(material.server.cert), "key": str(material.server.key),
                "ca": str(material.ca.cert)}}
    authz = start_authorization_server(as_config, workdir, workdir / "as.log")
    api = None
    try:
        issuer = authz.ready["issuer"]
        # the API trusts the CA and the self-signed client's certificate itself (RFC 8705 §3:
        # the binding, not the chain, is what makes the token usable)
        client_cas = workdir / "api-client-cas.pem"
        client_cas.write_bytes(material.ca.cert.read_bytes()
                               + material.self_signed.cert.read_bytes())
        api = start_example_api(issuer, audience, log_file=workdir / "api.log", extra_args=[
            "--tls-cert", str(material.server.cert), "--tls-key", str(material.server.key),
            "--tls-client-ca", str(client_cas)])
        yield MTLSStack(issuer, authz.ready["mtls"], api.ready["url"], audience, authz, api)
    finally:
        if api is not None:
            api.stop()
        authz.stop()
