"""DPoP proofs for the client side (RFC 9449 §4, §8, §9).

Each proof carries ``typ`` ``dpop+jwt``, the public ``jwk``, ``htm``, ``htu`` without query and
fragment, ``iat``, a unique ``jti``, ``ath`` for resource calls and the server's nonce when it gave
one. The header is encoded once per key because the proxy signs one proof per call.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bff.crypto.keys import generate_signing_jwk, thumbprint
from bff.crypto.seal import b64url_encode
from bff.oauth.clock import Clock, system_clock
from bff.oauth.jws import JWSSigner, encode_segment


@functools.lru_cache(maxsize=4096)  # the proxy signs for the same few URLs over and over
def htu_of(url: str) -> str:
    """The ``htu`` of a URL: scheme, host and path, no query or fragment (RFC 9449 §4.2)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", "", ""))


def access_token_hash(access_token: str) -> str:
    """``ath``: base64url SHA-256 of the access token (RFC 9449 §4.2)."""
    return b64url_encode(hashlib.sha256(access_token.encode("ascii")).digest())


class DPoPKey:
    """A DPoP key pair and the proofs it signs."""

    def __init__(self, private_jwk: Mapping[str, Any], clock: Clock = system_clock) -> None:
        self._signer = JWSSigner(private_jwk)
        self._clock = clock
        jwk = {k: v for k, v in self._signer.public_jwk.items() if k not in ("kid", "use", "alg")}
        self.public_jwk = jwk
        self.jkt = thumbprint(jwk)
        self._header = encode_segment({"typ": "dpop+jwt", "alg": self._signer.alg, "jwk": jwk})
        self._ath: tuple[str, str] = ("", "")

    @classmethod
    def generate(cls, alg: str = "ES256", clock: Clock = system_clock) -> DPoPKey:
        """A fresh per-session key."""
        return cls(generate_signing_jwk(alg), clock)

    @property
    def private_jwk(self) -> dict[str, Any]:
        """The private JWK, for sealing into the session."""
        return dict(self._signer.private_jwk)

    def __repr__(self) -> str:
        return f"DPoPKey(jkt={self.jkt!r})"

    def proof(self, htm: str, url: str, *, access_token: str | None = None,
              nonce: str | None = None) -> str:
        """A fresh proof for one request."""
        claims: dict[str, Any] = {"htm": htm, "htu": htu_of(url), "iat": int(self._clock()),
                                  "jti": secrets.token_urlsafe(16)}
        if access_token is not None:
            # the same token signs many proofs in a row: hash it once
            if self._ath[0] != access_token:
                self._ath = (access_token, access_token_hash(access_token))
            claims["ath"] = self._ath[1]
        if nonce:
            claims["nonce"] = nonce
        return self._signer.sign_with_encoded_header(self._header, claims)


class NonceCache:
    """The latest ``DPoP-Nonce`` per server origin (RFC 9449 §8.2, §9)."""

    def __init__(self) -> None:
        self._nonces: dict[str, str] = {}

    @staticmethod
    def origin(url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme.lower()}://{parts.netloc.lower()}"

    def get(self, url: str) -> str | None:
        return self.get_for_origin(self.origin(url))

    def remember(self, url: str, nonce: str | None) -> None:
        """Keep a server's fresh nonce; ignores absent or oversized values."""
        self.remember_for_origin(self.origin(url), nonce)

    def get_for_origin(self, origin: str) -> str | None:
        """The nonce of an origin already in ``origin()`` form (the proxy's hot path)."""
        return self._nonces.get(origin)

    def remember_for_origin(self, origin: str, nonce: str | None) -> None:
        if nonce and len(nonce) < 512:
            self._nonces[origin] = nonce
