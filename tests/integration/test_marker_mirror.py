"""Logout markers mirrored through Redis pub/sub: every instance sees them within the bound.

Two "instances" (their own Redis clients, breakers, mirrors and revocation checks) share one
real redis-server; what one writes, the other must honour without a store read per check.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest

from bff.config.model import StoreSettings
from bff.crypto.keys import generate_seal_jwk, seal_key_from_jwk
from bff.crypto.seal import Sealer
from bff.errors import SessionExpired
from bff.handler.backchannel import SessionRevocations
from bff.oauth.clock import system_clock
from bff.sessions.model import Session
from bff.store import keys
from bff.store.breaker import BreakerStore
from bff.store.mirror import MarkerMirror
from bff.store.redis import RedisStore
from tests.support.redis_server import RedisServer, request

pytestmark = pytest.mark.anyio

SEALER = Sealer([seal_key_from_jwk(generate_seal_jwk("k"))])
BOUND = 1.0


class CountingRedisStore(RedisStore):
    reads = 0

    async def get_many(self, names: Sequence[str]) -> list[bytes | None]:
        self.reads += 1
        return await super().get_many(names)


@dataclass
class Instance:
    store: CountingRedisStore
    mirror: MarkerMirror
    revocations: SessionRevocations

    async def close(self) -> None:
        await self.mirror.stop()
        await self.store.close()


async def instance(url: str, retry: float = 0.2) -> Instance:
    settings = StoreSettings(backend="redis", url=url, timeout=1.0)
    base = RedisStore.from_settings(settings)
    store = CountingRedisStore(base._client)  # same client options, counting reads
    mirror = MarkerMirror(store, keys.MIRRORED, staleness=BOUND, retry=retry)
    mirror.start()
    deadline = time.monotonic() + 5
    while not mirror.live:
        assert time.monotonic() < deadline, "mirror never became live"
        await asyncio.sleep(0.01)
    revocations = SessionRevocations(BreakerStore(store), system_clock, 3600, True, SEALER,
                                     mirror=mirror)
    return Instance(store, mirror, revocations)


@pytest.fixture
async def pair(redis: RedisServer) -> AsyncIterator[tuple[Instance, Instance]]:
    a, b = await instance(redis.url), await instance(redis.url)
    yield a, b
    await a.close()
    await b.close()


def session(sid: str = "as-sid", generation: int = 0) -> Session:
    now = time.time()
    return Session(session_id=secrets.token_urlsafe(32),
                   sub="alice", claims={}, dpop_jwk={}, csrf_token="c", created_at=now - 10,
                   last_seen=now, refresh_token=f"rt{generation}", as_sid=sid,
                   generation=generation)


async def seconds_until_ended(b: Instance, s: Session) -> float:
    start = time.monotonic()
    while True:
        try:
            await b.revocations.check(s)
        except SessionExpired:
            return time.monotonic() - start
        assert time.monotonic() - start < 5, "never ended"
        await asyncio.sleep(0.005)


@pytest.mark.spec("OpenID Connect Back-Channel Logout 1.0 §2.7")
async def test_backchannel_logout_reaches_every_instance_within_the_bound(
        pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    s = session(sid="sid-bcl")
    assert await b.revocations.check(s) is s
    await a.revocations.end("sid-bcl", None)
    assert await seconds_until_ended(b, s) <= BOUND
    assert b.store.reads == 0  # answered from memory throughout


async def test_logout_ends_every_copy_on_every_instance_within_the_bound(
        pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    s = session(sid="sid-logout")
    await a.revocations.end_session(s)
    assert await seconds_until_ended(b, s) <= BOUND
    assert b.store.reads == 0


async def test_a_stale_copy_is_upgraded_to_the_newest_generation(
        pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    old = session(sid="sid-gen", generation=0)
    newer = old.with_changes(generation=1, refresh_token="rt1")
    await a.revocations.record_latest(newer)
    start = time.monotonic()
    while (await b.revocations.check(old)).generation != 1:
        assert time.monotonic() - start <= BOUND
        await asyncio.sleep(0.005)


async def test_a_dropped_subscription_falls_back_to_the_store(redis: RedisServer) -> None:
    a = await instance(redis.url)
    b = await instance(redis.url, retry=30)  # no reload during the test: the fallback answers
    try:
        s = session(sid="sid-drop")
        request(redis.port, "CLIENT", "KILL", "TYPE", "pubsub")
        start = time.monotonic()
        while b.mirror.live:
            assert time.monotonic() - start < 3, "the mirror did not notice the dropped link"
            await asyncio.sleep(0.01)
        await a.revocations.end("sid-drop", None)  # announced to nobody: b is not listening
        reads = b.store.reads
        with pytest.raises(SessionExpired):
            await b.revocations.check(s)
        assert b.store.reads == reads + 1
    finally:
        await a.close()
        await b.close()


async def test_the_subscription_never_costs_a_command_its_connection(redis: RedisServer) -> None:
    """The subscription holds a pooled connection: a full burst of commands still gets one
    each (no "too many connections" from the pool)."""
    settings = StoreSettings(backend="redis", url=redis.url, timeout=1.0, max_connections=3)
    store = RedisStore.from_settings(settings)
    mirror = MarkerMirror(store, keys.MIRRORED, staleness=BOUND)
    mirror.start()
    try:
        deadline = time.monotonic() + 5
        while not mirror.live:
            assert time.monotonic() < deadline, "mirror never became live"
            await asyncio.sleep(0.01)
        names = [keys.ended_sub(f"burst-{i}") for i in range(4)]
        answers = await asyncio.gather(*[store.get_many(names) for _ in range(60)])
        assert all(a == [None] * 4 for a in answers)
    finally:
        await mirror.stop()
        await store.close()


async def test_a_hung_subscription_stops_answering_within_the_bound(redis: RedisServer) -> None:
    """Redis stops answering (CLIENT PAUSE): no heartbeat answer, so after the staleness bound
    the mirror no longer vouches for anything; it answers again once Redis does."""
    b = await instance(redis.url)
    try:
        request(redis.port, "CLIENT", "PAUSE", "1500", "ALL")
        paused = time.monotonic()
        while b.mirror.live:
            assert time.monotonic() - paused <= BOUND + 0.1, "stale mirror still answering"
            await asyncio.sleep(0.01)
        assert b.mirror.lookup([keys.ended_sub("anyone")]) is None
        while not b.mirror.live:
            assert time.monotonic() - paused < 10, "the mirror never recovered"
            await asyncio.sleep(0.01)
    finally:
        await b.close()
