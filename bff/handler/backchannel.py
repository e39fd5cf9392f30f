"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0 §2.5-§2.8).

A valid logout token ends every session of its ``sid`` (or, without one, of its ``sub``) on every
instance: the store keeps an "ended" marker for as long as such a session could live, and every
session load checks it; server-side sessions of the ``sid`` are also deleted at once.

With Redis, the markers are written and announced in one step, and each instance answers the
check from its in-memory mirror of them (``bff.store.mirror``) within the mirror's staleness
bound, or from the store while the mirror is not live.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

from bff.crypto.seal import Sealer
from bff.errors import InvalidLogoutToken, InvalidSeal, SessionExpired
from bff.oauth.client import FapiClient
from bff.oauth.clock import Clock
from bff.oauth.logout_token import acceptable_until
from bff.sessions.model import Session
from bff.sessions.stores import session_ref
from bff.store import keys
from bff.store.base import MarkerFeed, Store, StoreUnreachable
from bff.store.breaker import RateLimitedLog
from bff.store.mirror import MarkerMirror
from bff.telemetry.metrics import METRICS

log = logging.getLogger("bff.backchannel")

# counted on every skip, logged at most every few seconds: an outage must not flood the log
_SKIPPED = RateLimitedLog(log, "back-channel logout checks skipped: store unreachable",
                          "revocation_check_skipped")


class SessionRevocations:
    """Records and checks ended sessions, and the newest token generation of each session.

    One ``get_many`` per session load answers all of it: ended by the AS (``sid``/``sub``),
    ended by the user (logout, or replaced by a new login), and whether a newer generation of
    the session's tokens exists than the copy presented (a cookie that a late response rolled
    back).
    """

    def __init__(self, store: Store, clock: Clock, lifetime: int, fail_open: bool,
                 sealer: Sealer, skew: float = 60.0,
                 mirror: MarkerMirror | None = None) -> None:
        self._store = store
        self._mirror = mirror
        # markers are announced to every instance's mirror as they are written
        self._write = store.set_and_announce if isinstance(store, MarkerFeed) else store.set
        self._clock = clock
        self._lifetime = lifetime
        # cookie sessions need no store otherwise: when it is down they keep working (logged)
        self._fail_open = fail_open
        self._sealer = sealer
        self._skew = skew
        # the marker names of a session, built once: the check runs on every proxied call
        self._names: dict[tuple[str, str, str | None, str | None], list[str]] = {}

    async def _mark(self, key: str, value: bytes, ttl: float) -> None:
        """Write and announce a marker; this instance's own mirror has it at once."""
        await self._write(key, value, ttl)
        if self._mirror is not None:
            self._mirror.note(key, value, ttl)

    def _remaining(self, session: Session) -> float:
        """Until no copy of the session can be valid any more, plus clock skew."""
        return max(1.0, session.created_at + self._lifetime - self._clock() + self._skew)

    async def end(self, sid: str | None, sub: str | None, client_id: str | None = None) -> None:
        """Mark the sid (or, without one, the sub) as ended now, for one client's sessions.

        ``client_id`` None: the BFF's own client (browser sessions); else an app instance's.
        """
        now = str(self._clock()).encode()
        ttl = self._lifetime + 60
        if sid:
            await self._mark(keys.ended_sid(sid, client_id), now, ttl)
            session_key = await self._store.get(keys.sid_session(sid, client_id))
            if session_key:
                await self._store.delete(session_key.decode())
        elif sub:
            await self._mark(keys.ended_sub(sub, client_id), now, ttl)

    async def end_session(self, session: Session) -> None:
        """Mark this BFF session as ended for every copy of it, on every instance.

        Raises ``StoreUnavailable`` when the marker cannot be written: the caller must not
        report a logout that a copy of the cookie would survive.
        """
        ref = session_ref(session.session_id)
        await self._mark(keys.ended_session(ref), str(self._clock()).encode(),
                         self._remaining(session))
        # the newest generation is useless now; the marker alone keeps every copy out
        await self._store.delete(keys.session_latest(ref))

    async def record_latest(self, session: Session) -> None:
        """Keep the newest generation for the session's lifetime (called after each refresh)."""
        ref = session_ref(session.session_id)
        key = keys.session_latest(ref)
        ttl = self._remaining(session)
        sealed = self._sealer.seal(session.to_bytes(), key)
        await self._store.set(key, sealed.encode("ascii"), ttl)
        # the number last: a reader who sees it finds a state at least this new
        await self._mark(keys.session_generation(ref), str(session.generation).encode(), ttl)

    async def check(self, session: Session) -> Session:
        """The session at its newest generation; SessionExpired when it was ended."""
        names = self._names_of(session)
        try:
            found = self._mirror.lookup(names) if self._mirror is not None else None
            if found is None:
                found = await self._store.get_many(names)
            ended, generation, *backchannel = found
            if ended is not None:
                raise SessionExpired("ended by logout or by a newer login")
            if any(e is not None and float(e) >= session.created_at for e in backchannel):
                raise SessionExpired("ended by back-channel logout")
            if generation is None or int(generation) <= session.generation:
                return session
            # a copy that fell behind: rare, so the sealed state costs a second round trip
            # only here, never on the hot path
            latest_key = keys.session_latest(session_ref(session.session_id))
            return self._newest(session, await self._store.get(latest_key), latest_key)
        except StoreUnreachable:
            # only an outage fails open; a full pool or an error reply is a 503 like any other
            if not self._fail_open:
                raise
            METRICS.events.inc(event="revocation_check_skipped")
            _SKIPPED.note()
            return session

    def _names_of(self, session: Session) -> list[str]:
        """ended-session, generation, ended-sub and (with a sid) ended-sid of the session."""
        cache_key = (session.session_id, session.sub, session.as_sid, session.client_id)
        names = self._names.get(cache_key)
        if names is None:
            ref = session_ref(session.session_id)
            names = [keys.ended_session(ref), keys.session_generation(ref),
                     keys.ended_sub(session.sub, session.client_id)]
            if session.as_sid:
                names.append(keys.ended_sid(session.as_sid, session.client_id))
            if len(self._names) >= 10_000:
                self._names.pop(next(iter(self._names)))
            self._names[cache_key] = names
        return names

    def _newest(self, session: Session, latest: bytes | None, key: str) -> Session:
        if latest is None:
            return session
        try:
            newer = Session.from_bytes(self._sealer.open(latest.decode("ascii"), key))
        except (InvalidSeal, ValueError, TypeError, KeyError):
            # e.g. sealed under a key since retired: the presented copy is all there is
            log.warning("newest session generation unreadable",
                        extra={"event": "session_latest_unreadable"})
            return session
        if (newer.session_id != session.session_id or newer.created_at != session.created_at
                or newer.generation <= session.generation):
            return session
        METRICS.events.inc(event="session_generation_upgraded")
        return newer.with_changes(last_seen=max(newer.last_seen, session.last_seen))


class BackchannelLogout:
    """Receives logout tokens from the authorization server."""

    def __init__(self, client: FapiClient, store: Store, revocations: SessionRevocations,
                 clock: Clock, strict_typ: bool) -> None:
        self._client = client
        self._store = store
        self._revocations = revocations
        self._clock = clock
        self._strict_typ = strict_typ

    async def receive(self, form: Mapping[str, str], client: FapiClient | None = None) -> None:
        """Validate the ``logout_token`` and end its sessions; replays are refused.

        ``client``: an app instance's client (the token's ``aud`` must be its client id, and
        only that client's sessions end); None: the BFF's own.
        """
        token = form.get("logout_token")
        if not token:
            raise InvalidLogoutToken("no logout_token parameter")
        own = client is None
        client = client or self._client
        claims = await client.validate_logout_token(token, self._strict_typ)
        # §2.6 step 8: the jti is kept for as long as the token itself would still be accepted
        until = acceptable_until(claims, skew=self._client.settings.clock_skew)
        ttl = max(1, math.ceil(until - self._clock()) + 1)
        if not await self._store.set_if_absent(keys.logout_jti(str(claims["jti"])), b"1", ttl):
            raise InvalidLogoutToken("logout token jti replayed")
        sid = claims.get("sid") if isinstance(claims.get("sid"), str) else None
        sub = claims.get("sub") if isinstance(claims.get("sub"), str) else None
        await self._revocations.end(sid, sub, None if own else client.settings.client_id)
        log.info("back-channel logout", extra={"event": "backchannel_logout",
                                               "has_sid": sid is not None})
        METRICS.events.inc(event="backchannel_logout")
