"""ID token validation: OpenID Connect Core §3.1.3.7 with FAPI 2.0 algorithms and bounded skew."""

from __future__ import annotations

import hmac
from collections.abc import Collection
from typing import Any

from joserfc.jwk import KeySet

from bff.errors import IDTokenInvalid, NonceMismatch
from bff.oauth.jws import verify


def check_id_token_claims(claims: dict[str, Any], *, issuer: str, client_id: str, nonce: str,
                          now: float, skew: int, max_age: int = 3600) -> None:
    """The claim checks of OIDC Core §3.1.3.7 steps 2-4, 9-11."""
    if claims.get("iss") != issuer:
        raise IDTokenInvalid("iss differs from the issuer")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if client_id not in audiences:
        raise IDTokenInvalid("aud does not contain the client")
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise IDTokenInvalid("azp is required and must be the client when aud has several values")
    if "azp" in claims and claims["azp"] != client_id:
        raise IDTokenInvalid("azp is not the client")
    for name in ("exp", "iat"):
        if not isinstance(claims.get(name), int | float) or isinstance(claims.get(name), bool):
            raise IDTokenInvalid(f"{name} missing or not a number")
    if claims["exp"] + skew < now:
        raise IDTokenInvalid("expired")
    if claims["iat"] - skew > now or claims["iat"] + max_age + skew < now:
        raise IDTokenInvalid("iat out of range")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise IDTokenInvalid("sub missing")
    got = claims.get("nonce")
    if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
        raise NonceMismatch("nonce differs from the login transaction")


def validate_id_token(token: str, keys: KeySet, *, issuer: str, client_id: str, nonce: str,
                      now: float, skew: int, algorithms: Collection[str]) -> dict[str, Any]:
    """Verify signature (allowlisted ``alg`` only) and claims; returns the claims."""
    header, claims = verify(token, keys, algorithms, error=IDTokenInvalid)
    if header.get("alg") not in algorithms:
        raise IDTokenInvalid("alg not allowed")
    check_id_token_claims(claims, issuer=issuer, client_id=client_id, nonce=nonce, now=now,
                          skew=skew)
    return claims
