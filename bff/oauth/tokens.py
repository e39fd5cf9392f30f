"""Token responses (RFC 6749 §5.1) for DPoP-bound tokens (RFC 9449 §5, FAPI 2.0 §5.3.2.2)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from bff.errors import BearerDowngrade, InvalidTokenResponse
from bff.oauth.http import json_body, raise_for_oauth_error

# the longest access-token lifetime believed from ``expires_in``; longer ones are refreshed
# after this anyway (FAPI 2.0 expects short-lived access tokens)
MAX_EXPIRES_IN = 3600


@dataclass(frozen=True)
class TokenSet:
    """What a token response gave; ``expires_at`` is absolute seconds."""

    access_token: str
    expires_at: float
    refresh_token: str | None
    id_token: str | None
    scope: str | None

    def __repr__(self) -> str:
        return f"TokenSet(expires_at={self.expires_at}, scope={self.scope!r}, <tokens redacted>)"


def process_token_response(response: httpx.Response, *, now: float,
                           token_type: str = "dpop") -> TokenSet:  # noqa: S107
    """Validate a token response; a Bearer token where DPoP was asked for is refused.

    ``token_type`` "bearer" is for certificate-bound tokens (RFC 8705 §3), whose binding
    is checked by the caller against its certificate.
    """
    raise_for_oauth_error(response, "token")
    body = json_body(response)
    if response.status_code != 200:
        raise InvalidTokenResponse(f"token endpoint answered HTTP {response.status_code}")
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise InvalidTokenResponse("token response without access_token")
    if str(body.get("token_type", "")).lower() != token_type:
        if token_type == "dpop":
            raise BearerDowngrade("token_type is not DPoP")
        raise InvalidTokenResponse(f"token_type is not {token_type}")
    expires_in = body.get("expires_in", 300)
    if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0:
        raise InvalidTokenResponse("expires_in is not a positive integer")
    # an absurd lifetime (10**15 s) would mean "never refresh": refreshing early is harmless
    expires_in = min(expires_in, MAX_EXPIRES_IN)
    refresh_token = body.get("refresh_token")
    id_token = body.get("id_token")
    scope = body.get("scope")
    if refresh_token is not None and not isinstance(refresh_token, str):
        raise InvalidTokenResponse("refresh_token is not a string")
    if id_token is not None and not isinstance(id_token, str):
        raise InvalidTokenResponse("id_token is not a string")
    return TokenSet(access_token=access_token, expires_at=now + expires_in,
                    refresh_token=refresh_token, id_token=id_token,
                    scope=scope if isinstance(scope, str) else None)
