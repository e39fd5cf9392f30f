"""private_key_jwt client assertions (RFC 7523 §3, FAPI 2.0 §5.3.2.1)."""

from __future__ import annotations

import pytest
from joserfc.jwk import KeySet

from bff.oauth.client_auth import (
    ASSERTION_TYPE,
    build_client_assertion,
    client_auth_params,
)
from bff.oauth.clock import FrozenClock
from bff.oauth.jws import JWSSigner, peek_header, verify

ISSUER = "https://as.example/tenant/"


@pytest.mark.spec("FAPI 2.0 Security Profile §5.3.2.1")
def test_aud_is_exactly_the_issuer(signers: dict[str, JWSSigner], as_keys: KeySet,
                                   clock: FrozenClock) -> None:
    """FAPI 2.0 Security Profile §5.3.2.1: aud is the issuer itself, not the token endpoint."""
    token = build_client_assertion(signers["ES256"], "bff", ISSUER, clock)
    _, claims = verify(token, as_keys)
    assert claims["aud"] == ISSUER


@pytest.mark.spec("RFC 7523 §3")
def test_iss_and_sub_are_the_client_id(signers: dict[str, JWSSigner], as_keys: KeySet,
                                       clock: FrozenClock) -> None:
    """RFC 7523 §3: iss and sub are both the client_id."""
    _, claims = verify(build_client_assertion(signers["PS256"], "bff-client", ISSUER, clock),
                       as_keys)
    assert claims["iss"] == claims["sub"] == "bff-client"


@pytest.mark.spec("RFC 7523 §3")
def test_lifetime_is_60_seconds_from_the_clock(signers: dict[str, JWSSigner], as_keys: KeySet,
                                               clock: FrozenClock) -> None:
    """RFC 7523 §3: iat is now and exp is 60 seconds later."""
    clock.now = 1_700_000_000.7
    _, claims = verify(build_client_assertion(signers["EdDSA"], "bff", ISSUER, clock), as_keys)
    assert claims["iat"] == 1_700_000_000
    assert claims["exp"] - claims["iat"] == 60


@pytest.mark.spec("RFC 7523 §3")
def test_jti_is_unique(signers: dict[str, JWSSigner], as_keys: KeySet,
                       clock: FrozenClock) -> None:
    """RFC 7523 §3: every assertion has a fresh jti, even at the same instant."""
    jtis = {verify(build_client_assertion(signers["ES256"], "bff", ISSUER, clock), as_keys)[1][
        "jti"] for _ in range(20)}
    assert len(jtis) == 20


def test_header_has_kid_and_typ(signers: dict[str, JWSSigner], clock: FrozenClock) -> None:
    header = peek_header(build_client_assertion(signers["ES256"], "bff", ISSUER, clock))
    assert header == {"typ": "JWT", "kid": "as-ES256", "alg": "ES256"}


def test_header_without_kid(clock: FrozenClock, signers: dict[str, JWSSigner]) -> None:
    jwk = {k: v for k, v in signers["ES256"].private_jwk.items() if k != "kid"}
    header = peek_header(build_client_assertion(JWSSigner(jwk), "bff", ISSUER, clock))
    assert "kid" not in header


def test_client_auth_params(signers: dict[str, JWSSigner], as_keys: KeySet,
                            clock: FrozenClock) -> None:
    params = client_auth_params(signers["ES256"], "bff", ISSUER, clock)
    assert set(params) == {"client_id", "client_assertion_type", "client_assertion"}
    assert params["client_id"] == "bff"
    assert params["client_assertion_type"] == ASSERTION_TYPE
    assert verify(params["client_assertion"], as_keys)[1]["aud"] == ISSUER
