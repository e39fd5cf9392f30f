"""The dev AS's demo second factor, for ``bff demo``: the TOTP (RFC 6238) of a demo user.

The dev AS derives each user's seed as HMAC-SHA256(``totpSeedKey``, login)[:20]; with its
development default key anyone can compute it, which is the point for a demo and why the
key is not for anything else (devstack/authorization-server/README.md).
"""

from __future__ import annotations

import time
from typing import Final

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.twofactor.totp import TOTP

DEV_SEED_KEY: Final = b"bff-dev-totp"   # the dev AS's default ``totpSeedKey``
ISSUER_LABEL: Final = "Example Bank"    # the dev AS's name in authenticator apps
PERIOD: Final = 30                      # the dev AS's default ``totpPeriod``


def seed_for(login: str, key: bytes = DEV_SEED_KEY) -> bytes:
    """The dev AS's TOTP seed for ``login``."""
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(login.encode())
    return mac.finalize()[:20]


def _totp(login: str, period: int) -> TOTP:
    # SHA-1: the dev AS's algorithm and what authenticator apps speak (RFC 6238 §1.2)
    return TOTP(seed_for(login), 6, hashes.SHA1(), period,  # noqa: S303
                enforce_key_length=False)


def totp_uri(login: str, period: int = PERIOD) -> str:
    """The ``otpauth://`` URI to load into an authenticator app."""
    return _totp(login, period).get_provisioning_uri(login, ISSUER_LABEL)


def code_at(login: str, now: float | None = None, period: int = PERIOD) -> str:
    """The code the dev AS accepts for ``login`` at ``now``."""
    return _totp(login, period).generate(int(time.time() if now is None else now)).decode()
