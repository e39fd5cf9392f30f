"""In-memory record of DPoP proof ``jti`` values already used (RFC 9449 §11.1)."""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable


class ReplayError(ValueError):
    """A proof identifier was presented again, or the cache is full."""


class ReplayCache:
    """Remembers each ``jti`` until the proof carrying it would be too old anyway."""

    def __init__(
        self, max_entries: int = 1_000_000, clock: Callable[[], float] = time.time
    ) -> None:
        """Bound the cache so a flood of proofs cannot exhaust memory."""
        self._clock = clock
        self._expiry: dict[str, float] = {}
        # expiry order, so forgetting old entries costs O(log n) per proof, never a full scan
        self._order: list[tuple[float, str]] = []
        self._max_entries = max_entries

    def __len__(self) -> int:
        """Count the remembered identifiers."""
        return len(self._expiry)

    def remember(self, jti: str, expires_at: float) -> None:
        """Record ``jti``, raising when it was seen before and has not expired."""
        now = self._clock()
        previous = self._expiry.get(jti)
        if previous is not None and previous > now:
            raise ReplayError("jti already used")
        self._purge(now)
        if len(self._expiry) >= self._max_entries:
            # Refusing is safer than forgetting: a forgotten jti could be replayed.
            raise ReplayError("replay cache full")
        self._expiry[jti] = expires_at
        heapq.heappush(self._order, (expires_at, jti))

    def _purge(self, now: float) -> None:
        order = self._order
        while order and order[0][0] <= now:
            exp, jti = heapq.heappop(order)
            if self._expiry.get(jti) == exp:
                del self._expiry[jti]
