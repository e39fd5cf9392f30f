"""Key-value state with TTLs: MemoryStore (embedded default) and RedisStore."""

from bff.store.base import Store
from bff.store.memory import MemoryStore

__all__ = ["MemoryStore", "Store"]
