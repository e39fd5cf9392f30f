"""Choose the store backend named by the settings."""

from __future__ import annotations

from typing import Any

from bff.store.base import Store
from bff.store.memory import MemoryStore


def build_store(settings: Any) -> Store:
    """MemoryStore, or RedisStore behind a circuit breaker for ``backend = "redis"``."""
    if settings.backend == "redis":
        from bff.store.breaker import BreakerStore
        from bff.store.redis import RedisStore

        return BreakerStore(RedisStore.from_settings(settings),
                            cooldown=float(settings.breaker_cooldown))
    return MemoryStore()
