"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0 §2.5-§2.8).

A valid logout token ends every session of its ``sid`` (or, without one, of its ``sub``) on every
instance: the store keeps an "ended" marker for as long as such a session could live, and every
session load checks it; server-side sessions of the ``sid`` are also deleted at once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

from bff.errors import InvalidLogoutToken, SessionExpired
from bff.oauth.client import FapiClient
from bff.oauth.clock import Clock
from bff.sessions.model import Session
from bff.store import keys
from bff.store.base import Store, StoreUnreachable
from bff.store.breaker import RateLimitedLog
from bff.telemetry.metrics import METRICS

log = logging.getLogger("bff.backchannel")

# counted on every skip, logged at most every few seconds: an outage must not flood the log
_SKIPPED = RateLimitedLog(log, "back-channel logout checks skipped: store unreachable",
                          "revocation_check_skipped")


class SessionRevocations:
    """Records and checks sessions ended by the authorization server."""

    def __init__(self, store: Store, clock: Clock, lifetime: int, fail_open: bool) -> None:
        self._store = store
        self._clock = clock
        self._lifetime = lifetime
        # cookie sessions need no store otherwise: when it is down they keep working (logged)
        self._fail_open = fail_open

    async def end(self, sid: str | None, sub: str | None) -> None:
        """Mark the sid (or, without one, the sub) as ended now."""
        now = str(self._clock()).encode()
        ttl = self._lifetime + 60
        if sid:
            await self._store.set(keys.ended_sid(sid), now, ttl)
            session_key = await self._store.get(keys.sid_session(sid))
            if session_key:
                await self._store.delete(session_key.decode())
        elif sub:
            await self._store.set(keys.ended_sub(sub), now, ttl)

    async def check(self, session: Session) -> None:
        """Raise SessionExpired when the AS ended this session after it began."""
        names = [keys.ended_sub(session.sub)]
        if session.as_sid:
            names.append(keys.ended_sid(session.as_sid))
        try:
            found = await self._store.get_many(names)
        except StoreUnreachable:
            # only an outage fails open; a full pool or an error reply is a 503 like any other
            if not self._fail_open:
                raise
            METRICS.events.inc(event="revocation_check_skipped")
            _SKIPPED.note()
            return
        if any(e is not None and float(e) >= session.created_at for e in found):
            raise SessionExpired("ended by back-channel logout")


class BackchannelLogout:
    """Receives logout tokens from the authorization server."""

    def __init__(self, client: FapiClient, store: Store, revocations: SessionRevocations,
                 clock: Clock, strict_typ: bool) -> None:
        self._client = client
        self._store = store
        self._revocations = revocations
        self._clock = clock
        self._strict_typ = strict_typ

    async def receive(self, form: Mapping[str, str]) -> None:
        """Validate the ``logout_token`` and end its sessions; replays are refused."""
        token = form.get("logout_token")
        if not token:
            raise InvalidLogoutToken("no logout_token parameter")
        claims = await self._client.validate_logout_token(token, self._strict_typ)
        now = self._clock()
        exp = claims.get("exp")
        ttl = max(60.0, (float(exp) - now) if isinstance(exp, int | float) else 0.0) + 120
        if not await self._store.set_if_absent(keys.logout_jti(str(claims["jti"])), b"1",
                                               math.ceil(ttl)):
            raise InvalidLogoutToken("logout token jti replayed")
        sid = claims.get("sid") if isinstance(claims.get("sid"), str) else None
        sub = claims.get("sub") if isinstance(claims.get("sub"), str) else None
        await self._revocations.end(sid, sub)
        log.info("back-channel logout", extra={"event": "backchannel_logout",
                                               "has_sid": sid is not None})
        METRICS.events.inc(event="backchannel_logout")
