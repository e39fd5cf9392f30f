"""What a registration presents: an attester's JWT, a platform attestation, or both, per app.

An app listed in ``mobile.app_attest`` registers with an Apple App Attest attestation object
(``mode = "platform"``: alone; ``mode = "both"``: beside an attester's Client Attestation JWT);
any other app with the attester JWT alone. The App Attest key cannot sign JWTs (it signs only
App Attest assertions), so the instance key is a second key of the app, and the attestation
binds it: the app attests with ``clientDataHash = SHA-256(challenge "." jkt)``, where
``challenge`` is the one its PoP carries and ``jkt`` the instance key's RFC 7638 thumbprint.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography import x509

from bff.config.model import AppAttestSettings
from bff.crypto.keys import thumbprint
from bff.errors import (
    AttestationPoPInvalid,
    AttesterRequired,
    PlatformAppMismatch,
    PlatformAttestationInvalid,
    PlatformAttestationRequired,
)
from bff.mobile.apple import MAX_OBJECT, AppAttestVerifier
from bff.mobile.attestation import AttestationVerifier, Attested, public_instance_jwk
from bff.oauth.clock import Clock

APPLE_FORMAT = "apple-appattest"


def app_attest_client_data(challenge: str, jkt: str) -> bytes:
    """The client data whose SHA-256 the app passes to ``attestKey`` as ``clientDataHash``."""
    return f"{challenge}.{jkt}".encode("ascii")


def _bytes(value: Any, name: str, limit: int) -> bytes:
    """Standard or URL-safe base64 (Apple's key ids are standard base64), bounded."""
    if not isinstance(value, str) or not value or len(value) > limit * 4 // 3 + 4:
        raise PlatformAttestationInvalid(f"{name} missing or too large")
    text = value.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PlatformAttestationInvalid(f"{name} is not base64") from exc


class RegistrationEvidence:
    """Checks what a registration presents against the app's configured requirements."""

    def __init__(self, attestations: AttestationVerifier, apps: Sequence[AppAttestSettings],
                 apple: AppAttestVerifier | None) -> None:
        self._attestations = attestations
        self._by_app = {a.app: a for a in apps}
        self._by_app_id = {f"{a.team_id}.{a.bundle_id}": a for a in apps}
        self._apple = apple

    async def verify(self, attestation: Any, pop: Any, body: Mapping[str, Any]) -> Attested:
        """The attested instance; spends the PoP's ``jti`` and challenge."""
        evidence = body.get("platform")
        if evidence is None:
            app, jwk = self._attestations.check_attestation(attestation)
            if app in self._by_app:
                # refused before the challenge is spent: nothing happens for this app
                raise PlatformAttestationRequired("this app registers with App Attest")
            await self._attestations.check_pop(pop, jwk, app)
            return Attested(app, jwk, thumbprint(jwk))
        if not isinstance(evidence, dict) or evidence.get("format") != APPLE_FORMAT:
            raise PlatformAttestationInvalid("platform.format is not apple-appattest")
        if self._apple is None:
            raise PlatformAttestationInvalid("no app is configured for App Attest")
        key_id = _bytes(evidence.get("keyId"), "keyId", 32)
        obj = _bytes(evidence.get("attestationObject"), "attestationObject", MAX_OBJECT)
        claimed: str | None = None
        if attestation is not None:
            claimed, jwk = self._attestations.check_attestation(attestation)
            if claimed not in self._by_app:
                raise PlatformAppMismatch("the attested app is not configured for App Attest")
        else:
            jwk = public_instance_jwk(body.get("instanceJwk"))
        challenge, claims = await self._attestations.check_pop(pop, jwk, claimed)
        jkt = thumbprint(jwk)
        verified = self._apple.verify(obj, app_attest_client_data(challenge, jkt), key_id)
        entry = self._by_app_id[verified.app_id]
        if claimed is None:
            if entry.mode == "both":
                raise AttesterRequired("this app needs an attester's attestation too")
            if "iss" in claims and claims["iss"] != entry.app:
                raise AttestationPoPInvalid("iss differs from the attested app")
        elif entry.app != claimed:
            raise PlatformAppMismatch("the attestation object is for another app")
        return Attested(entry.app, jwk, jkt)


def app_attest_verifier(apps: Sequence[AppAttestSettings], roots: Sequence[x509.Certificate],
                        clock: Clock) -> AppAttestVerifier | None:
    """The App Attest verifier of the configured apps (None when there are none)."""
    if not apps:
        return None
    environments: Mapping[str, bool] = {f"{a.team_id}.{a.bundle_id}": a.environment == "production"
                                        for a in apps}
    return AppAttestVerifier(roots, environments, clock=clock)
