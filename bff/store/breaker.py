"""A circuit breaker in front of the shared store, and a rate-limited log for repeated events.

While the store cannot be reached, every call would otherwise pay a connect attempt (or the
whole socket timeout for a hung server) and log a line. After one unreachable failure the
breaker refuses calls at once for ``cooldown`` seconds; then the next call is let through as
the one probe, and its outcome closes the breaker or opens it for another ``cooldown``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from bff.store.base import MarkerFeed, Store, StoreUnreachable
from bff.telemetry.metrics import METRICS

T = TypeVar("T")

log = logging.getLogger("bff.store")


class RateLimitedLog:
    """Counts an event and logs it at most once per ``every`` seconds, with the count since."""

    def __init__(self, logger: logging.Logger, message: str, event: str, every: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self._message = message
        self._event = event
        self._every = every
        self._clock = clock
        self._pending = 0
        self._last: float | None = None

    def restart(self) -> None:
        """Start a new period: the next line comes ``every`` seconds from now at the earliest."""
        self._pending = 0
        self._last = self._clock()

    def note(self, **extra: Any) -> None:
        """Count one occurrence; log when the previous line is at least ``every`` seconds old."""
        self._pending += 1
        now = self._clock()
        if self._last is None or now - self._last >= self._every:
            self._logger.warning(self._message, extra={"event": self._event,
                                                       "count": self._pending, **extra})
            self._pending = 0
            self._last = now


class BreakerStore:
    """The ``Store`` protocol around another store, failing fast while it is unreachable."""

    def __init__(self, inner: Store, *, cooldown: float = 1.0, report_every: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._inner = inner
        self._cooldown = cooldown
        self._clock = clock
        self._open_until: float | None = None
        self._opened_at = 0.0
        self._probing = False
        self._refused = 0
        self._still = RateLimitedLog(log, "store still unreachable: calls refused",
                                     "store_still_unreachable", report_every, clock)

    @property
    def inner(self) -> Store:
        """The store behind the breaker (the marker mirror follows it directly)."""
        return self._inner

    @property
    def is_open(self) -> bool:
        """True while calls are being refused without reaching the store."""
        return self._open_until is not None

    def _trip(self, reason: str) -> None:
        now = self._clock()
        if self._open_until is None:
            self._opened_at = now
            self._refused = 0
            self._still.restart()
            # one line per state change; the refused calls are counted, not logged one by one
            log.warning("store unreachable: calls fail fast, probing again every %.2gs",
                        self._cooldown, extra={"event": "store_unreachable", "cause": reason})
            METRICS.events.inc(event="store_unreachable")
        self._open_until = now + self._cooldown

    def _close(self) -> None:
        if self._open_until is None:
            return
        self._open_until = None
        log.warning("store reachable again", extra={
            "event": "store_reachable", "refused": self._refused,
            "outage_seconds": round(self._clock() - self._opened_at, 3)})
        METRICS.events.inc(event="store_reachable")

    async def _guard(self, op: str, call: Callable[[], Awaitable[T]]) -> T:
        probe = False
        if self._open_until is not None:
            if self._probing or self._clock() < self._open_until:
                self._refused += 1
                METRICS.events.inc(event="store_call_refused")
                self._still.note(refused_total=self._refused)
                raise StoreUnreachable(f"{op}: circuit open")
            probe = self._probing = True
        try:
            result = await call()
        except StoreUnreachable as exc:
            self._trip(str(exc))
            raise
        finally:
            if probe:
                self._probing = False
        self._close()
        return result

    async def get(self, key: str) -> bytes | None:
        return await self._guard("get", lambda: self._inner.get(key))

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return await self._guard("get_many", lambda: self._inner.get_many(keys))

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self._guard("set", lambda: self._inner.set(key, value, ttl))

    async def set_if_absent(self, key: str, value: bytes, ttl: float) -> bool:
        return await self._guard("set_if_absent",
                                 lambda: self._inner.set_if_absent(key, value, ttl))

    async def delete(self, key: str) -> None:
        await self._guard("delete", lambda: self._inner.delete(key))

    async def set_and_announce(self, key: str, value: bytes, ttl: float) -> None:
        inner = self._inner
        if isinstance(inner, MarkerFeed):
            await self._guard("set_and_announce",
                              lambda: inner.set_and_announce(key, value, ttl))
        else:
            await self.set(key, value, ttl)

    async def incr(self, key: str, ttl: float) -> int:
        return await self._guard("incr", lambda: self._inner.incr(key, ttl))

    async def ping(self) -> None:
        """Always asks the store (readiness must tell the truth); an answer closes the breaker."""
        try:
            await self._inner.ping()
        except StoreUnreachable as exc:
            self._trip(str(exc))
            raise
        self._close()

    async def close(self) -> None:
        await self._inner.close()
