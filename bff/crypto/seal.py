"""Sealed values for cookies and the store: AES-256-GCM with key ids and rotation.

Format ``v1.<kid>.<base64url(nonce || ciphertext || tag)>``. The associated data binds the
format version, the key id and a caller-chosen name (the cookie name), so a value cannot be moved
to another cookie. The first key seals; every key opens (rotation without logging users out).
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bff.errors import InvalidSeal

_VERSION = "v1"
_KID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_NONCE_BYTES = 12


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url; raises ValueError on bad input."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class SealKey:
    """One AES-256 key with its id."""

    kid: str
    key: bytes

    def __post_init__(self) -> None:
        if not _KID.fullmatch(self.kid):
            raise ValueError("key id must be 1-32 characters of [A-Za-z0-9_-]")
        if len(self.key) != 32:
            raise ValueError("a seal key must be 32 bytes (AES-256)")

    def __repr__(self) -> str:
        return f"SealKey(kid={self.kid!r}, key=<redacted>)"


class Sealer:
    """Seals and opens values; the first key seals, all keys open."""

    def __init__(self, keys: Sequence[SealKey]) -> None:
        self.replace_keys(keys)

    def replace_keys(self, keys: Sequence[SealKey]) -> None:
        """Use another key list (a rotation picked up while running); one assignment each."""
        if not keys:
            raise ValueError("at least one seal key is required")
        kids = [k.kid for k in keys]
        if len(set(kids)) != len(kids):
            raise ValueError("seal key ids must be unique")
        self._sealing = keys[0]
        self._aead = {k.kid: AESGCM(k.key) for k in keys}

    @property
    def sealing_kid(self) -> str:
        """The id of the key that seals now."""
        return self._sealing.kid

    def seal(self, plaintext: bytes, name: str) -> str:
        """Encrypt ``plaintext`` bound to ``name``."""
        kid = self._sealing.kid
        nonce = os.urandom(_NONCE_BYTES)
        ct = self._aead[kid].encrypt(nonce, plaintext, _aad(kid, name))
        return f"{_VERSION}.{kid}.{b64url_encode(nonce + ct)}"

    def open(self, value: str, name: str) -> bytes:
        """Decrypt a value sealed for ``name``; any failure is one opaque InvalidSeal."""
        try:
            version, kid, body = value.split(".")
            if version != _VERSION:
                raise ValueError("version")
            aead = self._aead[kid]
            raw = b64url_decode(body)
            if len(raw) < _NONCE_BYTES + 16:
                raise ValueError("short")
            return aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(kid, name))
        except Exception as exc:  # every cause looks the same from outside
            raise InvalidSeal("sealed value rejected") from exc


def _aad(kid: str, name: str) -> bytes:
    return f"{_VERSION}|{kid}|{name}".encode()
