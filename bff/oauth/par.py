"""Pushed authorization requests (RFC 9126 §2) and the front-channel URL they lead to."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from bff.errors import InvalidPARResponse
from bff.oauth.http import json_body, raise_for_oauth_error


@dataclass(frozen=True)
class PARResult:
    request_uri: str
    expires_in: int


def process_par_response(response: httpx.Response) -> PARResult:
    """Validate the PAR response: 201 with ``request_uri`` and ``expires_in`` (RFC 9126 §2.2)."""
    raise_for_oauth_error(response, "par")
    body = json_body(response)
    request_uri = body.get("request_uri")
    expires_in = body.get("expires_in")
    if response.status_code != 201 or not isinstance(request_uri, str) or not request_uri:
        raise InvalidPARResponse(f"PAR answered HTTP {response.status_code} without request_uri")
    if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0:
        raise InvalidPARResponse("PAR response lacks a positive expires_in")
    return PARResult(request_uri=request_uri, expires_in=expires_in)


def build_authorization_url(authorization_endpoint: str, client_id: str, request_uri: str) -> str:
    """The URL the browser goes to: only ``client_id`` and ``request_uri`` (RFC 9126 §4)."""
    sep = "&" if "?" in authorization_endpoint else "?"
    return authorization_endpoint + sep + urlencode({"client_id": client_id,
                                                     "request_uri": request_uri})
