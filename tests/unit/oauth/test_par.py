"""Pushed authorization responses (RFC 9126 §2.2) and the authorization URL (§4)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bff.errors import AuthorizationServerError, DPoPNonceRequired, InvalidPARResponse
from bff.oauth.par import build_authorization_url, process_par_response

REQUEST_URI = "urn:ietf:params:oauth:request_uri:6esc_11ACC5bwc014ltc14eY22c"


def response(body: Any, status: int = 201) -> httpx.Response:
    return httpx.Response(status, json=body)


def test_valid_response() -> None:
    par = process_par_response(response({"request_uri": REQUEST_URI, "expires_in": 60}))
    assert par.request_uri == REQUEST_URI
    assert par.expires_in == 60


@pytest.mark.spec("RFC 9126 §2.2")
def test_status_must_be_201() -> None:
    """RFC 9126 §2.2: a successful PAR answers 201 Created."""
    with pytest.raises(InvalidPARResponse, match="200"):
        process_par_response(response({"request_uri": REQUEST_URI, "expires_in": 60}, 200))


@pytest.mark.spec("RFC 9126 §2.2")
@pytest.mark.parametrize("request_uri", [None, "", 5])
def test_request_uri_required(request_uri: Any) -> None:
    """RFC 9126 §2.2: request_uri is a required string."""
    with pytest.raises(InvalidPARResponse):
        process_par_response(response({"request_uri": request_uri, "expires_in": 60}))


@pytest.mark.spec("RFC 9126 §2.2")
@pytest.mark.parametrize("expires_in", [None, 0, -1, "60", True, 1.5])
def test_expires_in_positive_integer(expires_in: Any) -> None:
    """RFC 9126 §2.2: expires_in is a required positive integer."""
    with pytest.raises(InvalidPARResponse, match="expires_in"):
        process_par_response(response({"request_uri": REQUEST_URI, "expires_in": expires_in}))


@pytest.mark.spec("RFC 9126 §2.3")
def test_error_response() -> None:
    """RFC 9126 §2.3: an OAuth error answer is an AuthorizationServerError with the AS's code."""
    with pytest.raises(AuthorizationServerError) as caught:
        process_par_response(response({"error": "invalid_request"}, 400))
    assert caught.value.oauth_error == "invalid_request"


def test_nonce_error_response() -> None:
    with pytest.raises(DPoPNonceRequired):
        process_par_response(response({"error": "use_dpop_nonce"}, 400))


@pytest.mark.spec("RFC 9126 §4")
def test_authorization_url_has_only_client_id_and_request_uri() -> None:
    """RFC 9126 §4: the front channel carries client_id and request_uri, nothing else."""
    url = build_authorization_url("https://as.example/authorize", "bff", REQUEST_URI)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://as.example/authorize"
    assert parse_qs(parts.query) == {"client_id": ["bff"], "request_uri": [REQUEST_URI]}


def test_authorization_url_keeps_an_existing_query() -> None:
    url = build_authorization_url("https://as.example/authorize?tenant=a", "bff", REQUEST_URI)
    assert parse_qs(urlsplit(url).query) == {"tenant": ["a"], "client_id": ["bff"],
                                             "request_uri": [REQUEST_URI]}
