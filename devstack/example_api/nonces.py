"""Stateless DPoP nonces for a resource server (RFC 9449 §9)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
import time
from collections.abc import Callable
from typing import Final

from example_api.jose import JoseError, b64url_decode, b64url_encode

_TIMESTAMP: Final = struct.Struct(">Q")
_MAC_BYTES: Final = 16


class NonceError(ValueError):
    """A nonce is malformed, forged or expired."""


class NonceIssuer:
    """Mints nonces as ``base64url(timestamp || HMAC(secret, timestamp))``.

    The secret is random per process, so nonces need no storage and stop working
    when the process restarts, which clients handle with the usual challenge.
    """

    def __init__(
        self,
        lifetime: float = 300.0,
        clock_skew: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Create an issuer with a fresh random secret."""
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        self._lifetime = lifetime
        self._skew = clock_skew
        self._cached_second = -1
        self._cached_nonce = ""

    def _mac(self, stamp: bytes) -> bytes:
        return hmac.new(self._secret, stamp, hashlib.sha256).digest()[:_MAC_BYTES]

    def current(self) -> str:
        """Return a nonce for now; one is minted per second since every response carries one."""
        second = int(self._clock())
        if second != self._cached_second:
            stamp = _TIMESTAMP.pack(second)
            self._cached_nonce = b64url_encode(stamp + self._mac(stamp))
            self._cached_second = second
        return self._cached_nonce

    def check(self, nonce: str) -> None:
        """Raise unless the MAC verifies and the nonce is younger than its lifetime."""
        try:
            raw = b64url_decode(nonce)
        except JoseError as exc:
            raise NonceError("nonce is not base64url") from exc
        if len(raw) != _TIMESTAMP.size + _MAC_BYTES:
            raise NonceError("nonce has the wrong length")
        stamp, mac = raw[: _TIMESTAMP.size], raw[_TIMESTAMP.size :]
        if not hmac.compare_digest(mac, self._mac(stamp)):
            raise NonceError("nonce was not issued here")
        issued: int = _TIMESTAMP.unpack(stamp)[0]
        now = self._clock()
        if not now - self._lifetime <= issued <= now + self._skew:
            raise NonceError("nonce expired")
