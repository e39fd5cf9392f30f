"""A stale cookie re-sealed once per burst: one seal for many calls carrying the same old cookie."""

from __future__ import annotations

import os

import pytest

from bff.crypto.seal import Sealer, SealKey
from bff.oauth.clock import FrozenClock
from bff.sessions.cookies import CookieNames
from bff.sessions.model import AccessToken
from bff.sessions.stores import RESEAL_REUSE_SECONDS, CookieSessionStore
from tests.unit.sessions.conftest import browser_jar, make_session

NAMES = CookieNames()


class CountingSealer(Sealer):
    """Counts seals and opens."""

    seals = 0
    opens = 0

    def seal(self, plaintext: bytes, name: str) -> str:
        self.seals += 1
        return super().seal(plaintext, name)

    def open(self, value: str, name: str) -> bytes:
        self.opens += 1
        return super().open(value, name)


@pytest.fixture
def counting() -> CountingSealer:
    return CountingSealer([SealKey("k1", os.urandom(32))])


@pytest.mark.anyio
async def test_burst_of_one_stale_cookie_is_sealed_once(counting: CountingSealer,
                                                        clock: FrozenClock) -> None:
    store = CookieSessionStore(counting, NAMES)
    old = make_session(clock)
    presented = browser_jar(await store.save(old, {}, 600))
    seals = counting.seals
    answers = []
    for step in range(5):
        seen = old.with_changes(last_seen=old.last_seen + 61 + step)
        answers.append(await store.save(seen, presented, 600))
    assert counting.seals == seals + 1
    assert all(a == answers[0] for a in answers)
    # what the client holds afterwards opens to the session of the first re-seal
    loaded = await store.load(browser_jar(answers[0]))
    assert loaded is not None and loaded.last_seen == old.last_seen + 61


@pytest.mark.anyio
async def test_a_changed_session_is_always_sealed_again(counting: CountingSealer,
                                                        clock: FrozenClock) -> None:
    store = CookieSessionStore(counting, NAMES)
    old = make_session(clock)
    presented = browser_jar(await store.save(old, {}, 600))
    first = await store.save(old.with_changes(last_seen=old.last_seen + 61), presented, 600)
    refreshed = old.with_changes(last_seen=old.last_seen + 62, generation=1,
                                 tokens={"": AccessToken("at-new", clock() + 600)})
    second = await store.save(refreshed, presented, 600)
    assert second != first
    loaded = await store.load(browser_jar(second))
    assert loaded is not None and loaded.generation == 1
    assert loaded.tokens[""].token == "at-new"
    # same generation, other content (e.g. an access token for another resource): sealed too
    more = old.with_changes(last_seen=old.last_seen + 63,
                            tokens={**old.tokens, "https://api/": AccessToken("at2", 1e10)})
    third = await store.save(more, presented, 600)
    loaded = await store.load(browser_jar(third))
    assert loaded is not None and "https://api/" in loaded.tokens


@pytest.mark.anyio
async def test_reuse_ends_after_its_window(counting: CountingSealer, clock: FrozenClock) -> None:
    store = CookieSessionStore(counting, NAMES)
    old = make_session(clock)
    presented = browser_jar(await store.save(old, {}, 600))
    first = await store.save(old.with_changes(last_seen=old.last_seen + 61), presented, 600)
    later = old.with_changes(last_seen=old.last_seen + 61 + RESEAL_REUSE_SECONDS + 1)
    second = await store.save(later, presented, 600)
    assert second != first
    loaded = await store.load(browser_jar(second))
    assert loaded is not None and loaded.last_seen == later.last_seen


@pytest.mark.anyio
async def test_the_value_just_sealed_loads_without_opening(counting: CountingSealer,
                                                           clock: FrozenClock) -> None:
    store = CookieSessionStore(counting, NAMES)
    session = make_session(clock)
    jar = browser_jar(await store.save(session, {}, 600))
    assert await store.load(jar) == session
    assert counting.opens == 0
