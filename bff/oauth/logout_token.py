"""Logout token validation (OpenID Connect Back-Channel Logout 1.0 §2.4, §2.6)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from joserfc.jwk import KeySet

from bff.errors import InvalidLogoutToken
from bff.oauth.claims import (
    GENERIC_TYP,
    check_expiry,
    check_issued_at,
    check_issuer_and_audience,
    check_not_before,
    normalised_typ,
    numeric_date,
)
from bff.oauth.jws import verify

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TYP = "logout+jwt"
# a logout token is short-lived (§2.4 recommends about two minutes): iat may be this old, and
# exp may lie at most this far ahead, so its jti need only be remembered for as long
MAX_AGE = 300


def check_logout_token_header(header: dict[str, Any], *, strict_typ: bool) -> None:
    """``typ`` is ``logout+jwt``; without strict mode a missing or generic ``JWT`` also passes."""
    typ = normalised_typ(header, error=InvalidLogoutToken)
    if typ == LOGOUT_TYP:
        return
    if typ is None or typ == GENERIC_TYP:
        if strict_typ:
            raise InvalidLogoutToken("typ is not logout+jwt (strict mode)")
        return
    # another explicit type (at+jwt, secevent+jwt, ...) is another kind of token, always refused
    raise InvalidLogoutToken("typ is not logout+jwt")


def check_logout_token_claims(header: dict[str, Any], claims: dict[str, Any], *, issuer: str,
                              client_id: str, now: float, skew: int, strict_typ: bool,
                              max_age: int = MAX_AGE) -> None:
    """The claim rules of §2.4 and §2.6 steps 3-7; ``exp`` is required and bounded."""
    check_logout_token_header(header, strict_typ=strict_typ)
    check_issuer_and_audience(claims, issuer=issuer, client_id=client_id,
                              error=InvalidLogoutToken)
    check_issued_at(claims, now=now, skew=skew, max_age=max_age, error=InvalidLogoutToken)
    check_expiry(claims, now=now, skew=skew, error=InvalidLogoutToken, max_lifetime=max_age)
    check_not_before(claims, now=now, skew=skew, error=InvalidLogoutToken)
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise InvalidLogoutToken("jti missing")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
        raise InvalidLogoutToken("events lacks the back-channel logout event")
    sid, sub = claims.get("sid"), claims.get("sub")
    if not (isinstance(sid, str) and sid) and not (isinstance(sub, str) and sub):
        raise InvalidLogoutToken("neither sid nor sub")
    if "nonce" in claims:
        raise InvalidLogoutToken("nonce present")


def acceptable_until(claims: dict[str, Any], *, skew: int, max_age: int = MAX_AGE) -> float:
    """The last instant at which these (validated) claims would still pass the checks above.

    A replay cache must keep the ``jti`` at least until then (§2.6 step 8).
    """
    exp = numeric_date(claims, "exp", error=InvalidLogoutToken, required=True)
    iat = numeric_date(claims, "iat", error=InvalidLogoutToken, required=True)
    assert exp is not None and iat is not None
    return min(exp, iat + max_age) + skew


def validate_logout_token(token: str, keys: KeySet, *, issuer: str, client_id: str, now: float,
                          skew: int, algorithms: Collection[str],
                          strict_typ: bool = True) -> dict[str, Any]:
    """Verify the signature with the AS keys (allowlisted ``alg``) and check the claims."""
    header, claims = verify(token, keys, algorithms, error=InvalidLogoutToken)
    check_logout_token_claims(header, claims, issuer=issuer, client_id=client_id, now=now,
                              skew=skew, strict_typ=strict_typ)
    return claims
