"""A single-process store with TTLs: the embedded default."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence


class MemoryStore:
    """Dict-backed store; expired keys are dropped lazily and on a periodic sweep."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 1_000_000):
        self._data: dict[str, tuple[bytes, float]] = {}
        self._clock = clock
        self._max_keys = max_keys
        self._writes = 0

    def _live(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= self._clock():
            del self._data[key]
            return None
        return item[0]

    def _put(self, key: str, value: bytes, ttl: float) -> None:
        if ttl <= 0:
            raise ValueError("every key needs a positive TTL")
        self._writes += 1
        if self._writes % 1024 == 0 or len(self._data) >= self._max_keys:
            self._sweep()
        self._data[key] = (value, self._clock() + ttl)

    def _sweep(self) -> None:
        now = self._clock()
        for key in [k for k, (_, exp) in self._data.items() if exp <= now]:
            del self._data[key]

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self._live(k) for k in keys]

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self._put(key, value, ttl)

    async def set_and_announce(self, key: str, value: bytes, ttl: float) -> None:
        # one process: nobody else to tell
        await self.set(key, value, ttl)

    async def set_if_absent(self, key: str, value: bytes, ttl: float) -> bool:
        if self._live(key) is not None:
            return False
        self._put(key, value, ttl)
        return True

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def incr(self, key: str, ttl: float) -> int:
        current = self._live(key)
        value = int(current) + 1 if current is not None else 1
        if current is None:
            self._put(key, str(value).encode(), ttl)
        else:
            self._data[key] = (str(value).encode(), self._data[key][1])
        return value

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._data.clear()
