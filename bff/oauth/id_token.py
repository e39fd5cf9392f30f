"""ID token validation: OpenID Connect Core §3.1.3.7 with FAPI 2.0 algorithms and bounded skew."""

from __future__ import annotations

import hmac
from collections.abc import Collection
from typing import Any

from joserfc.jwk import KeySet

from bff.errors import IDTokenInvalid, NonceMismatch
from bff.oauth.claims import check_issued_at, check_issuer_and_audience
from bff.oauth.jws import verify


def check_id_token_claims(claims: dict[str, Any], *, issuer: str, client_id: str, nonce: str,
                          now: float, skew: int, max_age: int = 3600) -> None:
    """The claim checks of OIDC Core §3.1.3.7 steps 2-4, 9-11."""
    audiences = check_issuer_and_audience(claims, issuer=issuer, client_id=client_id,
                                          error=IDTokenInvalid)
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise IDTokenInvalid("azp is required and must be the client when aud has several values")
    if "azp" in claims and claims["azp"] != client_id:
        raise IDTokenInvalid("azp is not the client")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise IDTokenInvalid("exp missing or not a number")
    if exp + skew < now:
        raise IDTokenInvalid("expired")
    check_issued_at(claims, now=now, skew=skew, max_age=max_age, error=IDTokenInvalid)
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
