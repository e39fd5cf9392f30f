"""Token responses for DPoP-bound tokens (RFC 6749 §5.1, RFC 9449 §5)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bff.errors import (
    AuthorizationServerError,
    BearerDowngrade,
    DPoPNonceRequired,
    InvalidTokenResponse,
)
from bff.oauth.tokens import MAX_EXPIRES_IN, process_token_response

NOW = 1_700_000_000.0


def response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def good(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"access_token": "at-1", "token_type": "DPoP", "expires_in": 600,
                            "refresh_token": "rt-1", "id_token": "h.p.s", "scope": "openid"}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def test_valid_response() -> None:
    tokens = process_token_response(response(good()), now=NOW)
    assert tokens.access_token == "at-1"
    assert tokens.expires_at == NOW + 600
    assert tokens.refresh_token == "rt-1"
    assert tokens.id_token == "h.p.s"
    assert tokens.scope == "openid"


def test_optional_members_absent() -> None:
    tokens = process_token_response(response(good(
        refresh_token=None, id_token=None, scope=None, expires_in=None)), now=NOW)
    assert tokens.refresh_token is None
    assert tokens.id_token is None
    assert tokens.scope is None
    assert tokens.expires_at == NOW + 300


def test_token_type_is_case_insensitive() -> None:
    assert process_token_response(response(good(token_type="dpop")), now=NOW).access_token


def test_repr_hides_tokens() -> None:
    text = repr(process_token_response(response(good()), now=NOW))
    assert "at-1" not in text
    assert "rt-1" not in text


@pytest.mark.spec("FAPI 2.0 Security Profile §5.3.2.2")
@pytest.mark.parametrize("token_type", ["Bearer", "bearer", "", None, "N_A"])
def test_bearer_is_a_downgrade(token_type: str | None) -> None:
    """FAPI 2.0 Security Profile §5.3.2.2: a token that is not DPoP-bound is refused."""
    with pytest.raises(BearerDowngrade):
        process_token_response(response(good(token_type=token_type)), now=NOW)


@pytest.mark.spec("RFC 6749 §5.1")
@pytest.mark.parametrize("access_token", [None, "", 42, ["at"]])
def test_access_token_required(access_token: Any) -> None:
    """RFC 6749 §5.1: access_token is a required non-empty string."""
    with pytest.raises(InvalidTokenResponse, match="access_token"):
        process_token_response(response(good(access_token=access_token)), now=NOW)


@pytest.mark.spec("RFC 6749 §5.1")
@pytest.mark.parametrize("expires_in", [0, -5, "600", 1.5, True])
def test_bad_expires_in(expires_in: Any) -> None:
    """RFC 6749 §5.1: expires_in, when present, is a positive integer."""
    with pytest.raises(InvalidTokenResponse, match="expires_in"):
        process_token_response(response(good(expires_in=expires_in)), now=NOW)


@pytest.mark.parametrize("member", ["refresh_token", "id_token"])
def test_optional_tokens_must_be_strings(member: str) -> None:
    with pytest.raises(InvalidTokenResponse, match=member):
        process_token_response(response(good(**{member: 1})), now=NOW)


@pytest.mark.spec("RFC 6749 §5.1")
@pytest.mark.parametrize("body", [[1, 2], "text", None])
def test_body_must_be_an_object(body: Any) -> None:
    """RFC 6749 §5.1: a body that is not a JSON object has no access_token."""
    with pytest.raises(InvalidTokenResponse):
        process_token_response(response(body), now=NOW)


def test_non_json_body() -> None:
    with pytest.raises(InvalidTokenResponse):
        process_token_response(httpx.Response(200, text="<html>"), now=NOW)


@pytest.mark.parametrize("status", [201, 204, 302])
def test_status_other_than_200(status: int) -> None:
    with pytest.raises(InvalidTokenResponse, match="HTTP"):
        process_token_response(response(good(), status=status), now=NOW)


@pytest.mark.spec("RFC 6749 §5.2")
def test_as_error_json() -> None:
    """RFC 6749 §5.2: an OAuth error body becomes AuthorizationServerError with the AS's code."""
    with pytest.raises(AuthorizationServerError) as caught:
        process_token_response(response({"error": "invalid_grant",
                                         "error_description": "code reused"}, 400), now=NOW)
    assert caught.value.oauth_error == "invalid_grant"
    assert caught.value.code == "as_error"
    assert "code reused" not in str(caught.value)


def test_as_error_without_json() -> None:
    with pytest.raises(AuthorizationServerError) as caught:
        process_token_response(httpx.Response(500, text="oops"), now=NOW)
    assert caught.value.oauth_error == ""
    assert "500" in caught.value.detail


def test_as_error_from_www_authenticate() -> None:
    with pytest.raises(AuthorizationServerError) as caught:
        process_token_response(httpx.Response(401, headers={
            "WWW-Authenticate": 'DPoP error="invalid_dpop_proof"'}), now=NOW)
    assert caught.value.oauth_error == "invalid_dpop_proof"


@pytest.mark.spec("RFC 9449 §8")
def test_use_dpop_nonce_body() -> None:
    """RFC 9449 §8: use_dpop_nonce is its own error so the client can retry once."""
    with pytest.raises(DPoPNonceRequired):
        process_token_response(response({"error": "use_dpop_nonce"}, 400,
                                        {"DPoP-Nonce": "n1"}), now=NOW)


@pytest.mark.spec("RFC 9449 §9")
def test_use_dpop_nonce_in_www_authenticate() -> None:
    """RFC 9449 §9: a resource-server style nonce challenge is recognised too."""
    with pytest.raises(DPoPNonceRequired):
        process_token_response(httpx.Response(401, headers={
            "WWW-Authenticate": 'DPoP error="use_dpop_nonce"', "DPoP-Nonce": "n1"}), now=NOW)


@pytest.mark.spec("RFC 6749 §5.1")
@pytest.mark.parametrize("expires_in", [10 ** 15, 10 ** 30, MAX_EXPIRES_IN + 1])
def test_absurd_expires_in_is_clamped(expires_in: int) -> None:
    """RFC 6749 §5.1: expires_in is the AS's hint; a lifetime past MAX_EXPIRES_IN (10**15 s
    would mean "never refresh") is clamped so the session still refreshes."""
    tokens = process_token_response(response(good(expires_in=expires_in)), now=NOW)
    assert tokens.expires_at == NOW + MAX_EXPIRES_IN
