"""The dev AS's demo second factor: TOTP codes (RFC 6238) from the per-user seed it derives."""

from __future__ import annotations

import hashlib
import hmac
import struct
import threading
import time

DEV_SEED_KEY = b"bff-dev-totp"  # the dev AS's default ``totpSeedKey``
# the test stacks run the AS with this TOTP period (``totpPeriod``), so that several two-factor
# logins in a row wait seconds, not half a minute, for an unused time step
PERIOD = 5

_lock = threading.Lock()
_last_step: dict[tuple[str, str], int] = {}


def seed_for(login: str, key: bytes = DEV_SEED_KEY) -> bytes:
    """The dev AS's seed for ``login``: HMAC-SHA256(key, login), first 20 bytes."""
    return hmac.new(key, login.encode(), hashlib.sha256).digest()[:20]


def hotp(secret: bytes, counter: int, digits: int = 6) -> str:
    """RFC 4226 §5.3."""
    mac = hmac.new(secret, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    binary = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def next_code(issuer: str, login: str) -> str:
    """A code the AS has not accepted yet for ``login`` (it refuses reuse of a time step).

    The AS accepts one step either side of now; when this process has used them all, wait
    for the next step (at most one period).
    """
    with _lock:
        while True:
            now = int(time.time()) // PERIOD
            step = max(now - 1, _last_step.get((issuer, login), now - 2) + 1)
            if step <= now + 1:
                _last_step[(issuer, login)] = step
                return hotp(seed_for(login), step)
            time.sleep((now + 1) * PERIOD - time.time() + 0.05)
