"""Authorization response checks: ``state``, ``iss`` (RFC 9207 §2.4), errors (RFC 6749 §4.1.2)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from bff.errors import (
    AuthorizationErrorResponse,
    InvalidRequest,
    IssMismatch,
    IssMissing,
    StateMismatch,
)

# the parameters of an authorization response (RFC 6749 §4.1.2, §4.1.2.1, RFC 9207 §2, JARM §4.1)
PROTOCOL_PARAMS = frozenset({"code", "state", "iss", "error", "error_description", "error_uri",
                             "response"})
# what a JWT-secured response carries inside its JWT, so never beside it (JARM §4.1)
_JARM_INNER = frozenset({"code", "state", "iss", "error", "error_description", "error_uri"})


def parse_authorization_response(query: str) -> dict[str, str]:
    """The protocol parameters of a redirect's query; duplicates and mixtures are refused.

    RFC 6749 §3.1: parameters must not be repeated. "Last wins" would let an injected second
    ``iss`` or ``state`` win; a JARM ``response`` next to plain parameters is a mixture whose
    plain half nobody signed. The page's own parameters (not protocol ones) are ignored.
    """
    seen: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in PROTOCOL_PARAMS:
            continue
        if name in seen:
            raise InvalidRequest(f"authorization response repeats {name}")
        seen[name] = value
    if "response" in seen and _JARM_INNER & seen.keys():
        raise InvalidRequest("JWT-secured response mixed with plain parameters")
    return seen


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
