"""Throwaway certificate authorities and certificates for TLS tests (EC P-256, one day)."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=1)
# Clock skew between the test host and the certificate's notBefore must not matter.
_BACKDATE = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class CertFiles:
    """A PEM certificate and its unencrypted PEM key on disk."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class TlsMaterial:
    """A CA plus a server and a client certificate it signed."""

    ca: CertFiles
    server: CertFiles
    client: CertFiles


class _Authority:
    def __init__(self, common_name: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                              content_commitment=False, key_encipherment=False,
                              data_encipherment=False, key_agreement=False,
                              encipher_only=False, decipher_only=False),
                critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()),
                           critical=False)
            .sign(self.key, hashes.SHA256())
        )

    def issue(self, common_name: str, usage: x509.ObjectIdentifier) -> tuple[
            x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.SubjectAlternativeName([
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return cert, key


def _write(directory: Path, stem: str, cert: x509.Certificate,
           key: ec.EllipticCurvePrivateKey) -> CertFiles:
    files = CertFiles(directory / f"{stem}.pem", directory / f"{stem}.key")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    files.key.chmod(0o600)
    return files


def write_ca(directory: Path, stem: str = "ca") -> CertFiles:
    """A lone self-signed CA, e.g. one that signed nothing the server presents."""
    authority = _Authority(f"bff test CA {stem}")
    return _write(directory, stem, authority.cert, authority.key)


def write_tls_material(directory: Path) -> TlsMaterial:
    """A fresh CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    authority = _Authority("bff test CA")
    ca = _write(directory, "ca", authority.cert, authority.key)
    server = _write(directory, "server",
                    *authority.issue("127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH))
    client = _write(directory, "client",
                    *authority.issue("bff test client", ExtendedKeyUsageOID.CLIENT_AUTH))
    return TlsMaterial(ca, server, client)
