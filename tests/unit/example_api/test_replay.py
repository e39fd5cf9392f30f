"""The example API's jti replay cache (RFC 9449 §11.1)."""

from __future__ import annotations

import pytest
from example_api.replay import ReplayCache, ReplayError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.spec("RFC 9449 §11.1")
def test_replay_refused_until_expiry_then_forgotten() -> None:
    """A jti is refused while its proof could still be accepted, and forgotten after."""
    clock = Clock()
    cache = ReplayCache(clock=clock)
    cache.remember("a", 1010)
    with pytest.raises(ReplayError):
        cache.remember("a", 1010)
    clock.now = 1011
    cache.remember("b", 1020)
    assert len(cache) == 1, "the expired jti was dropped"
    cache.remember("a", 1030)


def test_expired_entries_leave_without_scanning_everything() -> None:
    clock = Clock()
    cache = ReplayCache(clock=clock)
    for i in range(10_000):
        cache.remember(f"j{i}", 1000 + 1 + i / 100)
    clock.now = 1051
    cache.remember("late", 2000)
    assert len(cache) == 1 + sum(1 for i in range(10_000) if 1001 + i / 100 > 1051)


def test_full_cache_refuses_rather_than_forgets() -> None:
    clock = Clock()
    cache = ReplayCache(max_entries=3, clock=clock)
    for jti in ("a", "b", "c"):
        cache.remember(jti, 2000)
    with pytest.raises(ReplayError):
        cache.remember("d", 2000)
