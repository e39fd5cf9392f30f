"""One-purpose access tokens (RFC 9396): a payment approval kept apart from the session's
general API tokens, used once, then gone.

Such a token lives in the session under a key no resource URI can take (``<`` never appears
in a URI, RFC 3986 §2), so the general token lookup and refresh never find it, and the proxy
uses it only when a call names its purpose id.
"""

from __future__ import annotations

import re
import secrets
from typing import Final

from bff.errors import AuthorizationMissing, MalformedBody
from bff.handler.service import ActiveSession, SessionService
from bff.sessions.model import AccessToken

_PREFIX: Final = "<purpose>"
_ID: Final = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# at most this many approvals waiting in one session (each one is a whole access token)
MAX_WAITING: Final = 3


def new_purpose_id() -> str:
    """A fresh, unguessable purpose id."""
    return secrets.token_urlsafe(16)


def purpose_key(purpose_id: str) -> str:
    """The session's token key of a purpose id."""
    return _PREFIX + purpose_id


def is_purpose_key(key: str) -> bool:
    """True for a one-purpose token's key."""
    return key.startswith(_PREFIX)


def check_purpose_id(value: object) -> str:
    """A purpose id as a caller sends it back."""
    if not isinstance(value, str) or not _ID.match(value):
        raise MalformedBody("malformed purpose id")
    return value


def with_purpose_token(tokens: dict[str, AccessToken], purpose_id: str,
                       token: AccessToken) -> dict[str, AccessToken]:
    """``tokens`` plus a new one-purpose token, dropping the oldest beyond MAX_WAITING."""
    waiting = sorted((k for k in tokens if is_purpose_key(k)), key=lambda k: tokens[k].expires_at)
    kept = {k: v for k, v in tokens.items()
            if not is_purpose_key(k) or k in waiting[-(MAX_WAITING - 1):]}
    return {**kept, purpose_key(purpose_id): token}


async def take_purpose_token(service: SessionService, active: ActiveSession,
                             purpose_id: str) -> AccessToken:
    """Remove the token of ``purpose_id`` from the session, then give it (used at most once).

    It leaves the stored session before the call goes out: a second call naming the same id
    finds nothing, even while the first is still in flight.
    """
    key = purpose_key(check_purpose_id(purpose_id))
    session = active.session
    token = session.tokens.get(key)
    if token is None:
        raise AuthorizationMissing("no token for this purpose id")
    rest = {k: v for k, v in session.tokens.items() if k != key}
    changed = session.with_changes(tokens=rest)
    await active.persist(changed, service.ttl(changed))
    if token.expires_at <= service.clock():
        raise AuthorizationMissing("the token for this purpose id has expired")
    return token
