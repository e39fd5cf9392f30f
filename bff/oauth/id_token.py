"""ID token validation: OpenID Connect Core §3.1.3.7 with FAPI 2.0 algorithms and bounded skew."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection
from typing import Any

from joserfc.jwk import KeySet

from bff.crypto.seal import b64url_encode
from bff.errors import IDTokenInvalid, NonceMismatch
from bff.oauth.claims import (
    check_expiry,
    check_issued_at,
    check_issuer_and_audience,
    check_not_before,
    normalised_typ,
    numeric_date,
)
from bff.oauth.jws import verify

# OIDC Core §3.1.3.6 (at_hash): the hash of the signing alg; EdDSA is Ed25519 here, so SHA-512
_AT_HASH = {"ES256": "sha256", "PS256": "sha256", "RS256": "sha256", "ES384": "sha384",
            "PS384": "sha384", "RS384": "sha384", "ES512": "sha512", "PS512": "sha512",
            "RS512": "sha512", "EdDSA": "sha512", "Ed25519": "sha512"}


def at_hash(access_token: str, alg: str) -> str:
    """The ``at_hash`` of an access token for a signing ``alg`` (OIDC Core §3.1.3.6)."""
    name = _AT_HASH.get(alg)
    if name is None:
        raise IDTokenInvalid("no at_hash rule for this alg")
    digest = hashlib.new(name, access_token.encode()).digest()
    return b64url_encode(digest[:len(digest) // 2])


def check_id_token_header(header: dict[str, Any]) -> None:
    """An explicit ``typ`` naming another kind of JWT (``at+jwt``, ``logout+jwt``) is refused."""
    typ = normalised_typ(header, error=IDTokenInvalid)
    if typ is not None and typ.endswith("+jwt"):
        # RFC 8725 §3.11: explicitly typed JWTs must not be confused with ID tokens
        raise IDTokenInvalid("typ names another kind of JWT")


def check_id_token_claims(claims: dict[str, Any], *, issuer: str, client_id: str,
                          nonce: str | None, now: float, skew: int, max_age: int = 3600,
                          requested_max_age: int | None = None) -> None:
    """The claim checks of OIDC Core §3.1.3.7 steps 2-4, 9-13; ``nonce=None`` for a refresh."""
    audiences = check_issuer_and_audience(claims, issuer=issuer, client_id=client_id,
                                          error=IDTokenInvalid)
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise IDTokenInvalid("azp is required and must be the client when aud has several values")
    if "azp" in claims and claims["azp"] != client_id:
        raise IDTokenInvalid("azp is not the client")
    check_expiry(claims, now=now, skew=skew, error=IDTokenInvalid)
    check_issued_at(claims, now=now, skew=skew, max_age=max_age, error=IDTokenInvalid)
    check_not_before(claims, now=now, skew=skew, error=IDTokenInvalid)
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise IDTokenInvalid("sub missing")
    if "events" in claims:
        # a logout token (Back-Channel Logout 1.0 §2.4) or SET is never an ID token
        raise IDTokenInvalid("events claim present")
    auth_time = numeric_date(claims, "auth_time", error=IDTokenInvalid,
                             required=requested_max_age is not None)
    if requested_max_age is not None and auth_time is not None and (
            auth_time + requested_max_age + skew < now):
        # OIDC Core §3.1.3.7 step 13: the user authenticated longer ago than the login allowed
        raise IDTokenInvalid("auth_time older than the requested max_age")
    got = claims.get("nonce")
    if nonce is None:
        return
    if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
        raise NonceMismatch("nonce differs from the login transaction")


def check_access_token_hash(claims: dict[str, Any], alg: str, access_token: str | None) -> None:
    """When the ID token carries ``at_hash``, it matches the access token (OIDC Core §3.2.2.9)."""
    if "at_hash" not in claims or access_token is None:
        return
    expected = at_hash(access_token, alg)
    got = claims["at_hash"]
    if not isinstance(got, str) or not hmac.compare_digest(got.encode(), expected.encode()):
        raise IDTokenInvalid("at_hash does not match the access token")


def validate_id_token(token: str, keys: KeySet, *, issuer: str, client_id: str,
                      nonce: str | None, now: float, skew: int, algorithms: Collection[str],
                      access_token: str | None = None,
                      requested_max_age: int | None = None) -> dict[str, Any]:
    """Verify signature (allowlisted ``alg`` only) and claims; returns the claims."""
    header, claims = verify(token, keys, algorithms, error=IDTokenInvalid)
    alg = header.get("alg")
    if alg not in algorithms:
        raise IDTokenInvalid("alg not allowed")
    check_id_token_header(header)
    check_id_token_claims(claims, issuer=issuer, client_id=client_id, nonce=nonce, now=now,
                          skew=skew, requested_max_age=requested_max_age)
    check_access_token_hash(claims, str(alg), access_token)
    return claims


def check_refreshed_id_token(claims: dict[str, Any], *, sub: str,
                             auth_time: Any = None) -> None:
    """OIDC Core §12.2: a refreshed ID token is about the same subject and authentication."""
    if claims.get("sub") != sub:
        raise IDTokenInvalid("refreshed ID token names another subject")
    if auth_time is not None and "auth_time" in claims and claims["auth_time"] != auth_time:
        raise IDTokenInvalid("refreshed ID token changes auth_time")
