"""PKCE with S256 only (RFC 7636 §4.1, §4.2; FAPI 2.0 §5.3.1.2)."""

from __future__ import annotations

import hashlib
import secrets

from bff.crypto.seal import b64url_encode


def build_code_verifier() -> str:
    """A 43-character verifier from 32 random bytes (RFC 7636 §4.1)."""
    return secrets.token_urlsafe(32)


def build_code_challenge(verifier: str) -> str:
    """The S256 challenge of a verifier (RFC 7636 §4.2)."""
    return b64url_encode(hashlib.sha256(verifier.encode("ascii")).digest())
