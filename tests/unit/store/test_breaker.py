"""The store's circuit breaker and rate-limited log, with an injected clock (issue item 21)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from bff.errors import StoreUnavailable
from bff.store.base import StoreUnreachable
from bff.store.breaker import BreakerStore, RateLimitedLog
from bff.store.memory import MemoryStore

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FlakyStore(MemoryStore):
    """A memory store that can be made unreachable (or erring), counting the calls that reach it."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.error: StoreUnavailable | None = None
        self.reached = 0
        self.gate: asyncio.Event | None = None

    async def _enter(self, op: str) -> None:
        self.reached += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise StoreUnreachable(f"{op}: ConnectionError")
        if self.error is not None:
            raise self.error

    async def get(self, key: str) -> bytes | None:
        await self._enter("get")
        return await super().get(key)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        await self._enter("get_many")
        return await super().get_many(keys)

    async def ping(self) -> None:
        await self._enter("ping")


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == name]


async def test_open_breaker_refuses_without_reaching_the_store_then_probes_once(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock, inner = Clock(), FlakyStore()
    store = BreakerStore(inner, cooldown=1.0, report_every=10.0, clock=clock)
    inner.down = True
    with pytest.raises(StoreUnreachable):
        await store.get("k")
    assert inner.reached == 1 and store.is_open
    for _ in range(50):
        with pytest.raises(StoreUnreachable) as caught:
            await store.get_many(["k"])
        assert str(caught.value) == "get_many: circuit open"
    assert inner.reached == 1, "refused calls never reach the store"
    clock.now += 1.0
    with pytest.raises(StoreUnreachable):
        await store.get("k")  # the probe: still down, open for another cooldown
    assert inner.reached == 2
    with pytest.raises(StoreUnreachable):
        await store.get("k")
    assert inner.reached == 2
    inner.down = False
    clock.now += 1.0
    assert await store.get("k") is None
    assert not store.is_open
    assert await store.get("k") is None
    assert inner.reached == 4
    assert len(events(caplog, "store_unreachable")) == 1
    back = events(caplog, "store_reachable")
    assert len(back) == 1 and back[0].refused == 51


async def test_one_probe_at_a_time() -> None:
    """While the probe is in flight, other calls are still refused (no thundering herd)."""
    clock, inner = Clock(), FlakyStore()
    store = BreakerStore(inner, cooldown=1.0, clock=clock)
    inner.down = True
    with pytest.raises(StoreUnreachable):
        await store.get("k")
    clock.now += 1.5
    inner.down, inner.gate = False, asyncio.Event()
    probe = asyncio.create_task(store.get("k"))
    await asyncio.sleep(0)
    for _ in range(10):
        with pytest.raises(StoreUnreachable):
            await store.get("k")
    inner.gate.set()
    assert await probe is None
    assert inner.reached == 2
    assert await store.get("k") is None


async def test_still_unreachable_is_a_rate_limited_count(
        caplog: pytest.LogCaptureFixture) -> None:
    """One line per state change, plus one count line per report period, never one per call."""
    caplog.set_level(logging.INFO)
    clock, inner = Clock(), FlakyStore()
    store = BreakerStore(inner, cooldown=100.0, report_every=10.0, clock=clock)
    inner.down = True
    with pytest.raises(StoreUnreachable):
        await store.get("k")
    for _ in range(300):  # 30 s of calls at 10 per second
        clock.now += 0.1
        with pytest.raises(StoreUnreachable):
            await store.get("k")
    counts = events(caplog, "store_still_unreachable")
    # opened at 0 s: one count line at about 10 s and 20 s, each covering ~100 refused calls
    assert len(counts) == 2
    assert all(99 <= r.count <= 101 for r in counts)  # type: ignore[attr-defined]
    assert len(events(caplog, "store_unreachable")) == 1


async def test_errors_other_than_unreachable_do_not_open_the_breaker() -> None:
    """A full pool or an error reply is a 503 for that call, but the store is there."""
    clock, inner = Clock(), FlakyStore()
    store = BreakerStore(inner, cooldown=1.0, clock=clock)
    inner.error = StoreUnavailable("get: no free connection within the timeout")
    for _ in range(3):
        with pytest.raises(StoreUnavailable) as caught:
            await store.get("k")
        assert not isinstance(caught.value, StoreUnreachable)
    assert not store.is_open and inner.reached == 3


async def test_ping_always_asks_the_store_and_closes_the_breaker() -> None:
    """Readiness tells the truth at once: ping bypasses the open breaker."""
    clock, inner = Clock(), FlakyStore()
    store = BreakerStore(inner, cooldown=60.0, clock=clock)
    inner.down = True
    with pytest.raises(StoreUnreachable):
        await store.ping()
    assert store.is_open
    inner.down = False
    await store.ping()
    assert not store.is_open
    assert await store.get("k") is None


def test_rate_limited_log_counts_between_lines(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    limited = RateLimitedLog(logging.getLogger("t"), "skipped", "skip", every=5.0, clock=clock)
    for _ in range(12):
        limited.note()
        clock.now += 1.0
    lines = events(caplog, "skip")
    assert [r.count for r in lines] == [1, 5, 5]  # type: ignore[attr-defined]
