"""JWK loading, generation and thumbprints (RFC 7517, RFC 7638) for FAPI 2.0 algorithms."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from joserfc.jwk import ECKey, OKPKey, RSAKey

from bff.crypto.seal import SealKey, b64url_decode, b64url_encode

FAPI_ALGORITHMS = ("PS256", "ES256", "EdDSA")
AsymmetricKey = ECKey | RSAKey | OKPKey

_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"),
                       "OKP": ("crv", "kty", "x")}


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 §3 SHA-256 thumbprint, base64url."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None:
        raise ValueError("unsupported key type for a thumbprint")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(canonical.encode()).digest())


def alg_for_key(jwk: dict[str, Any]) -> str:
    """The FAPI algorithm a key signs with, checking it is allowed (RSA ≥ 2048 bits)."""
    kty = jwk.get("kty")
    alg = jwk.get("alg")
    if kty == "EC":
        if jwk.get("crv") != "P-256" or alg not in (None, "ES256"):
            raise ValueError("EC keys must be P-256 with alg ES256")
        return "ES256"
    if kty == "RSA":
        if int.from_bytes(b64url_decode(str(jwk.get("n", ""))), "big").bit_length() < 2048:
            raise ValueError("RSA keys must have at least 2048 bits")
        if alg not in (None, "PS256"):
            raise ValueError("RSA keys must use PS256")
        return "PS256"
    if kty == "OKP":
        if jwk.get("crv") != "Ed25519" or alg not in (None, "EdDSA"):
            raise ValueError("OKP keys must be Ed25519 with alg EdDSA")
        return "EdDSA"
    raise ValueError("unsupported key type")


def import_private_jwk(jwk: dict[str, Any]) -> AsymmetricKey:
    """Import a private signing JWK of an allowed kind."""
    alg_for_key(jwk)
    if "d" not in jwk:
        raise ValueError("the key is not a private key")
    kty = jwk["kty"]
    key: AsymmetricKey
    if kty == "EC":
        key = ECKey.import_key(jwk)
    elif kty == "RSA":
        key = RSAKey.import_key(jwk)
    else:
        key = OKPKey.import_key(jwk)
    return key


def public_jwk(jwk: dict[str, Any]) -> dict[str, Any]:
    """The public members of a JWK (drops every private member)."""
    keep = {"kty", "crv", "x", "y", "n", "e", "kid", "alg", "use"}
    return {k: v for k, v in jwk.items() if k in keep}


def generate_signing_jwk(alg: str = "ES256", kid: str | None = None) -> dict[str, Any]:
    """A fresh private signing JWK for ``alg`` (ES256, PS256 or EdDSA)."""
    key: AsymmetricKey
    if alg == "ES256":
        key = ECKey.generate_key("P-256", private=True)
    elif alg == "PS256":
        key = RSAKey.generate_key(3072, private=True)
    elif alg == "EdDSA":
        key = OKPKey.generate_key("Ed25519", private=True)
    else:
        raise ValueError(f"unsupported algorithm {alg}")
    data: dict[str, Any] = dict(key.as_dict(private=True))
    data["alg"] = alg
    data["use"] = "sig"
    data["kid"] = kid or thumbprint(data)[:16]
    return data


def generate_seal_jwk(kid: str | None = None) -> dict[str, str]:
    """A fresh 256-bit cookie key as an ``oct`` JWK."""
    raw = os.urandom(32)
    return {"kty": "oct", "kid": kid or b64url_encode(os.urandom(6)), "k": b64url_encode(raw),
            "alg": "A256GCM"}


def seal_key_from_jwk(jwk: dict[str, Any]) -> SealKey:
    """Turn an ``oct`` JWK into a SealKey."""
    if jwk.get("kty") != "oct" or "k" not in jwk or "kid" not in jwk:
        raise ValueError("a cookie key must be an oct JWK with kid and k")
    return SealKey(kid=str(jwk["kid"]), key=b64url_decode(str(jwk["k"])))
