"""Instance proofs: every mobile call carries a DPoP-form JWT signed by the instance key.

The proof (RFC 9449 §4.2 syntax) has ``typ`` ``dpop+jwt``, the instance's public ``jwk``,
``htm``, ``htu`` (the BFF's public URL of the call), ``iat``, a unique ``jti``, ``ath`` = the
hash of the session handle when one is sent, and a nonce the BFF issued (§9) when demanded.
A handle is accepted only with a valid proof from the key it was issued to.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from bff.crypto.keys import FAPI_ALGORITHMS, thumbprint
from bff.crypto.seal import Sealer
from bff.errors import (
    InvalidSeal,
    ProofInvalid,
    ProofNonceRequired,
    ProofReplayed,
    ProofRequired,
    ProofStale,
)
from bff.oauth.clock import Clock
from bff.oauth.dpop import access_token_hash, htu_of
from bff.oauth.jws import peek_header, verify
from bff.store import keys
from bff.store.base import Store

MAX_PROOF = 4096
_NONCE_NAME = "bff-mobile-nonce"
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class ProofNonces:
    """Stateless nonces: the issue time sealed under the cookie keys, valid for ``ttl``."""

    def __init__(self, sealer: Sealer, clock: Clock, ttl: int) -> None:
        self._sealer = sealer
        self._clock = clock
        self._ttl = ttl

    def issue(self) -> str:
        """A fresh nonce for the ``DPoP-Nonce`` header."""
        return self._sealer.seal(str(int(self._clock())).encode(), _NONCE_NAME)

    def valid(self, nonce: Any) -> bool:
        """Whether ``nonce`` was issued here within ``ttl`` seconds."""
        if not isinstance(nonce, str) or len(nonce) > 256:
            return False
        try:
            issued = int(self._sealer.open(nonce, _NONCE_NAME))
        except (InvalidSeal, ValueError):
            return False
        return 0 <= self._clock() - issued <= self._ttl


class InstanceProofs:
    """Verifies instance proofs and keeps their ``jti`` replay cache."""

    def __init__(self, store: Store, nonces: ProofNonces, clock: Clock, max_age: int,
                 require_nonce: bool, algorithms: Collection[str] = FAPI_ALGORITHMS) -> None:
        self._store = store
        self._nonces = nonces
        self._clock = clock
        self._max_age = max_age
        self._require_nonce = require_nonce
        self._algorithms = tuple(algorithms)

    async def verify(self, proof: str | None, method: str, url: str,
                     handle: str | None = None) -> str:
        """The thumbprint of the key that signed a valid proof for this call."""
        if not proof:
            raise ProofRequired("no DPoP proof")
        if len(proof) > MAX_PROOF or proof.count(".") != 2 or "," in proof:
            raise ProofInvalid("malformed proof")
        header = peek_header(proof, ProofInvalid)
        jwk = header.get("jwk")
        if header.get("typ") != "dpop+jwt" or header.get("alg") not in self._algorithms:
            raise ProofInvalid("typ or alg not allowed")
        if not isinstance(jwk, dict) or _PRIVATE_MEMBERS & jwk.keys():
            raise ProofInvalid("jwk missing or private")
        try:
            keyset = KeySet.import_key_set({"keys": [jwk]})
            jkt = thumbprint(jwk)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise ProofInvalid("jwk unusable") from exc
        _, claims = verify(proof, keyset, self._algorithms, ProofInvalid)
        htu = claims.get("htu")
        if claims.get("htm") != method or not isinstance(htu, str) or htu_of(htu) != htu_of(url):
            raise ProofInvalid("htm or htu does not match the call")
        iat = claims.get("iat")
        if not isinstance(iat, int | float) or isinstance(iat, bool) or abs(
                self._clock() - iat) > self._max_age:
            raise ProofStale("iat outside the accepted window")
        ath = claims.get("ath")
        if handle is not None:
            if not isinstance(ath, str) or not hmac.compare_digest(
                    ath.encode(), access_token_hash(handle).encode()):
                raise ProofInvalid("ath does not match the session handle")
        elif ath is not None:
            raise ProofInvalid("ath without a session handle")
        if self._require_nonce and not self._nonces.valid(claims.get("nonce")):
            raise ProofNonceRequired("nonce missing, foreign or expired")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 8 <= len(jti) <= 256:
            raise ProofInvalid("jti missing")
        if not await self._store.set_if_absent(keys.mobile_proof_jti(jkt, jti), b"1",
                                               2 * self._max_age + 5):
            raise ProofReplayed("jti seen before")
        return jkt
