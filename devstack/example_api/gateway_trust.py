"""ASGI middleware for an API behind the phantom-token gateway: it admits only JWTs that the
gateway signed (``Authorization: Bearer``), with the gateway's key pinned from a file.

The gateway has already checked proof of possession and asked the AS; the API trusts that
key alone, so a token from the AS itself (or any other signer) is refused here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from example_api.dpop_guard import ASGIApp, Receive, Scope, Send
from example_api.jose import (
    JoseError,
    PublicKey,
    check_algorithms,
    check_signature,
    parse_compact,
    public_key_from_jwk,
)

_TYPES: Final = frozenset({"at+jwt", "application/at+jwt"})


@dataclass(frozen=True, slots=True)
class GatewayTrust:
    """Who the gateway is (``iss`` of its JWTs) and its public signing keys by ``kid``."""

    issuer: str
    keys: Mapping[str, PublicKey]

    @classmethod
    def from_jwks_file(cls, issuer: str, path: str | Path) -> GatewayTrust:
        """Read the gateway's public JWKS (RFC 7517 §5) from a file."""
        document = json.loads(Path(path).read_text())
        keys: dict[str, PublicKey] = {}
        for jwk in document.get("keys", []):
            kid = jwk.get("kid")
            if not isinstance(kid, str):
                raise ValueError("every gateway key needs a kid")
            keys[kid] = public_key_from_jwk(jwk)
        if not keys:
            raise ValueError("the gateway JWKS holds no key")
        return cls(issuer, keys)


class _Refused(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


class GatewayTokenGuard:
    """Verify the gateway's JWT on every non-exempt request; claims go to ``scope["state"]``."""

    def __init__(self, app: ASGIApp, *, trust: GatewayTrust, audience: str,
                 required_scopes: Mapping[str, Iterable[str]] | None = None,
                 exempt_paths: Iterable[str] = (), algorithms: Iterable[str] = ("ES256",),
                 max_clock_skew: float = 60, clock: Callable[[], float] = time.time) -> None:
        """Pin the gateway's keys and the audience this API answers to."""
        self.app = app
        self.trust = trust
        self.audience = audience
        self.algorithms = check_algorithms(algorithms)
        self.max_clock_skew = max_clock_skew
        self._clock = clock
        self._exempt = frozenset(exempt_paths)
        self._scopes = [(p.rstrip("/"), frozenset(s)) for p, s in (required_scopes or {}).items()]
        self.stats: dict[str, int] = {"verified": 0, "rejected": 0}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Admit with the verified claims or answer a JSON error."""
        if scope["type"] != "http" or scope["path"] in self._exempt:
            await self.app(scope, receive, send)
            return
        try:
            claims = self._verify(scope)
        except _Refused as refused:
            self.stats["rejected"] += 1
            body = json.dumps({"error": refused.error,
                               "error_description": refused.description}).encode()
            await send({"type": "http.response.start", "status": refused.status, "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", f'Bearer error="{refused.error}"'.encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        self.stats["verified"] += 1
        scope.setdefault("state", {})["dpop_token_claims"] = claims
        await self.app(scope, receive, send)

    def _verify(self, scope: Scope) -> dict[str, Any]:
        values = [v for k, v in scope["headers"] if k == b"authorization"]
        if len(values) != 1:
            raise _Refused(401, "invalid_token", "Gateway token required")
        scheme, _, token = values[0].decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _Refused(401, "invalid_token", "Gateway token required")
        try:
            jws = parse_compact(token.strip())
        except JoseError as exc:
            raise _Refused(401, "invalid_token", "Gateway token is not a valid JWS") from exc
        header, claims = jws.header, jws.claims
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in _TYPES:
            raise _Refused(401, "invalid_token", "Gateway token has the wrong typ")
        key = self.trust.keys.get(header.get("kid"))  # type: ignore[arg-type]
        if key is None or header["alg"] not in self.algorithms:
            raise _Refused(401, "invalid_token", "Gateway token is not signed by the gateway")
        try:
            check_signature(key, header["alg"], jws.signing_input, jws.signature)
        except JoseError as exc:
            raise _Refused(401, "invalid_token", "Gateway token signature is invalid") from exc
        aud = claims.get("aud")
        if claims.get("iss") != self.trust.issuer or self.audience not in (
                aud if isinstance(aud, list) else [aud]):
            raise _Refused(401, "invalid_token", "Gateway token is not for this API")
        exp = claims.get("exp")
        if (not isinstance(exp, int | float) or isinstance(exp, bool)
                or self._clock() >= exp + self.max_clock_skew):
            raise _Refused(401, "invalid_token", "Gateway token expired")
        self._check_scopes(scope["path"], claims)
        return claims

    def _check_scopes(self, path: str, claims: Mapping[str, Any]) -> None:
        needed: set[str] = set()
        for prefix, scopes in self._scopes:
            if path == prefix or path.startswith(prefix + "/") or not prefix:
                needed |= scopes
        granted = claims.get("scope")
        have = set(granted.split()) if isinstance(granted, str) else set()
        if needed - have:
            raise _Refused(403, "insufficient_scope", "Access token lacks required scope")
