"""Authorization response checks: state, iss (RFC 9207), error and code."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bff.errors import (
    AuthorizationErrorResponse,
    InvalidRequest,
    IssMismatch,
    IssMissing,
    StateMismatch,
)
from bff.oauth.authorization_response import (
    PROTOCOL_PARAMS,
    check_authorization_response,
    parse_authorization_response,
)

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


# -- parsing the redirect's query: duplicates and mixtures are refused --------------------------


@pytest.mark.spec("RFC 6749 §3.1")
@pytest.mark.parametrize("query", [
    f"code=c&state={STATE}&iss={ISSUER}&iss=https://evil.example",
    f"code=c&state={STATE}&iss=https://evil.example&iss={ISSUER}",
    f"code=c&state={STATE}&state=other&iss={ISSUER}",
    f"code=c&code=d&state={STATE}&iss={ISSUER}",
    f"code=c&state={STATE}&iss={ISSUER}&i%73s=https://evil.example",
    f"code=c&state={STATE}&iss={ISSUER}&iss=",
    "response=a.b.c&response=d.e.f",
    f"error=access_denied&error=x&state={STATE}&iss={ISSUER}",
])
def test_repeated_parameters_refused(query: str) -> None:
    """RFC 6749 §3.1 (parameters must not be included more than once): no "last wins"."""
    with pytest.raises(InvalidRequest, match="repeats"):
        parse_authorization_response(query)


@pytest.mark.spec("JARM §4.1")
@pytest.mark.parametrize("extra", ["code=c", f"state={STATE}", f"iss={ISSUER}",
                                   "error=access_denied", "error_description=x", "code="])
def test_jarm_response_with_plain_parameters_refused(extra: str) -> None:
    """JARM §4.1: a JWT-secured response carries its parameters inside the JWT only; plain
    ones next to it are unsigned additions, refused rather than ignored."""
    with pytest.raises(InvalidRequest, match="JWT-secured"):
        parse_authorization_response(f"response=a.b.c&{extra}")


def test_page_parameters_are_ignored_and_may_repeat() -> None:
    got = parse_authorization_response(
        f"tab=1&tab=2&code=c&state={STATE}&iss={ISSUER.replace(':', '%3A')}&utm=x")
    assert got == {"code": "c", "state": STATE, "iss": ISSUER}
    assert parse_authorization_response("response=a.b.c&tab=1") == {"response": "a.b.c"}
    assert parse_authorization_response("") == {}


# the protocol names and a few near-misses, values from a small alphabet incl. & = % and +
_names = st.sampled_from(["code", "state", "iss", "error", "error_description", "response",
                          "error_uri", "Code", "iss ", "tab", "co%64e", "st%61te"])
_values = st.text(alphabet="ab&=%+2F ", max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_names, _values), max_size=8))
def test_parser_never_resolves_a_repeat(pairs: list[tuple[str, str]]) -> None:
    """Invariant: for any query, the parser either refuses it or returns, for each protocol
    parameter, the one and only value the query carries (never one of several), and never a
    JWT-secured response together with a plain parameter."""
    query = "&".join(f"{n}={quote(v, safe='')}" for n, v in pairs)
    try:
        got = parse_authorization_response(query)
    except InvalidRequest:
        decoded = [n for n, _ in parse_qsl(query, keep_blank_values=True)]
        protocol = [n for n in decoded if n in PROTOCOL_PARAMS]
        assert len(protocol) != len(set(protocol)) or (
            "response" in protocol and len(set(protocol)) > 1)
        return
    values: dict[str, list[str]] = {}
    for n, v in parse_qsl(query, keep_blank_values=True):
        values.setdefault(n, []).append(v)
    assert set(got) == {n for n in values if n in PROTOCOL_PARAMS}
    for name, value in got.items():
        assert values[name] == [value]
    assert not ("response" in got and len(got) > 1)
