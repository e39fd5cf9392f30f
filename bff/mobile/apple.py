"""Apple App Attest: verify an attestation object (Apple, "Validating apps that connect to your
server", steps 1-9) with ``cbor2`` and ``cryptography``.

Checks: the ``x5c`` chain up to a configured App Attest root (Apple's
"Apple App Attestation Root CA" in production, a test root in tests); the nonce in the leaf's
extension 1.2.840.113635.100.8.2 = SHA-256(authData ‖ SHA-256(challenge)); the key id =
SHA-256 of the leaf's public key (uncompressed point) and the authData credential id; the
``rpIdHash`` = SHA-256(team id "." bundle id); the counter 0; the AAGUID for production or
development. The verifier plays the attester's role: what it returns is what an
OAuth-Client-Attestation would vouch for (the app's identity and its instance key).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bff.crypto.seal import b64url_encode
from bff.errors import (
    PlatformAppMismatch,
    PlatformAttestationInvalid,
    PlatformChainUntrusted,
    PlatformNonceMismatch,
)
from bff.oauth.clock import Clock, system_clock

NONCE_OID = x509.ObjectIdentifier("1.2.840.113635.100.8.2")
AAGUID_PRODUCTION = b"appattest" + b"\x00" * 7
AAGUID_DEVELOPMENT = b"appattestdevelop"
MAX_OBJECT = 16 * 1024

# Apple App Attestation Root CA (P-384, valid 2020-03-18 to 2045-03-15), as published at
# https://www.apple.com/certificateauthority/Apple_App_Attestation_Root_CA.pem; the default
# trust root. Tests substitute their own with insecure.app_attest_roots_file.
APPLE_APP_ATTESTATION_ROOT_PEM = b"""\
-----BEGIN CERTIFICATE-----
MIICITCCAaegAwIBAgIQC/O+DvHN0uD7jG5yH2IXmDAKBggqhkjOPQQDAzBSMSYw
JAYDVQQDDB1BcHBsZSBBcHAgQXR0ZXN0YXRpb24gUm9vdCBDQTETMBEGA1UECgwK
QXBwbGUgSW5jLjETMBEGA1UECAwKQ2FsaWZvcm5pYTAeFw0yMDAzMTgxODMyNTNa
Fw00NTAzMTUwMDAwMDBaMFIxJjAkBgNVBAMMHUFwcGxlIEFwcCBBdHRlc3RhdGlv
biBSb290IENBMRMwEQYDVQQKDApBcHBsZSBJbmMuMRMwEQYDVQQIDApDYWxpZm9y
bmlhMHYwEAYHKoZIzj0CAQYFK4EEACIDYgAERTHhmLW07ATaFQIEVwTtT4dyctdh
NbJhFs/Ii2FdCgAHGbpphY3+d8qjuDngIN3WVhQUBHAoMeQ/cLiP1sOUtgjqK9au
Yen1mMEvRq9Sk3Jm5X8U62H+xTD3FE9TgS41o0IwQDAPBgNVHRMBAf8EBTADAQH/
MB0GA1UdDgQWBBSskRBTM72+aEH/pwyp5frq5eWKoTAOBgNVHQ8BAf8EBAMCAQYw
CgYIKoZIzj0EAwMDaAAwZQIwQgFGnByvsiVbpTKwSga0kP0e8EeDS4+sQmTvb7vn
53O5+FRXgeLhpJ06ysC5PrOyAjEAp5U4xDgEgllF7En3VcE3iexZZtKeYnpqtijV
oyFraWVIyd/dganmrduC1bmTBGwD
-----END CERTIFICATE-----
"""


def apple_roots() -> list[x509.Certificate]:
    """Apple's App Attestation Root CA, the production trust anchor."""
    return x509.load_pem_x509_certificates(APPLE_APP_ATTESTATION_ROOT_PEM)


@dataclass(frozen=True)
class AppAttestation:
    """A verified App Attest key: the app it belongs to and its public key as a JWK."""

    app_id: str
    key_id: bytes
    public_jwk: dict[str, Any]
    receipt: bytes


def nonce_extension_der(nonce: bytes) -> bytes:
    """The DER of the nonce extension's value: SEQUENCE { [1] EXPLICIT OCTET STRING nonce }.

    DER is canonical, so comparing the whole extension with this encoding checks its
    structure and its nonce at once, with no ASN.1 parsing of attacker input.
    """
    octets = b"\x04" + bytes([len(nonce)]) + nonce
    tagged = b"\xa1" + bytes([len(octets)]) + octets
    return b"\x30" + bytes([len(tagged)]) + tagged


def _point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def _jwk(key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    numbers = key.public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": b64url_encode(numbers.x.to_bytes(32, "big")),
            "y": b64url_encode(numbers.y.to_bytes(32, "big"))}


class AppAttestVerifier:
    """Verifies App Attest attestation objects for the configured app ids."""

    def __init__(self, roots: Sequence[x509.Certificate],
                 app_ids: Sequence[str] | Mapping[str, bool], *,
                 production: bool = True, clock: Clock = system_clock) -> None:
        """``app_ids``: App IDs, or App ID → production (True) / development (False)."""
        environments = (dict(app_ids) if isinstance(app_ids, Mapping)
                        else dict.fromkeys(app_ids, production))
        self._roots = list(roots)
        self._app_ids = {hashlib.sha256(a.encode()).digest(): a for a in environments}
        self._aaguids = {a: AAGUID_PRODUCTION if prod else AAGUID_DEVELOPMENT
                         for a, prod in environments.items()}
        self._clock = clock

    def _chain(self, x5c: Any) -> x509.Certificate:
        """The leaf, once every certificate is valid now and issued by the next, up to a root."""
        if not isinstance(x5c, list) or not 1 <= len(x5c) <= 4 or not all(
                isinstance(c, bytes) for c in x5c):
            raise PlatformAttestationInvalid("x5c missing")
        try:
            chain = [x509.load_der_x509_certificate(c) for c in x5c]
        except ValueError as exc:
            raise PlatformAttestationInvalid("x5c certificate unreadable") from exc
        now = datetime.fromtimestamp(self._clock(), UTC)
        for cert in chain:
            if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
                raise PlatformChainUntrusted("certificate outside its validity")
        for cert, issuer in itertools.pairwise(chain):
            self._issued_by(cert, issuer)
        top = chain[-1]
        for root in self._roots:
            try:
                top.verify_directly_issued_by(root)
                return chain[0]
            except (ValueError, TypeError, InvalidSignature):
                continue
        raise PlatformChainUntrusted("the chain reaches no trusted root")

    @staticmethod
    def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> None:
        try:
            constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints)
        except x509.ExtensionNotFound as exc:
            raise PlatformChainUntrusted("issuer is not a CA") from exc
        if not constraints.value.ca:
            raise PlatformChainUntrusted("issuer is not a CA")
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise PlatformChainUntrusted("certificate signature does not verify") from exc

    def verify(self, attestation_object: bytes, challenge: bytes,
               key_id: bytes) -> AppAttestation:
        """Verify an attestation object made for ``challenge`` by the key ``key_id``."""
        return self.verify_client_data_hash(attestation_object,
                                            hashlib.sha256(challenge).digest(), key_id)

    def verify_client_data_hash(self, attestation_object: bytes, client_data_hash: bytes,
                                key_id: bytes) -> AppAttestation:
        """Verify an object whose app passed ``client_data_hash`` to ``attestKey``."""
        if len(attestation_object) > MAX_OBJECT:
            raise PlatformAttestationInvalid("attestation object too large")
        try:
            obj = cbor2.loads(attestation_object)
        except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError) as exc:
            raise PlatformAttestationInvalid("attestation object is not CBOR") from exc
        if not isinstance(obj, dict) or obj.get("fmt") != "apple-appattest":
            raise PlatformAttestationInvalid("fmt is not apple-appattest")
        statement, auth_data = obj.get("attStmt"), obj.get("authData")
        if not isinstance(statement, dict) or not isinstance(auth_data, bytes) or len(
                auth_data) < 55:
            raise PlatformAttestationInvalid("attStmt or authData missing")
        leaf = self._chain(statement.get("x5c"))
        # steps 2-4: the nonce binds the authenticator data and this server's challenge
        nonce = hashlib.sha256(auth_data + client_data_hash).digest()
        try:
            ext = leaf.extensions.get_extension_for_oid(NONCE_OID).value
        except x509.ExtensionNotFound as exc:
            raise PlatformNonceMismatch("nonce extension missing") from exc
        found = ext.value if isinstance(ext, x509.UnrecognizedExtension) else b""
        if not hmac.compare_digest(found, nonce_extension_der(nonce)):
            raise PlatformNonceMismatch("nonce differs from the challenge's")
        # step 5: the key id is the hash of the attested public key
        public = leaf.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
            raise PlatformAttestationInvalid("attested key is not P-256")
        if not hmac.compare_digest(hashlib.sha256(_point(public)).digest(), key_id):
            raise PlatformAttestationInvalid("key id differs from the attested key")
        # steps 6-9: authenticator data
        app_id = self._app_ids.get(auth_data[:32])
        if app_id is None:
            raise PlatformAppMismatch("rpIdHash is not one of the configured app ids")
        if int.from_bytes(auth_data[33:37], "big") != 0:
            raise PlatformAttestationInvalid("counter is not 0 at attestation")
        if auth_data[37:53] != self._aaguids[app_id]:
            raise PlatformAttestationInvalid("aaguid is not this environment's")
        length = int.from_bytes(auth_data[53:55], "big")
        if auth_data[55:55 + length] != key_id:
            raise PlatformAttestationInvalid("credential id differs from the key id")
        receipt = statement.get("receipt", b"")
        return AppAttestation(app_id, key_id, _jwk(public),
                              receipt if isinstance(receipt, bytes) else b"")
