"""Step-up (RFC 9470) and payment-approval (RFC 9396) logins that continue a session.

``login/start`` may ask for ``acrValues``, ``maxAge`` and ``authorizationDetails``; this module
turns them into authorization parameters, and at ``login/end`` decides what the new tokens do
to the session the login started from: a step-up replaces its tokens and claims but keeps the
session id and its CSRF token; a payment approval adds one one-purpose token and changes
nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from bff.config.model import OAuthSettings
from bff.errors import AcrNotSatisfied, LoginFailed, MalformedBody
from bff.handler.authorization_details import check_authorization_details
from bff.handler.purpose import is_purpose_key, with_purpose_token
from bff.handler.service import DEFAULT_RESOURCE
from bff.oauth.tokens import TokenSet
from bff.sessions.model import AccessToken, LoginTransaction, Session

_ACR: Final = re.compile(r"^[A-Za-z0-9:/._~%+@-]{1,200}$")
# only the validated ID token may say how the user signed in (OIDC Core §2), never userinfo
ID_TOKEN_ONLY: Final = frozenset({"acr", "amr", "auth_time"})


def login_parameters(body: Mapping[str, Any], extra: dict[str, str],
                     oauth: OAuthSettings) -> dict[str, str]:
    """``extra`` with ``acrValues``/``maxAge``/``authorizationDetails`` of the body added, and
    any ``authorization_details`` (from either place) checked against the configured types."""
    params = dict(extra)
    acr = body.get("acrValues")
    if acr is not None:
        values = acr.split() if isinstance(acr, str) else acr
        if not isinstance(values, list) or not 1 <= len(values) <= 10 or not all(
                isinstance(v, str) and _ACR.match(v) for v in values):
            raise MalformedBody("acrValues must be a list of ACR names")
        params["acr_values"] = " ".join(values)
    max_age = body.get("maxAge")
    if max_age is not None:
        if not isinstance(max_age, int) or isinstance(max_age, bool) or not (
                0 <= max_age < 10**9):
            raise MalformedBody("maxAge must be a non-negative integer")
        params["max_age"] = str(max_age)
    details = body.get("authorizationDetails")
    if details is not None:
        params["authorization_details"] = details
    if "authorization_details" in params:
        params["authorization_details"] = check_authorization_details(
            params["authorization_details"], oauth.authorization_details_types,
            oauth.authorization_details_max_bytes)
    return params


def is_step_up(params: Mapping[str, str]) -> bool:
    """A login that continues the caller's session rather than starting a new one."""
    return bool({"acr_values", "max_age", "authorization_details"} & params.keys())


def check_acr(txn: LoginTransaction, claims: Mapping[str, Any]) -> None:
    """The ID token's ``acr`` is one the login asked for (else the API would ask again)."""
    if txn.acr_values and claims.get("acr") not in txn.acr_values.split():
        raise AcrNotSatisfied("the ID token's acr is not one of the requested acr_values")


def continued(session: Session, txn: LoginTransaction, tokens: TokenSet,
              claims: dict[str, Any], kept: dict[str, Any], now: float) -> Session:
    """The session after a step-up or payment approval by the same user."""
    if session.sub != str(claims["sub"]):
        raise LoginFailed("another user signed in to approve")
    if txn.purpose_id is not None:
        # the approval's token, bound to the session's own DPoP key, and nothing else
        return session.with_changes(tokens=with_purpose_token(
            session.tokens, txn.purpose_id,
            AccessToken(tokens.access_token, tokens.expires_at)), last_seen=now)
    # waiting approvals stay when they are still bound to the key the session keeps
    waiting = {k: v for k, v in session.tokens.items()
               if is_purpose_key(k) and txn.dpop_jwk == session.dpop_jwk}
    return session.with_changes(
        claims=kept, dpop_jwk=txn.dpop_jwk, refresh_token=tokens.refresh_token,
        tokens={**waiting, DEFAULT_RESOURCE: AccessToken(tokens.access_token, tokens.expires_at)},
        as_sid=claims.get("sid") if isinstance(claims.get("sid"), str) else session.as_sid,
        last_seen=now, generation=session.generation + 1)
