"""Markers mirrored in each instance's memory, kept current by the store's announcements.

Every session load checks a few markers (ended sessions, ended AS sessions and subjects, the
newest generation of the session). Reading them costs a store round trip per proxied call, so
each instance follows the announced writes (Redis pub/sub) and answers from memory instead.

The bound: the mirror answers only while its newest heartbeat answer is at most ``staleness``
seconds old. A heartbeat is a ping on the subscription's own connection, and Redis answers it
after delivering everything published before it, so an answer to a ping sent at ``t`` proves
that every write announced before ``t`` has been applied. Hence a marker written and announced
at ``T`` is seen by every instance in every check that starts after ``T + staleness``. Before
its first load, while the subscription is down, hung, or being reloaded, or when it would hold
more than ``max_entries`` markers, ``lookup`` answers None and the caller reads the store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from bff.errors import StoreUnavailable
from bff.store.base import MarkerSource
from bff.store.breaker import RateLimitedLog
from bff.telemetry.metrics import METRICS

log = logging.getLogger("bff.store")

# a mirror that turns stale under load and recovers is counted each time, logged at most so often
_STALE = RateLimitedLog(log, "marker mirror stale: session checks read the store",
                        "marker_mirror_stale")
# a store that stays down is retried every second: one line per period, with the count
_DOWN = RateLimitedLog(log, "marker mirror down: session checks read the store until it is "
                       "reloaded", "marker_mirror_down")

# heartbeats per staleness bound: a late answer or two still leaves the mirror live
HEARTBEATS_PER_BOUND = 4
# seconds the shutdown waits for the following task to end
STOP_WAIT = 2.0
SWEEP_EVERY = 60.0
# a mirror that could not hold every marker tries again this much later (a reload scans them all)
FULL_RETRY = 60.0


class MirrorFull(Exception):
    """More markers than the mirror may hold: the instance keeps the per-call check."""


class MarkerMirror:
    """The mirrored markers, and the task that keeps them current."""

    def __init__(self, source: MarkerSource, prefixes: Sequence[str], *,
                 staleness: float = 1.0, max_entries: int = 1_000_000, retry: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._source = source
        self._prefixes = tuple(prefixes)
        self.staleness = staleness
        self._max_entries = max_entries
        self._retry = retry
        self._clock = clock
        self._data: dict[str, tuple[bytes, float]] = {}
        self._ready = False
        self._heard_at: float | None = None
        self._swept_at = clock()
        self._task: asyncio.Task[None] | None = None
        self._was_live = False

    @property
    def live(self) -> bool:
        """True while lookups are answered from memory within the staleness bound."""
        heard = self._heard_at
        return self._ready and heard is not None and self._clock() - heard <= self.staleness

    def lookup(self, names: Sequence[str]) -> list[bytes | None] | None:
        """The values of ``names`` (None where absent), or None when the caller must ask the
        store."""
        if not self.live:
            if self._was_live:
                self._was_live = False
                METRICS.events.inc(event="marker_mirror_stale")
                _STALE.note()
            return None
        self._was_live = True
        now = self._clock()
        out: list[bytes | None] = []
        for name in names:
            item = self._data.get(name)
            out.append(item[0] if item is not None and item[1] > now else None)
        return out

    def note(self, key: str, value: bytes, ttl: float) -> None:
        """A marker this instance has just written: applied at once, not after its echo."""
        try:
            self._marker(key, value, ttl)
        except MirrorFull:
            pass  # the echo of the announcement makes the follower reload

    # -- fed by the source ---------------------------------------------------------------------

    def _marker(self, key: str, value: bytes, ttl: float) -> None:
        if not key.startswith(self._prefixes):
            return
        if key not in self._data and len(self._data) >= self._max_entries:
            self._sweep()
            if len(self._data) >= self._max_entries:
                raise MirrorFull(f"more than {self._max_entries} markers")
        self._data[key] = (value, self._clock() + ttl)

    def _loaded(self) -> None:
        self._ready = True
        log.info("marker mirror loaded", extra={"event": "marker_mirror_loaded",
                                                 "markers": len(self._data)})

    def _heard(self, sent_at: float) -> None:
        if not self._ready:
            return
        if self._heard_at is None or sent_at > self._heard_at:
            self._heard_at = sent_at
        if self._clock() - self._swept_at > SWEEP_EVERY:
            self._sweep()

    def _sweep(self) -> None:
        now = self._swept_at = self._clock()
        for key in [k for k, (_, until) in self._data.items() if until <= now]:
            del self._data[key]

    # -- the task --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Follow the source for ever: load, apply, and start again after any failure."""
        while True:
            self._ready = False
            self._heard_at = None
            self._data = {}
            wait = self._retry
            try:
                await self._source.follow(
                    self._prefixes, self._marker, self._loaded, self._heard,
                    heartbeat=self.staleness / HEARTBEATS_PER_BOUND, clock=self._clock)
            except MirrorFull as exc:
                cause, wait = str(exc), max(self._retry, FULL_RETRY)
            except StoreUnavailable as exc:
                cause = str(exc)
            except Exception as exc:  # the task must outlive any surprise; it is logged
                cause = type(exc).__name__
                log.exception("marker mirror failed", extra={"event": "marker_mirror_failed"})
            else:  # pragma: no cover (follow only returns by raising)
                cause = "subscription ended"
            self._ready = False
            METRICS.events.inc(event="marker_mirror_down")
            _DOWN.note(cause=cause)
            await asyncio.sleep(wait)

    def start(self) -> None:
        """Start following in the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        """Stop following (at shutdown)."""
        task, self._task = self._task, None
        self._ready = False
        if task is not None:
            task.cancel()
            # bounded: a subscription cancelled mid-read must not hold the shutdown for ever
            done, _ = await asyncio.wait({task}, timeout=STOP_WAIT)
            if not done:
                log.warning("marker mirror did not stop in time",
                            extra={"event": "marker_mirror_stop_timeout"})
            elif not task.cancelled() and task.exception() is not None:
                log.warning("marker mirror ended with an error",
                            extra={"event": "marker_mirror_failed"})
