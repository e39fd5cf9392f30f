"""Sealers, stores and sessions for the session tests."""

from __future__ import annotations

import os
import secrets

import pytest

from bff.crypto.seal import Sealer, SealKey
from bff.oauth.clock import FrozenClock
from bff.sessions.cookies import SetCookie
from bff.sessions.model import AccessToken, Session
from bff.store.memory import MemoryStore


class RecordingStore(MemoryStore):
    """A MemoryStore that remembers every write."""

    def __init__(self, clock: FrozenClock) -> None:
        super().__init__(clock=clock)
        self.writes: dict[str, bytes] = {}

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self.writes[key] = value
        await super().set(key, value, ttl)


@pytest.fixture
def sealer() -> Sealer:
    return Sealer([SealKey("k1", os.urandom(32))])


@pytest.fixture
def store(clock: FrozenClock) -> RecordingStore:
    return RecordingStore(clock)


def make_session(clock: FrozenClock, padding: int = 0) -> Session:
    """A session; ``padding`` adds that many characters of claims to make it larger."""
    return Session(session_id=secrets.token_urlsafe(32), sub="alice",
                   claims={"name": "Alice", "pad": secrets.token_urlsafe(padding)[:padding]},
                   dpop_jwk={"kty": "EC", "crv": "P-256", "x": "x", "y": "y", "d": "d"},
                   csrf_token=secrets.token_urlsafe(32), created_at=clock(), last_seen=clock(),
                   refresh_token="rt-secret",
                   tokens={"": AccessToken("at-secret", clock() + 300)})


def browser_jar(cookies: list[SetCookie], before: dict[str, str] | None = None) -> dict[str, str]:
    """What the browser holds after applying ``cookies`` (Max-Age=0 deletes)."""
    out = dict(before or {})
    for c in cookies:
        if c.max_age == 0:
            out.pop(c.name, None)
        else:
            out[c.name] = c.value
    return out
