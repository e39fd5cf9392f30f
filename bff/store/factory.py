"""Choose the store backend named by the settings."""

from __future__ import annotations

from typing import Any

from bff.store.base import Store
from bff.store.memory import MemoryStore


def build_store(settings: Any) -> Store:
    """MemoryStore, or RedisStore for ``backend = "redis"``."""
    if settings.backend == "redis":
        from bff.store.redis import RedisStore

        store: Store = RedisStore.from_settings(settings)
        return store
    return MemoryStore()
