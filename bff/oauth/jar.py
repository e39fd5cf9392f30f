"""Signed request objects pushed through PAR (JAR, RFC 9101 §4, §10.2; RFC 9126 §3)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from bff.oauth.clock import Clock
from bff.oauth.jws import JWSSigner

REQUEST_OBJECT_TYPE = "oauth-authz-req+jwt"
LIFETIME = 60


def build_request_object(signer: JWSSigner, client_id: str, issuer: str,
                         params: Mapping[str, str | list[str]], clock: Clock) -> str:
    """A request object carrying every authorization parameter, ``aud`` = the issuer."""
    now = int(clock())
    header = {"typ": REQUEST_OBJECT_TYPE}
    if signer.kid:
        header["kid"] = signer.kid
    claims: dict[str, object] = {k: (v if isinstance(v, str) or len(v) != 1 else v[0])
                                 for k, v in params.items()}
    claims.update({"iss": client_id, "client_id": client_id, "aud": issuer, "iat": now,
                   "nbf": now, "exp": now + LIFETIME, "jti": secrets.token_urlsafe(16)})
    return signer.sign(header, claims)
