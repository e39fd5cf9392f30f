"""Authorization response checks: ``state``, ``iss`` (RFC 9207 §2.4), errors (RFC 6749 §4.1.2)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from bff.errors import (
    AuthorizationErrorResponse,
    InvalidRequest,
    IssMismatch,
    IssMissing,
    StateMismatch,
)


@dataclass(frozen=True)
class AuthorizationCode:
    code: str


def check_authorization_response(params: Mapping[str, str], *, expected_state: str,
                                 issuer: str) -> AuthorizationCode:
    """Validate the parameters of a code response and return the code."""
    state = params.get("state", "")
    if not hmac.compare_digest(state.encode(), expected_state.encode()):
        raise StateMismatch("state differs from the login transaction")
    iss = params.get("iss")
    if iss is None:
        raise IssMissing("authorization response without iss")
    if iss != issuer:
        raise IssMismatch("authorization response iss differs from the issuer")
    if "error" in params:
        raise AuthorizationErrorResponse(f"authorization error {params['error'][:64]!r}")
    code = params.get("code", "")
    if not code:
        raise InvalidRequest("authorization response without code")
    return AuthorizationCode(code=code)
