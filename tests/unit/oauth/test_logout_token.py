"""Logout token checks (Back-Channel Logout 1.0 §2.4, §2.6): exp required, typ, replay window."""

from __future__ import annotations

from typing import Any

import pytest

from bff.errors import InvalidLogoutToken
from bff.oauth.logout_token import (
    BACKCHANNEL_EVENT,
    MAX_AGE,
    acceptable_until,
    check_logout_token_claims,
)

ISSUER = "https://as.example"
CLIENT = "bff"
NOW = 1_700_000_000
SKEW = 60
TYP = {"typ": "logout+jwt", "alg": "ES256"}


def good_claims(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {"iss": ISSUER, "aud": CLIENT, "iat": NOW, "exp": NOW + 120,
                              "jti": "j-1", "sid": "s-1", "events": {BACKCHANNEL_EVENT: {}}}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def check(claims: dict[str, Any], header: dict[str, Any] | None = None, now: float = NOW,
          strict_typ: bool = True) -> None:
    check_logout_token_claims(TYP if header is None else header, claims, issuer=ISSUER,
                              client_id=CLIENT, now=now, skew=SKEW, strict_typ=strict_typ)


def test_valid_token_passes() -> None:
    check(good_claims())


@pytest.mark.spec("OpenID Connect Back-Channel Logout 1.0 §2.4")
@pytest.mark.parametrize("exp", [None, "soon", True, (NOW + 120) * 1000, float("nan")])
def test_exp_is_required(exp: Any) -> None:
    """Back-Channel Logout 1.0 §2.4: exp is REQUIRED (and must be plausible seconds)."""
    with pytest.raises(InvalidLogoutToken, match="exp"):
        check(good_claims(exp=exp))


@pytest.mark.spec("OpenID Connect Back-Channel Logout 1.0 §2.4")
def test_exp_far_in_the_future_refused() -> None:
    """Back-Channel Logout 1.0 §2.4 (short lifetime): exp at most MAX_AGE + skew ahead, so a
    jti need not be remembered for longer."""
    check(good_claims(exp=NOW + MAX_AGE + SKEW))
    with pytest.raises(InvalidLogoutToken, match="exp"):
        check(good_claims(exp=NOW + MAX_AGE + SKEW + 1))
    with pytest.raises(InvalidLogoutToken, match="exp"):
        check(good_claims(exp=NOW + 10 ** 8))


@pytest.mark.spec("RFC 7519 §4.1.5")
def test_nbf_in_the_future_refused() -> None:
    """RFC 7519 §4.1.5: not before now + skew."""
    check(good_claims(nbf=NOW + SKEW))
    with pytest.raises(InvalidLogoutToken, match="nbf"):
        check(good_claims(nbf=NOW + SKEW + 1))


@pytest.mark.spec("OpenID Connect Back-Channel Logout 1.0 §2.6")
def test_acceptable_until_covers_every_instant_the_token_passes() -> None:
    """§2.6 step 8: the jti must be kept until the token could no longer be accepted; check the
    bound against the checks themselves, second by second, for several exp/iat shapes."""
    for iat, exp in [(NOW, NOW + 120), (NOW, NOW + MAX_AGE + SKEW), (NOW - 200, NOW + 30),
                     (NOW + 50, NOW + 400)]:
        claims = good_claims(iat=iat, exp=exp)
        until = acceptable_until(claims, skew=SKEW)
        last_ok = None
        for t in range(NOW - 100, NOW + 1000):
            try:
                check(claims, now=t)
            except InvalidLogoutToken:
                continue
            last_ok = t
        assert last_ok is not None and last_ok <= until < last_ok + 1 + 1


@pytest.mark.spec("OpenID Connect Back-Channel Logout 1.0 §2.4")
@pytest.mark.parametrize("typ", [None, "JWT", "jwt", "application/jwt"])
def test_missing_or_generic_typ_refused_strict_accepted_insecure(typ: Any) -> None:
    """§2.4 (typ logout+jwt recommended): strict by default; [insecure]
    logout_token_without_typ accepts a missing or generic typ as the README says."""
    header = {"alg": "ES256"} if typ is None else {"alg": "ES256", "typ": typ}
    with pytest.raises(InvalidLogoutToken, match="typ"):
        check(good_claims(), header)
    check(good_claims(), header, strict_typ=False)


@pytest.mark.spec("RFC 8725 §3.11")
@pytest.mark.parametrize("typ", ["at+jwt", "secevent+jwt", "dpop+jwt", "text/plain", 5])
def test_another_explicit_typ_refused_even_when_insecure(typ: Any) -> None:
    """RFC 8725 §3.11: another kind of JWT is never a logout token."""
    with pytest.raises(InvalidLogoutToken, match="typ"):
        check(good_claims(), {"alg": "ES256", "typ": typ}, strict_typ=False)


@pytest.mark.parametrize("typ", ["logout+jwt", "application/logout+jwt", "Logout+JWT"])
def test_logout_typ_accepted(typ: str) -> None:
    check(good_claims(), {"alg": "ES256", "typ": typ})
