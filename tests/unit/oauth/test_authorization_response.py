"""Authorization response checks: state, iss (RFC 9207), error and code."""

from __future__ import annotations

import pytest

from bff.errors import (
    AuthorizationErrorResponse,
    InvalidRequest,
    IssMismatch,
    IssMissing,
    StateMismatch,
)
from bff.oauth.authorization_response import check_authorization_response

ISSUER = "https://as.example"
STATE = "s-3f9a"


def check(params: dict[str, str]) -> str:
    return check_authorization_response(params, expected_state=STATE, issuer=ISSUER).code


def test_valid_response_returns_the_code() -> None:
    assert check({"code": "c-1", "state": STATE, "iss": ISSUER}) == "c-1"


@pytest.mark.spec("RFC 6749 §10.12")
@pytest.mark.parametrize("state", ["other", "", STATE + "x", STATE[:-1]])
def test_state_must_match(state: str) -> None:
    """RFC 6749 §10.12: the state must equal the one the login transaction holds."""
    with pytest.raises(StateMismatch):
        check({"code": "c", "state": state, "iss": ISSUER})


@pytest.mark.spec("RFC 6749 §10.12")
def test_missing_state_is_a_mismatch() -> None:
    """RFC 6749 §10.12: a response without state is refused."""
    with pytest.raises(StateMismatch):
        check({"code": "c", "iss": ISSUER})


@pytest.mark.spec("RFC 9207 §2.4")
def test_iss_required() -> None:
    """RFC 9207 §2.4: a response without iss is refused."""
    with pytest.raises(IssMissing):
        check({"code": "c", "state": STATE})


@pytest.mark.spec("RFC 9207 §2.4")
@pytest.mark.parametrize("iss", ["https://evil.example", ISSUER + "/", "", "HTTPS://AS.EXAMPLE"])
def test_iss_must_equal_the_issuer(iss: str) -> None:
    """RFC 9207 §2.4: iss must be exactly the issuer (simple string comparison)."""
    with pytest.raises(IssMismatch):
        check({"code": "c", "state": STATE, "iss": iss})


@pytest.mark.spec("RFC 9207 §2.4")
def test_error_response_with_wrong_iss_is_a_mismatch() -> None:
    """RFC 9207 §2.4: error responses are checked for iss before the error is believed."""
    with pytest.raises(IssMismatch):
        check({"error": "access_denied", "state": STATE, "iss": "https://evil.example"})


@pytest.mark.spec("RFC 6749 §4.1.2.1")
def test_error_response() -> None:
    """RFC 6749 §4.1.2.1: an error from the right issuer is AuthorizationErrorResponse."""
    with pytest.raises(AuthorizationErrorResponse) as caught:
        check({"error": "access_denied", "state": STATE, "iss": ISSUER, "code": "c"})
    assert "access_denied" in caught.value.detail
    assert "access_denied" not in caught.value.description


def test_error_detail_is_bounded() -> None:
    with pytest.raises(AuthorizationErrorResponse) as caught:
        check({"error": "x" * 1000, "state": STATE, "iss": ISSUER})
    assert len(caught.value.detail) < 120


@pytest.mark.parametrize("params", [{"state": STATE, "iss": ISSUER},
                                    {"state": STATE, "iss": ISSUER, "code": ""}])
def test_code_required(params: dict[str, str]) -> None:
    with pytest.raises(InvalidRequest):
        check(params)
