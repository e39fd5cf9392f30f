"""The in-memory mirror of the logout markers: live only within its staleness bound."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from bff.crypto.keys import generate_seal_jwk, seal_key_from_jwk
from bff.crypto.seal import Sealer
from bff.errors import SessionExpired
from bff.handler.backchannel import SessionRevocations
from bff.oauth.clock import FrozenClock
from bff.sessions.model import Session
from bff.sessions.stores import session_ref
from bff.store import keys
from bff.store.base import MarkerEvent, StoreUnreachable
from bff.store.memory import MemoryStore
from bff.store.mirror import MarkerMirror

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0
ENDED = keys.ended_session("ref")
GENERATION = keys.session_generation("ref")


class FakeSource:
    """A subscription driven by the test: snapshot, announced writes, heartbeats, failures."""

    def __init__(self, stored: dict[str, bytes] | None = None) -> None:
        self.stored = dict(stored or {})
        self.queue: asyncio.Queue[tuple[str, str, bytes, float]] = asyncio.Queue()
        self.follows = 0
        self.ready = asyncio.Event()
        self.changed = asyncio.Condition()

    async def follow(self, prefixes: Sequence[str], on_marker: MarkerEvent,
                     on_ready: Callable[[], None], on_heard: Callable[[float], None], *,
                     heartbeat: float, clock: Callable[[], float]) -> None:
        async with self.changed:
            self.follows += 1
            self.changed.notify_all()
        for key, value in self.stored.items():
            on_marker(key, value, 3600)
        on_ready()
        self.ready.set()
        while True:
            kind, key, value, number = await self.queue.get()
            self.queue.task_done()
            if kind == "fail":
                self.ready.clear()
                raise StoreUnreachable("follow: ConnectionError")
            if kind == "heard":
                on_heard(number)
            else:
                self.stored[key] = value
                on_marker(key, value, number)

    async def settle(self) -> None:
        await self.ready.wait()
        await self.queue.join()
        await asyncio.sleep(0)

    async def followed(self, times: int) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: self.follows >= times)


async def running(source: FakeSource, clock: FrozenClock, **options: float) -> MarkerMirror:
    mirror = MarkerMirror(source, keys.MIRRORED, staleness=1.0, clock=clock, retry=0,
                          **options)  # type: ignore[arg-type]
    mirror.start()
    await source.settle()
    return mirror


async def test_not_answered_until_loaded_and_heard() -> None:
    clock = FrozenClock(T0)
    source = FakeSource({ENDED: b"1"})
    mirror = await running(source, clock)
    assert mirror.lookup([ENDED]) is None  # loaded, but no heartbeat answered yet
    source.queue.put_nowait(("heard", "", b"", clock()))
    await source.settle()
    assert mirror.lookup([ENDED, GENERATION]) == [b"1", None]
    await mirror.stop()


async def test_answers_only_within_the_staleness_bound() -> None:
    """A heartbeat answered for a ping sent at t vouches for writes announced before t only."""
    clock = FrozenClock(T0)
    source = FakeSource()
    mirror = await running(source, clock)
    source.queue.put_nowait(("heard", "", b"", clock()))
    await source.settle()
    clock.advance(1.0)
    assert mirror.lookup([ENDED]) == [None]
    clock.advance(0.01)
    assert mirror.lookup([ENDED]) is None  # the caller reads the store
    source.queue.put_nowait(("heard", "", b"", clock()))
    await source.settle()
    assert mirror.lookup([ENDED]) == [None]
    await mirror.stop()


async def test_announced_writes_apply_and_expire() -> None:
    clock = FrozenClock(T0)
    source = FakeSource()
    mirror = await running(source, clock)
    source.queue.put_nowait(("event", GENERATION, b"3", 5.0))
    source.queue.put_nowait(("event", "bff:session:not-mirrored", b"x", 5.0))
    source.queue.put_nowait(("heard", "", b"", clock()))
    await source.settle()
    assert mirror.lookup([GENERATION, "bff:session:not-mirrored"]) == [b"3", None]
    clock.advance(5.0)
    source.queue.put_nowait(("heard", "", b"", clock()))
    await source.settle()
    assert mirror.lookup([GENERATION]) == [None]
    await mirror.stop()


async def test_a_lost_subscription_falls_back_then_reloads() -> None:
    clock = FrozenClock(T0)
    source = FakeSource()
    mirror = await running(source, clock)
    source.queue.put_nowait(("heard", "", b"", clock()))
    await source.settle()
    assert mirror.live
    source.queue.put_nowait(("fail", "", b"", 0))
    await source.followed(2)
    await source.settle()
    assert not mirror.live
    assert mirror.lookup([ENDED]) is None
    # written while the subscription was down: the reload finds it
    source.stored[ENDED] = b"2"
    source.queue.put_nowait(("fail", "", b"", 0))
    await source.followed(3)
    await source.settle()
    source.queue.put_nowait(("heard", "", b"", clock()))
    await source.settle()
    assert mirror.lookup([ENDED]) == [b"2"]
    await mirror.stop()


async def test_a_full_mirror_falls_back_to_the_store() -> None:
    clock = FrozenClock(T0)
    source = FakeSource({keys.ended_sub("a"): b"1", keys.ended_sub("b"): b"1"})
    mirror = await running(source, clock, max_entries=2)
    source.queue.put_nowait(("heard", "", b"", clock()))
    await source.settle()
    assert mirror.live
    source.queue.put_nowait(("event", keys.ended_sub("c"), b"1", 60.0))
    await source.settle()
    assert not mirror.live  # reloading, and the reload cannot hold them all either
    assert mirror.lookup([keys.ended_sub("c")]) is None
    await mirror.stop()


class CountingStore(MemoryStore):
    def __init__(self, clock: FrozenClock) -> None:
        super().__init__(clock=clock)
        self.reads = 0

    async def get_many(self, names: Sequence[str]) -> list[bytes | None]:
        self.reads += 1
        return await super().get_many(names)


def _session() -> Session:
    return Session(session_id="s" * 43, sub="alice", claims={}, dpop_jwk={}, csrf_token="c",
                   created_at=T0, last_seen=T0, refresh_token="rt")


async def test_session_checks_read_the_mirror_not_the_store() -> None:
    clock = FrozenClock(T0)
    store = CountingStore(clock)
    source = FakeSource()
    mirror = await running(source, clock)
    revocations = SessionRevocations(store, clock, 3600, True,
                                     Sealer([seal_key_from_jwk(generate_seal_jwk("k"))]),
                                     mirror=mirror)
    session = _session()
    source.queue.put_nowait(("heard", "", b"", clock()))
    await source.settle()
    assert await revocations.check(session) is session
    assert store.reads == 0
    # another instance ended it: the announcement reaches the mirror
    ended = keys.ended_session(session_ref(session.session_id))
    source.queue.put_nowait(("event", ended, b"1", 60.0))
    source.queue.put_nowait(("heard", "", b"", clock()))
    await source.settle()
    with pytest.raises(SessionExpired):
        await revocations.check(session)
    assert store.reads == 0
    # stale mirror: the store is asked, as without a mirror
    clock.advance(2.0)
    assert await revocations.check(session) is session
    assert store.reads == 1
    await mirror.stop()


async def test_a_marker_written_here_is_honoured_here_at_once() -> None:
    """The writing instance does not wait for the echo of its own announcement."""
    clock = FrozenClock(T0)
    store = CountingStore(clock)
    source = FakeSource()
    mirror = await running(source, clock)
    revocations = SessionRevocations(store, clock, 3600, True,
                                     Sealer([seal_key_from_jwk(generate_seal_jwk("k"))]),
                                     mirror=mirror)
    source.queue.put_nowait(("heard", "", b"", clock()))
    await source.settle()
    session = _session()
    await revocations.end_session(session)  # the fake source never echoes it
    with pytest.raises(SessionExpired):
        await revocations.check(session)
    assert store.reads == 0
    await mirror.stop()


class StubbornSource(FakeSource):
    """A subscription that, once cancelled, waits on a close that does not end until the test
    lets it (a lock held by the cancelled read, as redis-py's pub/sub can)."""

    def __init__(self) -> None:
        super().__init__()
        self.released = asyncio.Event()

    async def follow(self, prefixes: Sequence[str], on_marker: MarkerEvent,
                     on_ready: Callable[[], None], on_heard: Callable[[float], None], *,
                     heartbeat: float, clock: Callable[[], float]) -> None:
        on_ready()
        self.ready.set()
        try:
            await asyncio.Event().wait()
        finally:
            while not self.released.is_set():
                try:
                    await self.released.wait()
                except asyncio.CancelledError:
                    continue


async def test_stopping_a_stuck_subscription_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shutdown never waits for ever on the subscription (a worker that outlived SIGTERM)."""
    monkeypatch.setattr("bff.store.mirror.STOP_WAIT", 0.2)
    source = StubbornSource()
    mirror = await running(source, FrozenClock(T0))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await mirror.stop()
    assert loop.time() - started < 1.0
    source.released.set()
    await asyncio.sleep(0.01)
