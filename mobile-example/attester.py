"""A small local test attester: it plays the platform's role (App Attest / Key Attestation).

It signs OAuth-Client-Attestation JWTs (typ ``oauth-client-attestation+jwt``) for an app
identity and an instance's public key. A real deployment trusts the attester its platform
provides (or its own backend that verified Apple's or Google's evidence); the BFF only
trusts the attester keys listed under ``[[mobile.attesters]]``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from joserfc import jws
from joserfc.jwk import ECKey

ATTESTATION_TYP = "oauth-client-attestation+jwt"


class LocalAttester:
    """An ES256 attester key; ``attest`` vouches for one app instance."""

    def __init__(self, kid: str = "test-attester", key: ECKey | None = None) -> None:
        self.kid = kid
        self.key = key or ECKey.generate_key("P-256", private=True)

    @property
    def public_jwk(self) -> dict[str, Any]:
        """The public key to list in the BFF's ``[[mobile.attesters]]``."""
        return {**self.key.as_dict(private=False), "kid": self.kid}

    def write_public_jwk(self, path: Path) -> None:
        path.write_text(json.dumps(self.public_jwk))

    def attest(self, app: str, instance_jwk: dict[str, Any], ttl: int = 3600,
               *, typ: str = ATTESTATION_TYP, now: float | None = None,
               claims: dict[str, Any] | None = None) -> str:
        """A Client Attestation JWT: ``sub`` = the app, ``cnf.jwk`` = the instance key."""
        issued = int(time.time() if now is None else now)
        body: dict[str, Any] = {"iss": "urn:example:test-attester", "sub": app, "iat": issued,
                                "exp": issued + ttl, "cnf": {"jwk": instance_jwk}}
        body.update(claims or {})
        header = {"typ": typ, "alg": "ES256", "kid": self.kid}
        return jws.serialize_compact(header, json.dumps(body).encode(), self.key,
                                     algorithms=["ES256"])
