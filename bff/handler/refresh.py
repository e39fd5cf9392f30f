"""Single-flight token refresh per session, across tasks and BFF instances.

The first caller takes a lock in the shared store and refreshes; the others wait for the result,
which stays in the store (sealed) for a grace period, so callers still holding the previous
generation of a cookie session get the rotated tokens instead of a dead refresh token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bff.crypto.seal import Sealer
from bff.errors import AuthorizationServerTimeout
from bff.oauth.clock import Clock
from bff.sessions.model import Session
from bff.store import keys
from bff.store.base import Store

RefreshFn = Callable[[Session], Awaitable[Session]]
RefreshedHook = Callable[[Session], Awaitable[None]]


class SingleFlightRefresher:
    """Runs at most one refresh per session generation."""

    def __init__(self, store: Store, sealer: Sealer, clock: Clock, grace: float,
                 lock_ttl: float = 30.0, wait: float = 15.0, poll: float = 0.02,
                 on_refreshed: RefreshedHook | None = None) -> None:
        self._store = store
        self._sealer = sealer
        self._clock = clock
        self._grace = grace
        self._lock_ttl = lock_ttl
        self._wait = wait
        self._poll = poll
        self._on_refreshed = on_refreshed
        self._local: dict[tuple[str, int], asyncio.Future[Session]] = {}

    async def _result(self, key: str) -> Session | None:
        raw = await self._store.get(key)
        if raw is None:
            return None
        return Session.from_bytes(self._sealer.open(raw.decode("ascii"), key))

    async def refresh(self, session: Session, do_refresh: RefreshFn) -> Session:
        """The session after one refresh of its generation, whoever performed it."""
        local_key = (session.session_id, session.generation)
        pending = self._local.get(local_key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Session] = asyncio.get_running_loop().create_future()
        self._local[local_key] = future
        try:
            result = await self._refresh_shared(session, do_refresh)
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters may be none
            raise
        finally:
            del self._local[local_key]

    async def _refresh_shared(self, session: Session, do_refresh: RefreshFn) -> Session:
        result_key = keys.refresh_result(session.session_id, session.generation)
        done = await self._result(result_key)
        if done is not None:
            return done
        lock_key = keys.refresh_lock(session.session_id, session.generation)
        if await self._store.set_if_absent(lock_key, b"1", self._lock_ttl):
            # another holder may have finished between our first look and our lock: refreshing
            # again would spend the rotated-out refresh token, which revokes the whole grant
            done = await self._result(result_key)
            if done is not None:
                await self._store.delete(lock_key)
                return done
            try:
                fresh = await do_refresh(session)
                if self._on_refreshed is not None:
                    # before the result is published: whoever sees generation n+1 can rely on
                    # the store's newest generation being at least n+1 (writes stay monotonic)
                    await self._on_refreshed(fresh)
                sealed = self._sealer.seal(fresh.to_bytes(), result_key)
                await self._store.set(result_key, sealed.encode("ascii"), self._grace)
                return fresh
            finally:
                await self._store.delete(lock_key)
        waited = 0.0
        while waited < self._wait:
            await asyncio.sleep(self._poll)
            waited += self._poll
            done = await self._result(result_key)
            if done is not None:
                return done
            if await self._store.get(lock_key) is None:
                # the holder failed; take over instead of waiting out the lock
                return await self._refresh_shared(session, do_refresh)
        raise AuthorizationServerTimeout("another refresh of this session did not finish")
