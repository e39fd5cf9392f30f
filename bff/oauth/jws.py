"""Compact JWS signing with a pre-parsed key, and verification through joserfc (RFC 7515).

Signing sits on the proxy's hot path (one DPoP proof per call), so the key is parsed once and
signatures come from ``cryptography`` directly; verification of what others sent always goes
through joserfc with our algorithm allowlist, never joserfc's defaults.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from bff.crypto.keys import FAPI_ALGORITHMS, alg_for_key, import_private_jwk, public_jwk
from bff.crypto.seal import b64url_decode, b64url_encode
from bff.errors import BFFError, ProtocolViolation

_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True)


def encode_segment(data: Mapping[str, Any]) -> str:
    """Base64url of the compact JSON of ``data``."""
    return b64url_encode(_COMPACT.encode(data).encode())


class JWSSigner:
    """Signs compact JWS with one private key (ES256, PS256 or EdDSA)."""

    def __init__(self, private_jwk: Mapping[str, Any]) -> None:
        self.replace_key(private_jwk)

    def replace_key(self, private_jwk: Mapping[str, Any]) -> None:
        """Sign with another key from now on (a key rotation picked up while running)."""
        jwk = dict(private_jwk)
        alg, key = alg_for_key(jwk), import_private_jwk(jwk).private_key  # may raise: first
        self.alg, self._key = alg, key
        self._ecdsa = ec.ECDSA(hashes.SHA256())
        self.kid: str | None = jwk.get("kid")
        self.public_jwk = public_jwk(jwk)
        self.private_jwk = jwk

    def __repr__(self) -> str:
        return f"JWSSigner(alg={self.alg!r}, kid={self.kid!r})"

    def sign_raw(self, data: bytes) -> bytes:
        """The raw JWS signature over ``data`` (RFC 7518 §3.4 r||s for ECDSA)."""
        key = self._key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(key.sign(data, self._ecdsa))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                              salt_length=32), hashes.SHA256())
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(data)
        raise TypeError("unsupported key")

    def sign(self, header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
        """A compact JWS of ``claims``; ``alg`` is set from the key."""
        return self.sign_with_encoded_header(encode_segment({**header, "alg": self.alg}), claims)

    def sign_with_encoded_header(self, encoded_header: str, claims: Mapping[str, Any]) -> str:
        """Sign with a header encoded once in advance (the DPoP hot path)."""
        signing_input = f"{encoded_header}.{encode_segment(claims)}"
        return f"{signing_input}.{b64url_encode(self.sign_raw(signing_input.encode('ascii')))}"


def verify(token: str, keys: KeySet, algorithms: Collection[str] = FAPI_ALGORITHMS,
           error: type[BFFError] = ProtocolViolation) -> tuple[dict[str, Any],
                                                                dict[str, Any]]:
    """Verify a compact JWS against ``keys`` with an explicit allowlist; returns header, claims."""
    try:
        obj = jws.deserialize_compact(token, keys, algorithms=list(algorithms))
    except BFFError:
        raise
    except (JoseError, ValueError, TypeError, KeyError, RecursionError) as exc:
        # RecursionError: json.loads of a deeply nested header inside joserfc
        raise error(f"JWS rejected: {type(exc).__name__}") from exc
    try:
        claims = json.loads(obj.payload)
    except (ValueError, RecursionError) as exc:
        raise error("JWS payload is not JSON") from exc
    if not isinstance(claims, dict):
        raise error("JWS payload is not an object")
    return dict(obj.protected), claims


def peek_header(token: str, error: type[BFFError] = ProtocolViolation) -> dict[str, Any]:
    """The unverified protected header, for choosing a key; never trust it for anything else."""
    try:
        header = json.loads(b64url_decode(token.split(".")[0]))
    except (ValueError, IndexError, RecursionError) as exc:
        raise error("malformed JWS header") from exc
    if not isinstance(header, dict):
        raise error("malformed JWS header")
    return header
