"""ID token validation: one case per rule of OIDC Core §3.1.3.7."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from joserfc.jwk import KeySet

from bff.crypto.keys import FAPI_ALGORITHMS, generate_signing_jwk
from bff.errors import IDTokenInvalid, NonceMismatch
from bff.oauth.id_token import (
    at_hash,
    check_id_token_claims,
    check_refreshed_id_token,
    validate_id_token,
)
from bff.oauth.jws import JWSSigner, encode_segment

ISSUER = "https://as.example"
CLIENT = "bff"
NONCE = "n-0S6_WzA2Mj"
NOW = 1_700_000_000
SKEW = 60


def good_claims(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {"iss": ISSUER, "aud": CLIENT, "sub": "alice", "nonce": NONCE,
                              "iat": NOW, "exp": NOW + 300}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def check(claims: dict[str, Any], now: float = NOW) -> None:
    check_id_token_claims(claims, issuer=ISSUER, client_id=CLIENT, nonce=NONCE, now=now,
                          skew=SKEW)


def validate(token: str, keys: KeySet, algorithms: list[str] | None = None) -> dict[str, Any]:
    return validate_id_token(token, keys, issuer=ISSUER, client_id=CLIENT, nonce=NONCE, now=NOW,
                             skew=SKEW, algorithms=algorithms or list(FAPI_ALGORITHMS))


@pytest.mark.parametrize("changes", [{}, {"aud": [CLIENT]}, {"aud": [CLIENT, "api"], "azp": CLIENT},
                                     {"azp": CLIENT}, {"auth_time": NOW - 10, "acr": "1"}])
def test_valid_claims_pass(changes: dict[str, Any], signers: dict[str, JWSSigner],
                           as_keys: KeySet) -> None:
    claims = good_claims(**changes)
    assert validate(signers["ES256"].sign({"kid": "as-ES256"}, claims), as_keys) == claims


@pytest.mark.spec("OpenID Connect Core §3.1.3.7 step 2")
@pytest.mark.parametrize("iss", ["https://evil.example", ISSUER + "/", None, ""])
def test_iss_must_equal_the_issuer(iss: str | None) -> None:
    """OpenID Connect Core §3.1.3.7 step 2: iss must exactly match the issuer."""
    with pytest.raises(IDTokenInvalid, match="iss"):
        check(good_claims(iss=iss))


@pytest.mark.spec("OpenID Connect Core §3.1.3.7 step 3")
@pytest.mark.parametrize("aud", ["other", ["other"], [], None, 7, {"bff": 1}])
def test_aud_must_contain_the_client(aud: Any) -> None:
    """OpenID Connect Core §3.1.3.7 step 3: aud must contain the client_id."""
    with pytest.raises(IDTokenInvalid, match="aud"):
        check(good_claims(aud=aud))


@pytest.mark.spec("OpenID Connect Core §3.1.3.7 step 3")
def test_several_audiences_need_azp() -> None:
    """OpenID Connect Core §3.1.3.7 step 3: several audiences need azp equal to the client."""
    with pytest.raises(IDTokenInvalid, match="azp"):
        check(good_claims(aud=[CLIENT, "api"]))
    with pytest.raises(IDTokenInvalid, match="azp"):
        check(good_claims(aud=[CLIENT, "api"], azp="api"))


@pytest.mark.spec("OpenID Connect Core §3.1.3.7 step 5")
def test_azp_when_present_must_be_the_client() -> None:
    """OpenID Connect Core §3.1.3.7 step 5: an azp claim must be the client_id."""
    with pytest.raises(IDTokenInvalid, match="azp"):
        check(good_claims(azp="other"))


@pytest.mark.spec("OpenID Connect Core §3.1.3.7 step 9")
@pytest.mark.parametrize("name", ["exp", "iat"])
@pytest.mark.parametrize("value", [None, "1700000000", True])
def test_exp_and_iat_must_be_numbers(name: str, value: Any) -> None:
    """OpenID Connect Core §3.1.3.7 step 9: exp and iat are required numbers."""
    with pytest.raises(IDTokenInvalid, match=name):
        check(good_claims(**{name: value}))


@pytest.mark.spec("OpenID Connect Core §3.1.3.7 step 9")
def test_expiry_skew_boundary_is_exactly_60_seconds() -> None:
    """OpenID Connect Core §3.1.3.7 step 9: accepted up to exp + 60 s, refused a second later."""
    claims = good_claims(iat=NOW - 200, exp=NOW - 60)
    check(claims)
    with pytest.raises(IDTokenInvalid, match="expired"):
        check(claims, now=NOW + 1)


@pytest.mark.spec("OpenID Connect Core §3.1.3.7 step 10")
def test_iat_in_the_future_skew_boundary_is_exactly_60_seconds() -> None:
    """OpenID Connect Core §3.1.3.7 step 10: iat may be 60 s ahead of our clock, not 61."""
    check(good_claims(iat=NOW + 60, exp=NOW + 600))
    with pytest.raises(IDTokenInvalid, match="iat"):
        check(good_claims(iat=NOW + 61, exp=NOW + 600))


@pytest.mark.spec("OpenID Connect Core §3.1.3.7 step 10")
def test_iat_too_far_in_the_past() -> None:
    """OpenID Connect Core §3.1.3.7 step 10: iat older than max_age + skew is refused."""
    check(good_claims(iat=NOW - 3660, exp=NOW + 600))
    with pytest.raises(IDTokenInvalid, match="iat"):
        check(good_claims(iat=NOW - 3661, exp=NOW + 600))


@pytest.mark.spec("OpenID Connect Core §2")
@pytest.mark.parametrize("sub", [None, "", 42])
def test_sub_required(sub: Any) -> None:
    """OpenID Connect Core §2: sub is a required non-empty string."""
    with pytest.raises(IDTokenInvalid, match="sub"):
        check(good_claims(sub=sub))


@pytest.mark.spec("OpenID Connect Core §3.1.3.7 step 11")
@pytest.mark.parametrize("nonce", [None, "", "other", NONCE + "x", 5])
def test_nonce_must_match(nonce: Any) -> None:
    """OpenID Connect Core §3.1.3.7 step 11: the nonce must equal the one sent."""
    with pytest.raises(NonceMismatch):
        check(good_claims(nonce=nonce))


def test_nonce_mismatch_is_a_protocol_violation_with_its_own_code() -> None:
    with pytest.raises(NonceMismatch) as caught:
        check(good_claims(nonce="other"))
    assert caught.value.code == "nonce_mismatch"
    assert not isinstance(caught.value, IDTokenInvalid)


@pytest.mark.parametrize("alg", FAPI_ALGORITHMS)
def test_validate_returns_claims(alg: str, signers: dict[str, JWSSigner],
                                 as_keys: KeySet) -> None:
    token = signers[alg].sign({"kid": f"as-{alg}"}, good_claims())
    assert validate(token, as_keys) == good_claims()


@pytest.mark.spec("OpenID Connect Core §3.1.3.7 step 6")
def test_validate_refuses_a_bad_signature(signers: dict[str, JWSSigner],
                                          as_keys: KeySet) -> None:
    """OpenID Connect Core §3.1.3.7 step 6: the signature must verify with the issuer's keys."""
    forger = JWSSigner(generate_signing_jwk("ES256", kid="as-ES256"))
    with pytest.raises(IDTokenInvalid):
        validate(forger.sign({"kid": "as-ES256"}, good_claims()), as_keys)


@pytest.mark.spec("OpenID Connect Core §3.1.3.7 step 7")
def test_validate_refuses_alg_none(as_keys: KeySet) -> None:
    """OpenID Connect Core §3.1.3.7 step 7: unsigned ID tokens are refused."""
    token = f"{encode_segment({'alg': 'none'})}.{encode_segment(good_claims())}."
    with pytest.raises(IDTokenInvalid):
        validate(token, as_keys)


@pytest.mark.spec("FAPI 2.0 Security Profile §5.4")
def test_validate_refuses_alg_outside_the_configured_list(signers: dict[str, JWSSigner],
                                                          as_keys: KeySet) -> None:
    """FAPI 2.0 Security Profile §5.4: only the configured algorithms are accepted."""
    token = signers["EdDSA"].sign({"kid": "as-EdDSA"}, good_claims())
    with pytest.raises(IDTokenInvalid):
        validate(token, as_keys, algorithms=["ES256", "PS256"])


def test_validate_checks_claims_after_the_signature(signers: dict[str, JWSSigner],
                                                    as_keys: KeySet) -> None:
    token = signers["ES256"].sign({"kid": "as-ES256"}, good_claims(aud="other"))
    with pytest.raises(IDTokenInvalid, match="aud"):
        validate(token, as_keys)
    token = signers["ES256"].sign({"kid": "as-ES256"}, good_claims(nonce="other"))
    with pytest.raises(NonceMismatch):
        validate(token, as_keys)


# -- hardening: nbf, typ, events, at_hash, max_age, plausible dates ------------------------------


@pytest.mark.spec("RFC 7519 §4.1.5")
def test_nbf_in_the_future_beyond_the_skew_refused() -> None:
    """RFC 7519 §4.1.5: a token not yet valid (nbf past now + skew) is refused."""
    check(good_claims(nbf=NOW + SKEW))
    with pytest.raises(IDTokenInvalid, match="nbf"):
        check(good_claims(nbf=NOW + SKEW + 1))
    with pytest.raises(IDTokenInvalid, match="nbf"):
        check(good_claims(nbf="soon"))


@pytest.mark.spec("RFC 8725 §3.11")
@pytest.mark.parametrize("typ", ["at+jwt", "application/at+JWT", "logout+jwt", "secevent+jwt",
                                 "AT+JWT"])
def test_typ_of_another_kind_of_jwt_refused(typ: Any, signers: dict[str, JWSSigner],
                                            as_keys: KeySet) -> None:
    """RFC 8725 §3.11: an access token or logout token is not accepted as an ID token."""
    token = signers["ES256"].sign({"kid": "as-ES256", "typ": typ}, good_claims())
    with pytest.raises(IDTokenInvalid, match="typ"):
        validate(token, as_keys)


@pytest.mark.parametrize("typ", ["JWT", "jwt", "application/jwt"])
def test_generic_typ_accepted(typ: str, signers: dict[str, JWSSigner], as_keys: KeySet) -> None:
    token = signers["ES256"].sign({"kid": "as-ES256", "typ": typ}, good_claims())
    assert validate(token, as_keys)["sub"] == "alice"


@pytest.mark.spec("OpenID Connect Back-Channel Logout 1.0 §2.4")
@pytest.mark.parametrize("events", [{"http://schemas.openid.net/event/backchannel-logout": {}},
                                    {}, "x"])
def test_events_claim_refused(events: Any) -> None:
    """Back-Channel Logout 1.0 §2.4: a token with events is a logout token, never an ID token."""
    with pytest.raises(IDTokenInvalid, match="events"):
        check(good_claims(events=events))


@pytest.mark.spec("OpenID Connect Core §3.2.2.9")
@pytest.mark.parametrize("alg", FAPI_ALGORITHMS)
def test_at_hash_must_match_the_access_token(alg: str, signers: dict[str, JWSSigner],
                                             as_keys: KeySet) -> None:
    """OpenID Connect Core §3.1.3.8/§3.2.2.9: an at_hash that does not hash this access token
    (left half of the alg's hash, base64url) is refused."""
    right = at_hash("at-123", alg)
    token = signers[alg].sign({"kid": f"as-{alg}"}, good_claims(at_hash=right))
    assert validate_id_token(token, as_keys, issuer=ISSUER, client_id=CLIENT, nonce=NONCE,
                             now=NOW, skew=SKEW, algorithms=FAPI_ALGORITHMS,
                             access_token="at-123")["at_hash"] == right
    for wrong in (at_hash("at-124", alg), "", 5):
        token = signers[alg].sign({"kid": f"as-{alg}"}, good_claims(at_hash=wrong))
        with pytest.raises(IDTokenInvalid, match="at_hash"):
            validate_id_token(token, as_keys, issuer=ISSUER, client_id=CLIENT, nonce=NONCE,
                              now=NOW, skew=SKEW, algorithms=FAPI_ALGORITHMS,
                              access_token="at-123")


@pytest.mark.parametrize(("alg", "name"), [("ES256", "sha256"), ("PS256", "sha256"),
                                           ("EdDSA", "sha512")])
def test_at_hash_is_the_left_half_of_the_algs_hash(alg: str, name: str) -> None:
    """OpenID Connect Core §3.1.3.6: left-most half of the hash used by the JWS alg."""
    digest = hashlib.new(name, b"jHkWEdUXMU1BwAsC4vtUsZwnNotGd6CQ").digest()
    expected = base64.urlsafe_b64encode(digest[:len(digest) // 2]).rstrip(b"=").decode()
    assert at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNotGd6CQ", alg) == expected


@pytest.mark.spec("OpenID Connect Core §3.1.3.7 step 13")
def test_auth_time_older_than_the_requested_max_age_refused() -> None:
    """OpenID Connect Core §3.1.3.7 step 13: with max_age requested, auth_time is required and
    must be no older than max_age (plus the skew)."""
    def checked(**changes: Any) -> None:
        check_id_token_claims(good_claims(**changes), issuer=ISSUER, client_id=CLIENT,
                              nonce=NONCE, now=NOW, skew=SKEW, requested_max_age=600)
    checked(auth_time=NOW - 600 - SKEW)
    with pytest.raises(IDTokenInvalid, match="max_age"):
        checked(auth_time=NOW - 600 - SKEW - 1)
    with pytest.raises(IDTokenInvalid, match="auth_time"):
        checked()
    with pytest.raises(IDTokenInvalid, match="auth_time"):
        checked(auth_time="yesterday")


@pytest.mark.spec("RFC 7519 §2")
@pytest.mark.parametrize("changes", [
    {"exp": (NOW + 300) * 1000}, {"iat": NOW * 1000, "exp": NOW * 1000 + 300},
    {"exp": float("inf")}, {"exp": float("nan")}, {"iat": -1}, {"exp": 10 ** 30},
])
def test_exp_and_iat_must_be_plausible_seconds(changes: dict[str, Any]) -> None:
    """RFC 7519 §2: NumericDate is seconds; milliseconds, infinities and NaN are refused."""
    with pytest.raises(IDTokenInvalid, match="plausible"):
        check(good_claims(**changes))


@pytest.mark.spec("OpenID Connect Core §12.2")
def test_refreshed_id_token_for_another_subject_refused() -> None:
    """OpenID Connect Core §12.2: a refreshed ID token keeps the sub (and auth_time)."""
    check_refreshed_id_token(good_claims(), sub="alice")
    check_refreshed_id_token(good_claims(auth_time=NOW - 5), sub="alice", auth_time=NOW - 5)
    with pytest.raises(IDTokenInvalid, match="subject"):
        check_refreshed_id_token(good_claims(sub="mallory"), sub="alice")
    with pytest.raises(IDTokenInvalid, match="auth_time"):
        check_refreshed_id_token(good_claims(auth_time=NOW), sub="alice", auth_time=NOW - 5)


def test_refreshed_id_token_needs_no_nonce() -> None:
    """OpenID Connect Core §12.2: the nonce is optional in a refreshed ID token."""
    check_id_token_claims(good_claims(nonce=None), issuer=ISSUER, client_id=CLIENT, nonce=None,
                          now=NOW, skew=SKEW)
