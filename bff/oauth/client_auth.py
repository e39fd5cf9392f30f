"""``private_key_jwt`` client assertions (RFC 7523 §2.2, OIDC Core §9, FAPI 2.0 §5.3.2.1).

``aud`` is exactly the issuer string; ``exp`` is short; every assertion has a fresh ``jti``
because the AS spends a ``jti`` even when the request fails.
"""

from __future__ import annotations

import secrets

from bff.oauth.clock import Clock
from bff.oauth.jws import JWSSigner

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 60


def build_client_assertion(signer: JWSSigner, client_id: str, issuer: str, clock: Clock) -> str:
    """A signed client assertion for one request."""
    now = int(clock())
    header = {"typ": "JWT"}
    if signer.kid:
        header["kid"] = signer.kid
    return signer.sign(header, {"iss": client_id, "sub": client_id, "aud": issuer,
                                "jti": secrets.token_urlsafe(24), "iat": now,
                                "exp": now + ASSERTION_LIFETIME})


def client_auth_params(signer: JWSSigner, client_id: str, issuer: str,
                       clock: Clock) -> dict[str, str]:
    """The form parameters that authenticate the client."""
    return {"client_id": client_id, "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": build_client_assertion(signer, client_id, issuer, clock)}
