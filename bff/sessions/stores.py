"""Where sessions live: sealed in cookies (stateless) or in the shared store behind an opaque id."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from typing import Protocol, TypeVar

from bff.crypto.seal import Sealer, b64url_encode
from bff.errors import InvalidSeal
from bff.sessions.cookies import CookieNames, SetCookie, clear_session, join_value, split_value
from bff.sessions.model import Session
from bff.store import keys
from bff.store.base import Store

_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")
# How long the cookies re-sealed for one presented cookie are answered again, unchanged, when
# the same cookie asks for the same change (only ``last_seen`` newer): a burst of calls that
# all carry one old cookie (or a client that ignores Set-Cookie) pays one seal, not one each.
RESEAL_REUSE_SECONDS = 10.0

K = TypeVar("K")
V = TypeVar("V")


def session_ref(session_id: str) -> str:
    """The store's name for a session: a hash, so a store dump yields no usable cookie value."""
    return b64url_encode(hashlib.sha256(session_id.encode()).digest())


class SessionStore(Protocol):
    """Loads and saves the session of one request."""

    kind: str

    async def load(self, cookies: Mapping[str, str]) -> Session | None:
        """The session, or None; a tampered or foreign cookie raises ``InvalidSeal``."""

    async def save(self, session: Session, cookies: Mapping[str, str],
                   ttl: float) -> list[SetCookie]:
        """Persist the session; returns the cookies to set."""

    async def delete(self, session: Session | None,
                     cookies: Mapping[str, str]) -> list[SetCookie]:
        """End the session; returns the cookies that clear it."""


class CookieSessionStore:
    """The whole session sealed into chunked ``__Host-`` cookies."""

    kind = "cookie"

    def __init__(self, sealer: Sealer, names: CookieNames, cache_size: int = 10_000) -> None:
        self._sealer = sealer
        self._names = names
        # opened sessions by exact sealed value: the proxy's hot path skips AES and JSON for a
        # cookie it has already authenticated; lifetimes are still checked on every call
        self._opened: dict[str, Session] = {}
        self._cache_size = cache_size
        self._resealed: dict[str, tuple[Session, list[SetCookie]]] = {}

    async def load(self, cookies: Mapping[str, str]) -> Session | None:
        value = join_value(self._names, cookies)
        if value is None:
            if self._names.session in cookies:
                raise InvalidSeal("incomplete session cookie")
            return None
        cached = self._opened.get(value)
        if cached is not None:
            return cached
        raw = self._sealer.open(value, self._names.session)
        try:
            session = Session.from_bytes(raw)
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidSeal("session payload unreadable") from exc
        if len(self._opened) >= self._cache_size:
            self._opened.pop(next(iter(self._opened)))
        self._opened[value] = session
        return session

    async def save(self, session: Session, cookies: Mapping[str, str],
                   ttl: float) -> list[SetCookie]:
        presented = join_value(self._names, cookies)
        if presented is not None:
            earlier = self._resealed.get(presented)
            if earlier is not None and _only_seen_later(earlier[0], session):
                return earlier[1]
        sealed = self._sealer.seal(session.to_bytes(), self._names.session)
        out = split_value(self._names, sealed, max(1, math.ceil(ttl)), cookies)
        # the client sends the new value next: it is known good, no need to open it again
        _remember(self._opened, sealed, session, self._cache_size)
        if presented is not None:
            _remember(self._resealed, presented, (session, out), self._cache_size)
        return out

    async def delete(self, session: Session | None,
                     cookies: Mapping[str, str]) -> list[SetCookie]:
        return clear_session(self._names, cookies)


def _only_seen_later(earlier: Session, session: Session) -> bool:
    """``session`` is ``earlier`` seen again within the reuse window, nothing else changed."""
    return (0 <= session.last_seen - earlier.last_seen <= RESEAL_REUSE_SECONDS
            and session.generation == earlier.generation
            and session.with_changes(last_seen=earlier.last_seen) == earlier)


def _remember(cache: dict[K, V], key: K, value: V, size: int) -> None:
    if len(cache) >= size:
        cache.pop(next(iter(cache)))
    cache[key] = value


class ServerSessionStore:
    """The cookie holds a random 256-bit id; the session lives sealed in the store."""

    kind = "server"

    def __init__(self, sealer: Sealer, names: CookieNames, store: Store) -> None:
        self._sealer = sealer
        self._names = names
        self._store = store

    @staticmethod
    def _key(session_id: str) -> str:
        return keys.session(session_ref(session_id))

    async def load(self, cookies: Mapping[str, str]) -> Session | None:
        session_id = cookies.get(self._names.session)
        if session_id is None:
            return None
        if not _SESSION_ID.fullmatch(session_id):
            raise InvalidSeal("malformed session id")
        key = self._key(session_id)
        raw = await self._store.get(key)
        if raw is None:
            return None
        session = Session.from_bytes(self._sealer.open(raw.decode("ascii"), key))
        if session.session_id != session_id:
            raise InvalidSeal("session id mismatch")
        return session

    async def save(self, session: Session, cookies: Mapping[str, str],
                   ttl: float) -> list[SetCookie]:
        key = self._key(session.session_id)
        sealed = self._sealer.seal(session.to_bytes(), key)
        await self._store.set(key, sealed.encode("ascii"), max(1.0, ttl))
        if session.as_sid:
            # lets a back-channel logout for this AS session delete it at once
            await self._store.set(keys.sid_session(session.as_sid, session.client_id),
                                  key.encode(), max(1.0, ttl))
        out = [SetCookie(self._names.session, session.session_id, max(1, math.ceil(ttl)),
                         self._names.secure)]
        out += [c for c in clear_session(self._names, cookies)[1:]]
        return out

    async def delete(self, session: Session | None,
                     cookies: Mapping[str, str]) -> list[SetCookie]:
        session_id = cookies.get(self._names.session)
        if session is not None:
            session_id = session.session_id
        if session_id and _SESSION_ID.fullmatch(session_id):
            await self._store.delete(self._key(session_id))
        return clear_session(self._names, cookies)
