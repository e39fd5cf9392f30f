"""OAuth 2.0 Attestation-Based Client Authentication, as the verifier (IETF OAuth draft, §4-§7).

The ``OAuth-Client-Attestation`` JWT comes from a trusted attester (the platform's attestation
service, or a backend that checked the platform's evidence): ``typ``
``oauth-client-attestation+jwt``, ``sub`` = the app's identity, ``exp``, ``cnf.jwk`` = the
instance key. The ``OAuth-Client-Attestation-PoP`` JWT is signed by that instance key:
``typ`` ``oauth-client-attestation-pop+jwt``, ``aud`` = the BFF, unique ``jti``, fresh ``iat``
and the ``challenge`` the BFF issued. Each failed rule has its own error code; nothing is
registered or started before every rule passed.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from bff.crypto.keys import FAPI_ALGORITHMS, thumbprint
from bff.errors import (
    AttestationAppNotAllowed,
    AttestationChallengeInvalid,
    AttestationChallengeUsed,
    AttestationExpired,
    AttestationKeyMissing,
    AttestationPoPAudience,
    AttestationPoPInvalid,
    AttestationPoPReplayed,
    AttestationPoPStale,
    AttestationRejected,
    AttestationSignatureInvalid,
    AttestationTypeInvalid,
    AttestationUntrusted,
)
from bff.oauth.clock import Clock
from bff.oauth.jws import peek_header, verify
from bff.store import keys
from bff.store.base import Store

ATTESTATION_TYP = "oauth-client-attestation+jwt"
POP_TYP = "oauth-client-attestation-pop+jwt"
# §9.5: headers approach 8 kB; anything larger is not an attestation
MAX_JWT = 8192
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


@dataclass(frozen=True)
class Attested:
    """A verified app instance: the app's identity and its instance key."""

    app: str
    instance_jwk: dict[str, Any]
    jkt: str


def public_instance_jwk(value: Any) -> dict[str, Any]:
    """``cnf.jwk`` as a public asymmetric JWK of an allowed kind, or AttestationKeyMissing."""
    if not isinstance(value, dict) or value.get("kty") not in ("EC", "RSA", "OKP"):
        raise AttestationKeyMissing("cnf.jwk missing or not an asymmetric JWK")
    if _PRIVATE_MEMBERS & value.keys():
        # §4: never a private key; whoever sent one has leaked it
        raise AttestationKeyMissing("cnf.jwk holds private members")
    try:
        KeySet.import_key_set({"keys": [value]})
        jkt = thumbprint(value)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise AttestationKeyMissing("cnf.jwk unusable") from exc
    del jkt
    return dict(value)


class Challenges:
    """Attestation challenges (§6): issued once, spent once, short-lived."""

    def __init__(self, store: Store, ttl: int) -> None:
        self._store = store
        self._ttl = ttl

    async def issue(self) -> str:
        """A fresh challenge, remembered for ``ttl`` seconds."""
        challenge = secrets.token_urlsafe(32)
        await self._store.set(keys.mobile_challenge(challenge), b"1", self._ttl)
        return challenge

    async def spend(self, challenge: Any) -> None:
        """Accept ``challenge`` once; a wrong one and a reused one fail with their own codes."""
        if not isinstance(challenge, str) or not 16 <= len(challenge) <= 128:
            raise AttestationChallengeInvalid("challenge missing or malformed")
        issued = await self._store.get(keys.mobile_challenge(challenge))
        if issued is None:
            if await self._store.get(keys.mobile_challenge_used(challenge)) is not None:
                raise AttestationChallengeUsed("challenge already spent")
            raise AttestationChallengeInvalid("challenge not issued here or expired")
        if not await self._store.set_if_absent(keys.mobile_challenge_used(challenge), b"1",
                                               self._ttl):
            raise AttestationChallengeUsed("challenge spent concurrently")
        await self._store.delete(keys.mobile_challenge(challenge))


class AttestationVerifier:
    """Checks the attestation and its PoP (§7.1-§7.3) against trusted attesters and apps."""

    def __init__(self, attesters: Mapping[str, dict[str, Any]], apps: Collection[str],
                 audience: str, store: Store, challenges: Challenges, clock: Clock,
                 max_age: int, algorithms: Collection[str] = FAPI_ALGORITHMS,
                 skew: int = 30) -> None:
        self._attesters = {kid: KeySet.import_key_set({"keys": [{**jwk, "kid": kid}]})
                           for kid, jwk in attesters.items()}
        self._apps = frozenset(apps)
        self._audience = audience.rstrip("/")
        self._store = store
        self._challenges = challenges
        self._clock = clock
        self._max_age = max_age
        self._algorithms = tuple(a for a in algorithms if a != "none")
        self._skew = skew

    def _header(self, token: Any, typ: str) -> dict[str, Any]:
        if not isinstance(token, str) or not token or len(token) > MAX_JWT or token.count(
                ".") != 2:
            raise AttestationRejected("missing or malformed JWT")
        header = peek_header(token, AttestationRejected)
        if header.get("typ") != typ:
            raise AttestationTypeInvalid(f"typ is not {typ}")
        if header.get("alg") not in self._algorithms:
            raise AttestationRejected("algorithm not allowed")
        return header

    def check_attestation(self, token: Any) -> tuple[str, dict[str, Any]]:
        """The app identity and instance key of a valid Client Attestation JWT (§4, §7.1)."""
        header = self._header(token, ATTESTATION_TYP)
        if "jwk" in header or "jku" in header or "x5u" in header:
            # trust comes from configuration only (§9.8), never from the token itself
            raise AttestationUntrusted("attestation names its own key")
        keyset = self._attesters.get(str(header.get("kid", "")))
        if keyset is None:
            raise AttestationUntrusted("attester key id not trusted")
        _, claims = verify(str(token), keyset, self._algorithms, AttestationSignatureInvalid)
        now = self._clock()
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise AttestationRejected("exp missing")
        if exp <= now - self._skew:
            raise AttestationExpired("attestation expired")
        iat = claims.get("iat")
        if isinstance(iat, int | float) and not isinstance(iat, bool) and iat > now + self._skew:
            raise AttestationRejected("attestation issued in the future")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise AttestationRejected("sub missing")
        cnf = claims.get("cnf")
        jwk = public_instance_jwk(cnf.get("jwk") if isinstance(cnf, dict) else None)
        if sub not in self._apps:
            raise AttestationAppNotAllowed("app identity not configured")
        return sub, jwk

    async def verify(self, attestation: Any, pop: Any) -> Attested:
        """Verify both JWTs (§7.1-§7.3); spends the PoP's ``jti`` and its challenge."""
        app, jwk = self.check_attestation(attestation)
        await self.check_pop(pop, jwk, app)
        return Attested(app, jwk, thumbprint(jwk))

    async def check_pop(self, pop: Any, jwk: dict[str, Any], app: str | None
                        ) -> tuple[str, dict[str, Any]]:
        """Verify a PoP signed by ``jwk`` (§7.3); spends its ``jti`` and challenge.

        Returns the challenge and the claims. ``app`` None: the app is not known yet (a
        platform attestation names it); the caller then checks the ``iss`` claim itself.
        """
        self._header(pop, POP_TYP)
        instance_keys = KeySet.import_key_set({"keys": [jwk]})
        _, claims = verify(str(pop), instance_keys, self._algorithms, AttestationPoPInvalid)
        aud = claims.get("aud")
        if aud != self._audience and aud != self._audience + "/":
            raise AttestationPoPAudience("aud is not this BFF")
        if app is not None and "iss" in claims and claims["iss"] != app:
            # draft -07 (cited by the conformance suite) puts the client id in iss
            raise AttestationPoPInvalid("iss differs from the attested app")
        iat = claims.get("iat")
        if not isinstance(iat, int | float) or isinstance(iat, bool) or abs(
                self._clock() - iat) > self._max_age:
            raise AttestationPoPStale("iat outside the accepted window")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 8 <= len(jti) <= 256:
            raise AttestationRejected("jti missing")
        # §11.1: iat first (bounds the cache), then the jti, for as long as iat is acceptable
        if not await self._store.set_if_absent(keys.mobile_pop_jti(jti), b"1",
                                               2 * self._max_age + self._skew):
            raise AttestationPoPReplayed("jti seen before")
        # the current draft names it challenge; draft -07 named it nonce (both accepted)
        challenge = claims.get("challenge", claims.get("nonce"))
        await self._challenges.spend(challenge)
        assert isinstance(challenge, str)
        return challenge, claims

