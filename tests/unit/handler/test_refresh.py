"""Single-flight refresh: one refresh per session generation, whoever performs it."""

from __future__ import annotations

import asyncio

import pytest

from bff.crypto.keys import generate_seal_jwk, seal_key_from_jwk
from bff.crypto.seal import Sealer
from bff.handler.refresh import SingleFlightRefresher
from bff.oauth.clock import FrozenClock
from bff.sessions.model import Session
from bff.store import keys
from bff.store.memory import MemoryStore

SEALER = Sealer([seal_key_from_jwk(generate_seal_jwk("k"))])


def session(generation: int = 0) -> Session:
    return Session(session_id="s" * 43, sub="alice", claims={}, dpop_jwk={}, csrf_token="c",
                   created_at=0, last_seen=0, refresh_token=f"rt{generation}",
                   generation=generation)


class FinishesElsewhere(MemoryStore):
    """Another instance stores its result just before this one takes the lock."""

    async def set_if_absent(self, key: str, value: bytes, ttl: float) -> bool:
        if key == keys.refresh_lock("s" * 43, 0):
            result_key = keys.refresh_result("s" * 43, 0)
            sealed = SEALER.seal(session(1).to_bytes(), result_key)
            await self.set(result_key, sealed.encode(), 60)
        return await super().set_if_absent(key, value, ttl)


class CountingRefresh:
    """A refresh that returns the next generation and counts how often it ran."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls = 0
        self.delay = delay

    async def __call__(self, old: Session) -> Session:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return session(old.generation + 1)


@pytest.mark.anyio
async def test_concurrent_callers_share_one_refresh() -> None:
    refresh = CountingRefresh(delay=0.01)
    refresher = SingleFlightRefresher(MemoryStore(), SEALER, FrozenClock(), grace=60)
    results = await asyncio.gather(*[refresher.refresh(session(), refresh) for _ in range(20)])
    assert refresh.calls == 1
    assert {r.refresh_token for r in results} == {"rt1"}


@pytest.mark.anyio
async def test_result_that_lands_before_the_lock_is_used_not_refreshed_again() -> None:
    """A refresh finished elsewhere between our look and our lock must not be repeated:
    the rotated-out refresh token would be spent twice (RFC 9700 §4.14.2 replay detection)."""
    refresh = CountingRefresh()
    store = FinishesElsewhere()
    refresher = SingleFlightRefresher(store, SEALER, FrozenClock(), grace=60)
    result = await refresher.refresh(session(), refresh)
    assert refresh.calls == 0
    assert result.refresh_token == "rt1"
    assert await store.get(keys.refresh_lock("s" * 43, 0)) is None


@pytest.mark.anyio
async def test_late_caller_with_the_old_generation_gets_the_stored_result() -> None:
    refresh = CountingRefresh()
    refresher = SingleFlightRefresher(MemoryStore(), SEALER, FrozenClock(), grace=60)
    first = await refresher.refresh(session(), refresh)
    late = await refresher.refresh(session(), refresh)
    assert refresh.calls == 1 and late == first


@pytest.mark.anyio
async def test_failed_refresh_releases_the_lock_for_the_next_caller() -> None:
    async def broken(old: Session) -> Session:
        raise RuntimeError("AS down")

    refresher = SingleFlightRefresher(MemoryStore(), SEALER, FrozenClock(), grace=60)
    with pytest.raises(RuntimeError):
        await refresher.refresh(session(), broken)
    assert (await refresher.refresh(session(), CountingRefresh())).refresh_token == "rt1"
