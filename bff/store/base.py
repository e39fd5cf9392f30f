"""The store interface every backend implements: small, async, every key has a TTL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from bff.errors import StoreUnavailable


class Store(Protocol):
    """Key-value state shared by BFF instances; failures raise ``StoreUnavailable``."""

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """The values of several keys in one round trip (None where absent)."""

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store a value that expires after ``ttl`` seconds."""

    async def set_if_absent(self, key: str, value: bytes, ttl: float) -> bool:
        """Atomically store a value only when the key is absent; True when stored."""

    async def delete(self, key: str) -> None:
        """Remove a key (absent keys are fine)."""

    async def incr(self, key: str, ttl: float) -> int:
        """Atomically add one to a counter, setting its TTL on creation."""

    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` when the store cannot be reached."""

    async def close(self) -> None:
        """Release connections."""


class StoreUnreachable(StoreUnavailable):
    """The store did not answer (refused, reset, timed out): the one failure that may fail open.

    Same wire code as ``StoreUnavailable``; the distinction only tells callers that can carry on
    without the store (the cookie sessions' logout check) an outage from a busy or erring store.
    """


@runtime_checkable
class MarkerFeed(Protocol):
    """A store whose writes of a few markers are announced to every instance (pub/sub)."""

    async def set_and_announce(self, key: str, value: bytes, ttl: float) -> None:
        """Store a value like ``set`` and announce the write, in one atomic step."""


MarkerEvent = Callable[[str, bytes, float], None]


@runtime_checkable
class MarkerSource(Protocol):
    """Follows the announced writes of the markers under some key prefixes."""

    async def follow(self, prefixes: Sequence[str], on_marker: MarkerEvent,
                     on_ready: Callable[[], None], on_heard: Callable[[float], None], *,
                     heartbeat: float, clock: Callable[[], float]) -> None:
        """Subscribe, load the markers already stored (``on_marker`` each, then ``on_ready``),
        then apply announced writes until the subscription fails (raises ``StoreUnreachable``).

        Every ``heartbeat`` seconds a ping goes out on the subscription; ``on_heard(sent_at)``
        says that every write announced before ``sent_at`` (by ``clock``) has been applied.
        """
