"""HTTP to the authorization server through httpx; transport failures become our errors once."""

from __future__ import annotations

import json
from typing import Any

import httpx

from bff.errors import (
    AuthorizationServerError,
    AuthorizationServerTimeout,
    AuthorizationServerUnavailable,
    DPoPNonceRequired,
)


async def send(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """Send a request to the AS, mapping transport failures to 502-class errors."""
    try:
        return await client.send(request)
    except httpx.TimeoutException as exc:
        raise AuthorizationServerTimeout(f"{request.method} {request.url.path}: timeout") from exc
    except httpx.TransportError as exc:
        raise AuthorizationServerUnavailable(
            f"{request.method} {request.url.path}: {type(exc).__name__}") from exc


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or an empty dict when it is not one."""
    try:
        data = json.loads(response.content)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def raise_for_oauth_error(response: httpx.Response, what: str) -> None:
    """Raise DPoPNonceRequired or AuthorizationServerError for an OAuth error response."""
    if response.status_code < 400:
        return
    body = json_body(response)
    error = str(body.get("error", "")) if body else ""
    www = response.headers.get("www-authenticate", "")
    if error == "use_dpop_nonce" or 'error="use_dpop_nonce"' in www:
        raise DPoPNonceRequired(f"{what}: nonce required")
    if not error and 'error="' in www:
        error = www.split('error="', 1)[1].split('"', 1)[0]
    raise AuthorizationServerError(f"{what}: HTTP {response.status_code} {error}".strip(),
                                   oauth_error=error)
