"""Ended sessions and the newest token generation, answered in one store round trip."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bff.crypto.keys import generate_seal_jwk, seal_key_from_jwk
from bff.crypto.seal import Sealer
from bff.errors import SessionExpired, StoreUnavailable
from bff.handler.backchannel import SessionRevocations
from bff.handler.refresh import SingleFlightRefresher
from bff.oauth.clock import FrozenClock
from bff.sessions.model import Session
from bff.sessions.stores import session_ref
from bff.store import keys
from bff.store.base import StoreUnreachable
from bff.store.memory import MemoryStore

SEALER = Sealer([seal_key_from_jwk(generate_seal_jwk("k"))])
LIFETIME = 3600
T0 = 1_700_000_000.0


def session(generation: int = 0, last_seen: float = T0) -> Session:
    return Session(session_id="s" * 43, sub="alice", claims={}, dpop_jwk={}, csrf_token="c",
                   created_at=T0, last_seen=last_seen, refresh_token=f"rt{generation}",
                   generation=generation)


class CountingStore(MemoryStore):
    """Counts reads: the proxy's hot path may afford one round trip per request."""

    def __init__(self, clock: FrozenClock) -> None:
        super().__init__(clock=clock)
        self.reads = 0
        self.down = False
        self.pool_full = False

    async def get(self, key: str) -> bytes | None:
        self.reads += 1
        return await super().get(key)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        self.reads += 1
        if self.down:
            raise StoreUnreachable("get_many: ConnectionError")
        if self.pool_full:
            raise StoreUnavailable("get_many: no free connection within the timeout")
        return await super().get_many(keys)


def revocations(fail_open: bool = True) -> tuple[SessionRevocations, CountingStore, FrozenClock]:
    clock = FrozenClock(T0)
    store = CountingStore(clock)
    return SessionRevocations(store, clock, LIFETIME, fail_open, SEALER), store, clock


def test_check_of_an_up_to_date_copy_is_one_small_round_trip() -> None:
    """The proxy's hot path: one get_many of markers and a number, no sealed state."""
    revs, store, _ = revocations()
    with_sid = session(3).with_changes(as_sid="as-session")
    asyncio.run(revs.record_latest(session(3)))
    store.reads = 0
    assert asyncio.run(revs.check(with_sid)).generation == 3
    assert store.reads == 1


def test_a_copy_that_fell_behind_is_upgraded() -> None:
    revs, store, _ = revocations()
    asyncio.run(revs.record_latest(session(3)))
    store.reads = 0
    assert asyncio.run(revs.check(session(1))).generation == 3
    assert store.reads == 2


def test_an_ended_session_stays_ended_until_no_copy_can_be_valid() -> None:
    """The marker outlives the absolute lifetime plus skew, not a moment longer."""
    revs, store, clock = revocations()
    asyncio.run(revs.end_session(session()))
    clock.advance(LIFETIME + 59)
    with pytest.raises(SessionExpired):
        asyncio.run(revs.check(session()))
    clock.advance(2)
    assert asyncio.run(store.get(keys.ended_session(session_ref("s" * 43)))) is None


def test_an_ended_session_beats_its_newest_generation() -> None:
    revs, _, _ = revocations()
    asyncio.run(revs.record_latest(session(2)))
    asyncio.run(revs.end_session(session(2)))
    with pytest.raises(SessionExpired):
        asyncio.run(revs.check(session(1)))


def test_another_session_is_not_ended() -> None:
    revs, _, _ = revocations()
    asyncio.run(revs.end_session(session().with_changes(session_id="t" * 43)))
    assert asyncio.run(revs.check(session())).generation == 0


@given(presented=st.integers(0, 20), latest=st.integers(0, 20),
       idle=st.floats(0, 1000, allow_nan=False))
def test_check_never_returns_an_older_generation(presented: int, latest: int,
                                                 idle: float) -> None:
    """Newest generation wins; the latest use (last_seen) is kept from either copy."""
    revs, _, _ = revocations()
    asyncio.run(revs.record_latest(session(latest, last_seen=T0)))
    got = asyncio.run(revs.check(session(presented, last_seen=T0 + idle)))
    assert got.generation == max(presented, latest)
    assert got.refresh_token == f"rt{max(presented, latest)}"
    assert got.last_seen == T0 + idle


def test_an_unreadable_newest_generation_is_ignored() -> None:
    """Sealed under a retired key (or tampered with): the presented copy is used as is."""
    revs, store, _ = revocations()
    key = keys.session_latest(session_ref("s" * 43))
    other = Sealer([seal_key_from_jwk(generate_seal_jwk("other"))])
    asyncio.run(store.set(key, other.seal(session(5).to_bytes(), key).encode(), 60))
    asyncio.run(store.set(keys.session_generation(session_ref("s" * 43)), b"5", 60))
    assert asyncio.run(revs.check(session(1))).generation == 1


def test_store_down_fails_open_only_for_cookie_sessions() -> None:
    revs, store, _ = revocations(fail_open=True)
    store.down = True
    assert asyncio.run(revs.check(session())).generation == 0
    revs, store, _ = revocations(fail_open=False)
    store.down = True
    with pytest.raises(StoreUnavailable):
        asyncio.run(revs.check(session()))


def test_a_store_that_answers_slowly_never_skips_the_check() -> None:
    """Only an unreachable store fails open: a full pool is a 503, not a skipped check."""
    revs, store, _ = revocations(fail_open=True)
    store.pool_full = True
    with pytest.raises(StoreUnavailable):
        asyncio.run(revs.check(session()))


class OrderedWrites(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self.order.append(key)
        await super().set(key, value, ttl)


def test_the_newest_generation_is_recorded_before_the_refresh_result_is_published() -> None:
    """Whoever sees generation n+1 finds the store's newest at n+1 or later (monotonic)."""
    store = OrderedWrites()
    clock = FrozenClock(T0)
    revs = SessionRevocations(store, clock, LIFETIME, True, SEALER)
    refresher = SingleFlightRefresher(store, SEALER, clock, grace=60,
                                      on_refreshed=revs.record_latest)

    async def refresh(old: Session) -> Session:
        return session(old.generation + 1)

    asyncio.run(refresher.refresh(session(0), refresh))
    ref = session_ref("s" * 43)
    assert store.order == [keys.session_latest(ref), keys.session_generation(ref),
                           keys.refresh_result("s" * 43, 0)]


@pytest.mark.spec("OpenID Connect Back-Channel Logout 1.0 §2.7")
@pytest.mark.parametrize("by", ["sid", "sub"])
def test_a_logout_ends_only_the_sessions_of_its_own_client(by: str) -> None:
    """An app instance's logout token never ends the browser's or another instance's session."""
    clock = FrozenClock(T0 + 10)
    revocations = SessionRevocations(MemoryStore(clock), clock, LIFETIME, fail_open=False,
                                     sealer=SEALER)
    browser = session().with_changes(as_sid="as-1")
    one = session().with_changes(session_id="o" * 43, as_sid="as-1", client_id="client-1",
                                 instance="jkt-1")
    two = session().with_changes(session_id="t" * 43, as_sid="as-1", client_id="client-2",
                                 instance="jkt-2")
    sid, sub = ("as-1", None) if by == "sid" else (None, "alice")
    asyncio.run(revocations.end(sid, sub, "client-1"))
    with pytest.raises(SessionExpired):
        asyncio.run(revocations.check(one))
    assert asyncio.run(revocations.check(two)) == two
    assert asyncio.run(revocations.check(browser)) == browser
    asyncio.run(revocations.end(sid, sub))
    with pytest.raises(SessionExpired):
        asyncio.run(revocations.check(browser))
    assert asyncio.run(revocations.check(two)) == two
