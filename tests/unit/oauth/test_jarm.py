"""JWT-secured authorization responses (JARM): time claims."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc.jwk import KeySet

from bff.crypto.keys import FAPI_ALGORITHMS
from bff.errors import InvalidJARMResponse
from bff.oauth.jarm import process_jarm_response
from bff.oauth.jws import JWSSigner

ISSUER = "https://as.example"
NOW = 1_700_000_000
SKEW = 60


def read(signer: JWSSigner, keys: KeySet, **changes: Any) -> dict[str, str]:
    claims: dict[str, Any] = {"iss": ISSUER, "aud": "bff", "exp": NOW + 60, "code": "c",
                              "state": "s"}
    claims.update(changes)
    token = signer.sign({"kid": "as-ES256"}, {k: v for k, v in claims.items() if v is not None})
    return process_jarm_response(token, keys, issuer=ISSUER, client_id="bff", now=NOW,
                                 skew=SKEW, algorithms=FAPI_ALGORITHMS)


def test_valid_response(signers: dict[str, JWSSigner], as_keys: KeySet) -> None:
    assert read(signers["ES256"], as_keys, nbf=NOW + SKEW)["code"] == "c"


@pytest.mark.spec("RFC 7519 §4.1.5")
def test_nbf_in_the_future_refused(signers: dict[str, JWSSigner], as_keys: KeySet) -> None:
    """RFC 7519 §4.1.5: a JARM response not yet valid is refused."""
    with pytest.raises(InvalidJARMResponse, match="nbf"):
        read(signers["ES256"], as_keys, nbf=NOW + SKEW + 1)


@pytest.mark.spec("RFC 7519 §2")
@pytest.mark.parametrize("exp", [None, (NOW + 60) * 1000, float("inf"), "x"])
def test_exp_required_and_plausible(exp: Any, signers: dict[str, JWSSigner],
                                    as_keys: KeySet) -> None:
    """JARM §4.1 (exp required), RFC 7519 §2 (seconds)."""
    with pytest.raises(InvalidJARMResponse, match="exp"):
        read(signers["ES256"], as_keys, exp=exp)
