"""Dynamic client registration (RFC 7591) and its management (RFC 7592) for app instances."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from bff.errors import AuthorizationServerError, ProtocolViolation
from bff.oauth.http import json_body, raise_for_oauth_error, send


@dataclass(frozen=True)
class Registration:
    """What the AS answered for one registered client (RFC 7591 §3.2.1, RFC 7592 §3)."""

    client_id: str
    registration_access_token: str
    registration_client_uri: str

    def __repr__(self) -> str:
        return f"Registration(client_id={self.client_id!r}, <token redacted>)"


def instance_metadata(public_jwk: Mapping[str, Any], redirect_uri: str, scope: str,
                      alg: str, software_id: str,
                      backchannel_logout_uri: str | None = None) -> dict[str, Any]:
    """The client metadata of one app instance: private_key_jwt, DPoP-bound, code + refresh."""
    extra: dict[str, Any] = {}
    if backchannel_logout_uri:
        # OIDC Back-Channel Logout 1.0 §2.2: the AS ends this client's sessions by sid
        extra = {"backchannel_logout_uri": backchannel_logout_uri,
                 "backchannel_logout_session_required": True}
    return {**extra,
        "redirect_uris": [redirect_uri],
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": alg,
        "jwks": {"keys": [dict(public_jwk)]},
        "dpop_bound_access_tokens": True,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": scope,
        "software_id": software_id,
    }


def process_registration_response(response: httpx.Response) -> Registration:
    """RFC 7591 §3.2: a 201 with client_id; RFC 7592 §3: the management token and URI."""
    raise_for_oauth_error(response, "registration")
    body = json_body(response)
    if response.status_code != 201:
        raise ProtocolViolation(f"registration: HTTP {response.status_code}")
    fields = ("client_id", "registration_access_token", "registration_client_uri")
    if not all(isinstance(body.get(f), str) and body.get(f) for f in fields):
        raise ProtocolViolation("registration response without client_id or management token")
    return Registration(body["client_id"], body["registration_access_token"],
                        body["registration_client_uri"])


async def register_client(http: httpx.AsyncClient, endpoint: str, initial_access_token: str,
                          metadata: Mapping[str, Any]) -> Registration:
    """Register a client with the initial access token (RFC 7591 §3.1)."""
    request = http.build_request("POST", endpoint, content=json.dumps(metadata), headers={
        "Content-Type": "application/json", "Accept": "application/json",
        "Authorization": f"Bearer {initial_access_token}"})
    return process_registration_response(await send(http, request))


async def delete_client(http: httpx.AsyncClient, registration: Registration) -> None:
    """Delete the client at the AS (RFC 7592 §2.3); an already-deleted client counts as done."""
    request = http.build_request("DELETE", registration.registration_client_uri, headers={
        "Authorization": f"Bearer {registration.registration_access_token}"})
    response = await send(http, request)
    if response.status_code in (204, 200):
        return
    if response.status_code == 401 and "invalid_token" in response.text:
        # RFC 7592 §2.3: the AS may answer 401 once the client (and its token) is gone
        return
    raise AuthorizationServerError(f"registration delete: HTTP {response.status_code}",
                                   oauth_error=str(json_body(response).get("error", "")))
