"""The introspection cache: until the token's expiry, within the revocation bound, bounded."""

from __future__ import annotations

import pytest
from gateway.cache import IntrospectionCache
from hypothesis import given
from hypothesis import strategies as st

from tests.support.clocks import OffsetClock


def active(exp: float) -> dict[str, object]:
    return {"active": True, "exp": exp, "sub": "alice"}


@pytest.mark.spec("RFC 7662 §4")
def test_an_answer_is_kept_no_longer_than_the_revocation_bound() -> None:
    clock = OffsetClock()
    cache = IntrospectionCache(max_age=30, clock=clock)
    cache.put("t", active(clock() + 3600))
    clock.offset = 29.9
    assert cache.get("t") is not None
    clock.offset = 30
    assert cache.get("t") is None


@pytest.mark.spec("RFC 7662 §4")
def test_an_answer_is_not_kept_past_the_token_expiry() -> None:
    clock = OffsetClock()
    cache = IntrospectionCache(max_age=30, clock=clock)
    cache.put("t", active(clock() + 5))
    clock.offset = 5
    assert cache.get("t") is None
    cache.put("expired", active(clock() - 1))
    assert len(cache) == 0


def test_an_inactive_answer_is_kept_within_the_bound() -> None:
    clock = OffsetClock()
    cache = IntrospectionCache(max_age=30, clock=clock)
    cache.put("unknown", None)
    entry = cache.get("unknown")
    assert entry is not None and entry.claims is None
    clock.offset = 31
    assert cache.get("unknown") is None


def test_the_cache_is_bounded_and_forgets_the_least_recently_used() -> None:
    clock = OffsetClock()
    cache = IntrospectionCache(max_age=30, max_entries=2, clock=clock)
    cache.put("a", active(clock() + 60))
    cache.put("b", active(clock() + 60))
    assert cache.get("a") is not None  # a is now the most recently used
    cache.put("c", active(clock() + 60))
    assert len(cache) == 2
    assert cache.get("b") is None and cache.get("a") is not None


@given(st.text(min_size=1, max_size=200))
def test_the_cache_holds_a_hash_of_the_token_never_the_token(token: str) -> None:
    cache = IntrospectionCache(max_age=30)
    cache.put(token, active(2**40))
    keys = list(cache._entries)
    assert len(keys) == 1 and len(keys[0]) == 32
    assert token.encode() not in keys[0] or len(token.encode()) < 4
