"""Minimal JWS (RFC 7515) and JWK (RFC 7517) primitives for a DPoP resource server.

Only asymmetric algorithms are implemented on purpose: there is no code path that
could accept ``none`` or an HMAC algorithm, whatever a token header claims.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

PublicKey = (
    ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)

_B64URL: Final = re.compile(r"^[A-Za-z0-9_-]*$")

# RFC 7518 §3.1 / RFC 8037 §3.1: the asymmetric algorithms this module can verify.
_EC_ALGS: Final[dict[str, tuple[str, hashes.HashAlgorithm, int]]] = {
    "ES256": ("P-256", hashes.SHA256(), 32),
    "ES384": ("P-384", hashes.SHA384(), 48),
    "ES512": ("P-521", hashes.SHA512(), 66),
}
_PS_ALGS: Final[dict[str, hashes.HashAlgorithm]] = {
    "PS256": hashes.SHA256(),
    "PS384": hashes.SHA384(),
    "PS512": hashes.SHA512(),
}
# RFC 9864 §2.2 replaces polymorphic "EdDSA" with "Ed25519"; both are accepted here.
SUPPORTED_ALGORITHMS: Final = frozenset({*_EC_ALGS, *_PS_ALGS, "EdDSA", "Ed25519"})

_EC_CURVES: Final[dict[str, tuple[ec.EllipticCurve, int]]] = {
    "P-256": (ec.SECP256R1(), 32),
    "P-384": (ec.SECP384R1(), 48),
    "P-521": (ec.SECP521R1(), 66),
}
# RFC 7518 §6.2.2, §6.3.2 and RFC 8037 §2: members that only a private key carries.
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# RFC 7638 §3.2: the required members hashed for each key type.
_THUMBPRINT_MEMBERS: Final[dict[str, tuple[str, ...]]] = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}
_MIN_RSA_BITS: Final = 2048


class JoseError(ValueError):
    """A JWS or JWK failed a structural or cryptographic check."""


@dataclass(frozen=True, slots=True)
class CompactJWS:
    """A parsed but not yet verified JWS in compact serialisation (RFC 7515 §7.1)."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def b64url_decode(value: str) -> bytes:
    """Decode unpadded base64url, rejecting anything else (RFC 7515 §2)."""
    if not _B64URL.match(value) or len(value) % 4 == 1:
        raise JoseError("invalid base64url")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise JoseError("invalid base64url") from exc


def b64url_encode(data: bytes) -> str:
    """Encode as unpadded base64url (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # RFC 7515 §5.2 step 4: duplicate member names make a JWS ambiguous, so refuse them.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise JoseError("duplicate member name")
        result[key] = value
    return result


def _json_object(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(segment), object_pairs_hook=_reject_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JoseError("segment is not JSON") from exc
    if not isinstance(value, dict):
        raise JoseError("segment is not a JSON object")
    return value


def parse_compact(token: str) -> CompactJWS:
    """Split and decode a compact JWS without verifying it (RFC 7515 §5.2 steps 1-7)."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0] or not parts[2]:
        raise JoseError("not a compact JWS")
    header = _json_object(parts[0])
    claims = _json_object(parts[1])
    if "crit" in header:
        # RFC 7515 §4.1.11: no extensions are understood here.
        raise JoseError("unsupported critical header")
    alg = header.get("alg")
    if not isinstance(alg, str):
        raise JoseError("missing alg")
    return CompactJWS(
        header=header,
        claims=claims,
        signing_input=f"{parts[0]}.{parts[1]}".encode("ascii"),
        signature=b64url_decode(parts[2]),
    )


def _member(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str) or not value:
        raise JoseError(f"JWK member {name!r} missing")
    return b64url_decode(value)


def has_private_members(jwk: Mapping[str, Any]) -> bool:
    """Tell whether a JWK carries private key material (RFC 9449 §4.2 forbids it in a proof)."""
    return any(name in jwk for name in _PRIVATE_MEMBERS)


def public_key_from_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    """Build a public key object from an asymmetric JWK (RFC 7518 §6, RFC 8037 §2)."""
    if has_private_members(jwk):
        raise JoseError("JWK contains private key material")
    kty = jwk.get("kty")
    try:
        if kty == "EC":
            curve_name = jwk.get("crv")
            if not isinstance(curve_name, str) or curve_name not in _EC_CURVES:
                raise JoseError("unsupported EC curve")
            curve, size = _EC_CURVES[curve_name]
            x, y = _member(jwk, "x"), _member(jwk, "y")
            if len(x) != size or len(y) != size:
                raise JoseError("EC coordinate has the wrong length")
            numbers = ec.EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve
            )
            return numbers.public_key()
        if kty == "RSA":
            n = int.from_bytes(_member(jwk, "n"), "big")
            e = int.from_bytes(_member(jwk, "e"), "big")
            if n.bit_length() < _MIN_RSA_BITS:
                raise JoseError("RSA key too small")
            return rsa.RSAPublicNumbers(e, n).public_key()
        if kty == "OKP":
            crv = jwk.get("crv")
            if crv == "Ed25519":
                return ed25519.Ed25519PublicKey.from_public_bytes(_member(jwk, "x"))
            if crv == "Ed448":
                return ed448.Ed448PublicKey.from_public_bytes(_member(jwk, "x"))
            raise JoseError("unsupported OKP curve")
    except ValueError as exc:
        # cryptography raises ValueError for points off the curve and malformed keys.
        if isinstance(exc, JoseError):
            raise
        raise JoseError("invalid public key") from exc
    raise JoseError("unsupported key type")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """Compute the base64url SHA-256 JWK thumbprint (RFC 7638 §3)."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None:
        raise JoseError("unsupported key type")
    required: dict[str, Any] = {}
    for name in members:
        value = jwk.get(name)
        if not isinstance(value, str):
            raise JoseError(f"JWK member {name!r} missing")
        required[name] = value
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def key_fits_algorithm(key: PublicKey, alg: str) -> bool:
    """Tell whether a key may be used with a JWS algorithm (RFC 7518 §3.1)."""
    if alg in _EC_ALGS:
        return isinstance(key, ec.EllipticCurvePublicKey) and (
            key.curve.name == _EC_CURVES[_EC_ALGS[alg][0]][0].name
        )
    if alg in _PS_ALGS:
        return isinstance(key, rsa.RSAPublicKey)
    if alg == "EdDSA":
        return isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)
    if alg == "Ed25519":
        return isinstance(key, ed25519.Ed25519PublicKey)
    return False


def check_signature(key: PublicKey, alg: str, signing_input: bytes, signature: bytes) -> None:
    """Verify a JWS signature or raise (RFC 7518 §3.4, §3.5, RFC 8037 §3.1, RFC 9864)."""
    if not key_fits_algorithm(key, alg):
        raise JoseError("key does not fit the algorithm")
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            _, digest, size = _EC_ALGS[alg]
            # RFC 7518 §3.4: the signature is the fixed-width R || S, not DER.
            if len(signature) != 2 * size:
                raise JoseError("ECDSA signature has the wrong length")
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(digest))
        elif isinstance(key, rsa.RSAPublicKey):
            digest = _PS_ALGS[alg]
            # RFC 7518 §3.5: MGF1 with the same hash and a salt as long as the digest.
            pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            key.verify(signature, signing_input, pss, digest)
        else:
            key.verify(signature, signing_input)
    except InvalidSignature as exc:
        raise JoseError("signature does not verify") from exc


def check_algorithms(algorithms: Iterable[str]) -> tuple[str, ...]:
    """Validate an algorithm allowlist, refusing anything but asymmetric signatures."""
    allowed = tuple(dict.fromkeys(algorithms))
    unknown = [alg for alg in allowed if alg not in SUPPORTED_ALGORITHMS]
    if unknown or not allowed:
        raise ValueError(f"unsupported JWS algorithms: {unknown or 'none given'}")
    return allowed
