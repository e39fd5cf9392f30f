"""Apple App Attest verification with chains made under the tests' own root.

Apple's real root only signs real devices, so the tests build root → intermediate → leaf
the way Apple's service does (P-384 root, P-256 attested key, nonce extension), then break
one thing at a time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from bff.errors import (
    PlatformAppMismatch,
    PlatformAttestationInvalid,
    PlatformChainUntrusted,
    PlatformNonceMismatch,
)
from bff.mobile.apple import (
    AAGUID_DEVELOPMENT,
    AAGUID_PRODUCTION,
    NONCE_OID,
    AppAttestVerifier,
    nonce_extension_der,
)

APP_ID = "ABCDE12345.com.example.bank"
NOW = datetime(2026, 1, 15, tzinfo=UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key: ec.EllipticCurvePublicKey, issuer: str,
          issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool,
          extensions: list[x509.ExtensionType] = ()) -> x509.Certificate:  # type: ignore[assignment]
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    for ext in extensions:
        builder = builder.add_extension(ext, critical=False)
    return builder.sign(issuer_key, hashes.SHA384() if ca else hashes.SHA256())


@dataclass(frozen=True)
class Device:
    root: x509.Certificate
    intermediate_key: ec.EllipticCurvePrivateKey
    intermediate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def key_id(self) -> bytes:
        point = self.key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return hashlib.sha256(point).digest()

    def attest(self, challenge: bytes, *, app_id: str = APP_ID, counter: int = 0,
               aaguid: bytes = AAGUID_PRODUCTION, tamper: bool = False) -> bytes:
        key_id = self.key_id
        auth_data = (hashlib.sha256(app_id.encode()).digest() + b"\x41"
                     + counter.to_bytes(4, "big") + aaguid + len(key_id).to_bytes(2, "big")
                     + key_id)
        nonce = hashlib.sha256(auth_data + hashlib.sha256(challenge).digest()).digest()
        leaf = _cert("device key", self.key.public_key(), "App Attest CA 1",
                     self.intermediate_key, ca=False,
                     extensions=[x509.UnrecognizedExtension(NONCE_OID,
                                                            nonce_extension_der(nonce))])
        leaf_der = leaf.public_bytes(Encoding.DER)
        if tamper:
            # one bit of the signed part changed after signing
            at = leaf_der.index(b"device key")
            leaf_der = leaf_der[:at] + b"e" + leaf_der[at + 1:]
        return cbor2.dumps({"fmt": "apple-appattest", "authData": auth_data, "attStmt": {
            "x5c": [leaf_der, self.intermediate.public_bytes(Encoding.DER)],
            "receipt": b"receipt"}})


def make_device() -> Device:
    root_key = ec.generate_private_key(ec.SECP384R1())
    root = _cert("Test App Attest Root CA", root_key.public_key(), "Test App Attest Root CA",
                 root_key, ca=True)
    intermediate_key = ec.generate_private_key(ec.SECP384R1())
    intermediate = _cert("App Attest CA 1", intermediate_key.public_key(),
                         "Test App Attest Root CA", root_key, ca=True)
    return Device(root, intermediate_key, intermediate, ec.generate_private_key(ec.SECP256R1()))


@pytest.fixture(scope="module")
def device() -> Device:
    return make_device()


def verifier(root: x509.Certificate, production: bool = True) -> AppAttestVerifier:
    return AppAttestVerifier([root], [APP_ID], production=production,
                             clock=lambda: NOW.timestamp())


def test_valid_attestation_is_accepted(device: Device) -> None:
    result = verifier(device.root).verify(device.attest(b"challenge-1"), b"challenge-1",
                                          device.key_id)
    assert result.app_id == APP_ID and result.key_id == device.key_id
    assert result.public_jwk["kty"] == "EC" and result.receipt == b"receipt"


def test_development_aaguid_only_in_development(device: Device) -> None:
    obj = device.attest(b"c", aaguid=AAGUID_DEVELOPMENT)
    assert verifier(device.root, production=False).verify(obj, b"c", device.key_id)
    with pytest.raises(PlatformAttestationInvalid, match="aaguid") as refused:
        verifier(device.root).verify(obj, b"c", device.key_id)
    assert refused.value.code == "platform_attestation_invalid"


def test_wrong_root_is_refused(device: Device) -> None:
    other = make_device()
    with pytest.raises(PlatformChainUntrusted):
        verifier(other.root).verify(device.attest(b"c"), b"c", device.key_id)


def test_chain_from_another_intermediate_is_refused(device: Device) -> None:
    """A leaf signed by an intermediate of another root, presented with ours, is refused."""
    rogue = replace(device, intermediate_key=make_device().intermediate_key)
    with pytest.raises(PlatformChainUntrusted):
        verifier(device.root).verify(rogue.attest(b"c"), b"c", device.key_id)


def test_wrong_app_identity_is_refused(device: Device) -> None:
    with pytest.raises(PlatformAppMismatch):
        verifier(device.root).verify(device.attest(b"c", app_id="ABCDE12345.com.evil"), b"c",
                                     device.key_id)


def test_wrong_challenge_is_refused(device: Device) -> None:
    with pytest.raises(PlatformNonceMismatch):
        verifier(device.root).verify(device.attest(b"challenge-1"), b"challenge-2",
                                     device.key_id)


def test_tampered_certificate_is_refused(device: Device) -> None:
    with pytest.raises(PlatformChainUntrusted):
        verifier(device.root).verify(device.attest(b"c", tamper=True), b"c", device.key_id)


def test_other_key_id_counter_and_garbage_are_refused(device: Device) -> None:
    v = verifier(device.root)
    with pytest.raises(PlatformAttestationInvalid, match="key id"):
        v.verify(device.attest(b"c"), b"c", hashlib.sha256(b"other").digest())
    with pytest.raises(PlatformAttestationInvalid, match="counter"):
        v.verify(device.attest(b"c", counter=1), b"c", device.key_id)
    with pytest.raises(PlatformAttestationInvalid):
        v.verify(b"\xff\x00garbage", b"c", device.key_id)
    with pytest.raises(PlatformAttestationInvalid):
        v.verify(cbor2.dumps({"fmt": "packed"}), b"c", device.key_id)


def test_expired_chain_is_refused(device: Device) -> None:
    late = AppAttestVerifier([device.root], [APP_ID],
                             clock=lambda: (NOW + timedelta(days=90)).timestamp())
    with pytest.raises(PlatformChainUntrusted):
        late.verify(device.attest(b"c"), b"c", device.key_id)


def test_apples_root_is_the_default_trust_anchor(device: Device) -> None:
    """Without the tests' override, only chains to Apple's App Attestation Root CA pass."""
    from bff.mobile.apple import apple_roots

    (root,) = apple_roots()
    assert root.subject.rfc4514_string() == (
        "ST=California,O=Apple Inc.,CN=Apple App Attestation Root CA")
    strict = AppAttestVerifier(apple_roots(), [APP_ID], clock=lambda: NOW.timestamp())
    with pytest.raises(PlatformChainUntrusted):
        strict.verify(device.attest(b"c"), b"c", device.key_id)


def test_environment_is_chosen_per_app_id(device: Device) -> None:
    per_app = AppAttestVerifier([device.root], {APP_ID: False, "ABCDE12345.other": True},
                                clock=lambda: NOW.timestamp())
    assert per_app.verify(device.attest(b"c", aaguid=AAGUID_DEVELOPMENT), b"c", device.key_id)
    with pytest.raises(PlatformAttestationInvalid, match="aaguid"):
        per_app.verify(device.attest(b"c"), b"c", device.key_id)
