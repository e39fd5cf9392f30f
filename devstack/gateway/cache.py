"""Introspection results kept until the token expires, within a bound (RFC 7662 §4)."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

DEFAULT_MAX_AGE: Final = 30.0
DEFAULT_MAX_ENTRIES: Final = 10_000


def token_key(token: str) -> bytes:
    """The cache key: a SHA-256 of the token, so the cache never holds a usable token."""
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class Introspected:
    """One introspection answer; ``claims`` is None for an inactive token."""

    claims: dict[str, Any] | None
    expires_at: float


class IntrospectionCache:
    """A bounded LRU of introspection answers, each kept at most ``max_age`` seconds.

    ``max_age`` is the revocation bound: a token revoked at the AS is still admitted for at
    most that long (RFC 7662 §4 leaves the trade-off to the resource server).
    """

    def __init__(self, *, max_age: float = DEFAULT_MAX_AGE,
                 max_entries: int = DEFAULT_MAX_ENTRIES,
                 clock: Callable[[], float] = time.time) -> None:
        """Bound both the age of an answer and the number of answers kept."""
        if max_age <= 0 or max_entries <= 0:
            raise ValueError("max_age and max_entries must be positive")
        self.max_age = max_age
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, Introspected] = OrderedDict()

    def __len__(self) -> int:
        """Count the answers held."""
        return len(self._entries)

    def get(self, token: str) -> Introspected | None:
        """The cached answer for ``token`` while it is fresh, else None."""
        key = token_key(token)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() >= entry.expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, token: str, claims: dict[str, Any] | None) -> Introspected:
        """Keep an answer until the token's ``exp`` or ``max_age`` from now, whichever is first."""
        now = self._clock()
        until = now + self.max_age
        exp = claims.get("exp") if claims is not None else None
        if isinstance(exp, int | float) and not isinstance(exp, bool):
            until = min(until, float(exp))
        entry = Introspected(claims, until)
        if until <= now:
            return entry
        key = token_key(token)
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            # the least recently used answer goes; it is simply introspected again when needed
            self._entries.popitem(last=False)
        return entry
