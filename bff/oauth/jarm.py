"""JWT-secured authorization responses (JARM, FAPI JARM §4.4): verify, then read the parameters."""

from __future__ import annotations

from collections.abc import Collection

from joserfc.jwk import KeySet

from bff.errors import InvalidJARMResponse, IssMismatch, IssMissing
from bff.oauth.claims import check_expiry, check_issuer_and_audience, check_not_before
from bff.oauth.jws import verify

_PARAMS = ("code", "state", "iss", "error", "error_description")


def process_jarm_response(token: str, keys: KeySet, *, issuer: str, client_id: str, now: float,
                          skew: int, algorithms: Collection[str]) -> dict[str, str]:
    """The authorization response parameters from a verified ``response`` JWT."""
    _, claims = verify(token, keys, algorithms, error=InvalidJARMResponse)
    if "iss" not in claims:
        raise IssMissing("JARM response without iss")
    if claims["iss"] != issuer:
        raise IssMismatch("JARM response from another issuer")
    check_issuer_and_audience(claims, issuer=issuer, client_id=client_id,
                              error=InvalidJARMResponse)
    check_expiry(claims, now=now, skew=skew, error=InvalidJARMResponse)
    check_not_before(claims, now=now, skew=skew, error=InvalidJARMResponse)
    return {k: str(claims[k]) for k in _PARAMS if isinstance(claims.get(k), str)}
