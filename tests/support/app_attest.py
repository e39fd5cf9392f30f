"""A stand-in for Apple's App Attest service under the tests' own root CA.

Apple's real root signs only real devices, so the tests build root → intermediate → leaf the way
Apple's service does (P-384 CA keys, a P-256 attested key, the nonce extension) and hand the
BFF the root through ``insecure.app_attest_roots_file``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from bff.mobile.apple import AAGUID_PRODUCTION, NONCE_OID, nonce_extension_der


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key: ec.EllipticCurvePublicKey, issuer: str,
          issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool,
          extensions: tuple[x509.ExtensionType, ...] = ()) -> x509.Certificate:
    now = datetime.fromtimestamp(time.time(), UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    for ext in extensions:
        builder = builder.add_extension(ext, critical=False)
    return builder.sign(issuer_key, hashes.SHA384() if ca else hashes.SHA256())


@dataclass
class AppAttestService:
    """Apple's role: one root, one intermediate; ``attest_key`` makes attestation objects."""

    root_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP384R1()))

    def __post_init__(self) -> None:
        self.root = _cert("Test App Attest Root CA", self.root_key.public_key(),
                          "Test App Attest Root CA", self.root_key, ca=True)
        self.intermediate_key = ec.generate_private_key(ec.SECP384R1())
        self.intermediate = _cert("App Attest CA 1", self.intermediate_key.public_key(),
                                  "Test App Attest Root CA", self.root_key, ca=True)

    def write_root(self, path: Path) -> None:
        path.write_bytes(self.root.public_bytes(Encoding.PEM))

    def device(self, app_id: str, aaguid: bytes = AAGUID_PRODUCTION) -> Device:
        """A device's App Attest key for the app ``app_id`` (``<team id>.<bundle id>``)."""
        return Device(self, app_id, aaguid, ec.generate_private_key(ec.SECP256R1()))


@dataclass
class Device:
    """One App Attest key on one device (``DCAppAttestService.generateKey``)."""

    service: AppAttestService
    app_id: str
    aaguid: bytes
    key: ec.EllipticCurvePrivateKey

    @property
    def key_id(self) -> bytes:
        point = self.key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return hashlib.sha256(point).digest()

    def attest_key(self, client_data_hash: bytes) -> tuple[bytes, bytes]:
        """``attestKey(keyId, clientDataHash)``: (key id, attestation object)."""
        key_id = self.key_id
        auth_data = (hashlib.sha256(self.app_id.encode()).digest() + b"\x40"
                     + (0).to_bytes(4, "big") + self.aaguid + len(key_id).to_bytes(2, "big")
                     + key_id)
        nonce = hashlib.sha256(auth_data + client_data_hash).digest()
        leaf = _cert(key_id.hex(), self.key.public_key(), "App Attest CA 1",
                     self.service.intermediate_key, ca=False,
                     extensions=(x509.UnrecognizedExtension(NONCE_OID,
                                                            nonce_extension_der(nonce)),))
        return key_id, cbor2.dumps({"fmt": "apple-appattest", "authData": auth_data, "attStmt": {
            "x5c": [leaf.public_bytes(Encoding.DER),
                    self.service.intermediate.public_bytes(Encoding.DER)],
            "receipt": b"receipt"}})
