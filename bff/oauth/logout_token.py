"""Logout token validation (OpenID Connect Back-Channel Logout 1.0 §2.4, §2.6)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from joserfc.jwk import KeySet

from bff.errors import InvalidLogoutToken
from bff.oauth.claims import check_issued_at, check_issuer_and_audience
from bff.oauth.jws import verify

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TYP = "logout+jwt"


def check_logout_token_claims(header: dict[str, Any], claims: dict[str, Any], *, issuer: str,
                              client_id: str, now: float, skew: int, strict_typ: bool,
                              max_age: int = 300) -> None:
    """The claim rules of §2.6 steps 3-7; a ``typ`` of another JWT kind is always refused."""
    typ = header.get("typ")
    if typ is None:
        if strict_typ:
            raise InvalidLogoutToken("typ missing (strict mode)")
    elif str(typ).lower() not in (LOGOUT_TYP, "application/" + LOGOUT_TYP):
        raise InvalidLogoutToken("typ is not logout+jwt")
    check_issuer_and_audience(claims, issuer=issuer, client_id=client_id,
                              error=InvalidLogoutToken)
    check_issued_at(claims, now=now, skew=skew, max_age=max_age, error=InvalidLogoutToken)
    exp = claims.get("exp")
    if exp is not None and (not isinstance(exp, int | float) or exp + skew < now):
        raise InvalidLogoutToken("expired")
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


def validate_logout_token(token: str, keys: KeySet, *, issuer: str, client_id: str, now: float,
                          skew: int, algorithms: Collection[str],
                          strict_typ: bool = True) -> dict[str, Any]:
    """Verify the signature with the AS keys (allowlisted ``alg``) and check the claims."""
    header, claims = verify(token, keys, algorithms, error=InvalidLogoutToken)
    check_logout_token_claims(header, claims, issuer=issuer, client_id=client_id, now=now,
                              skew=skew, strict_typ=strict_typ)
    return claims
