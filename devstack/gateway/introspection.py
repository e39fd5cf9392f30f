"""Token introspection at the AS (RFC 7662), with JWT-secured answers (RFC 9701) when offered."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx
from example_api.jose import JoseError, check_algorithms, check_signature, parse_compact
from example_api.jwks import JWKSCache, JWKSUnavailable
from joserfc import jwt
from joserfc.jwk import JWKRegistry

JWT_RESPONSE_TYPE: Final = "application/token-introspection+jwt"
_JWT_TYP: Final = "token-introspection+jwt"
_TIMEOUT: Final = 5.0
_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class IntrospectionUnavailable(RuntimeError):
    """The AS could not be asked, or its answer cannot be trusted; never a token verdict."""


@dataclass(frozen=True, slots=True)
class _Metadata:
    endpoint: str
    jwks_uri: str
    jwt_algorithms: tuple[str, ...]


class Introspector:
    """Asks the AS about one token, authenticating with ``private_key_jwt`` (RFC 7523 §2.2)."""

    def __init__(self, *, issuer: str, client_id: str, client_jwk: Mapping[str, Any],
                 http_client: httpx.AsyncClient | None = None,
                 algorithms: Iterable[str] = ("ES256", "PS256", "EdDSA"),
                 prefer_jwt: bool = True, max_clock_skew: float = 60,
                 clock: Callable[[], float] = time.time) -> None:
        """Configure the client; the AS metadata is read on first use."""
        self.issuer = issuer
        self.client_id = client_id
        self._key = JWKRegistry.import_key(dict(client_jwk))
        self._alg = str(client_jwk.get("alg", "ES256"))
        self._kid = client_jwk.get("kid")
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=_TIMEOUT)
        self.algorithms = check_algorithms(algorithms)
        self.prefer_jwt = prefer_jwt
        self._skew = max_clock_skew
        self._clock = clock
        self._meta: _Metadata | None = None
        self._jwks: JWKSCache | None = None
        self.calls = 0
        self.jwt_answers = 0

    async def aclose(self) -> None:
        """Close the HTTP client when it is ours."""
        if self._owns_http:
            await self._http.aclose()

    async def _metadata(self) -> _Metadata:
        if self._meta is not None:
            return self._meta
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            response = await self._http.get(url, timeout=_TIMEOUT)
            response.raise_for_status()
            doc = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise IntrospectionUnavailable("AS metadata unavailable") from exc
        # RFC 8414 §3.3: the metadata must name the issuer we asked about
        if not isinstance(doc, dict) or doc.get("issuer") != self.issuer:
            raise IntrospectionUnavailable("AS metadata names another issuer")
        endpoint, jwks_uri = doc.get("introspection_endpoint"), doc.get("jwks_uri")
        if not isinstance(endpoint, str) or not isinstance(jwks_uri, str):
            raise IntrospectionUnavailable("AS metadata lacks introspection_endpoint or jwks_uri")
        offered = doc.get("introspection_signing_alg_values_supported")
        algs = tuple(a for a in self.algorithms if isinstance(offered, list) and a in offered)
        self._meta = _Metadata(endpoint, jwks_uri, algs)
        self._jwks = JWKSCache(jwks_uri, http_client=self._http, clock=self._clock)
        return self._meta

    def _assertion(self) -> str:
        now = int(self._clock())
        header: dict[str, Any] = {"alg": self._alg, "typ": "JWT"}
        if isinstance(self._kid, str):
            header["kid"] = self._kid
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": self.issuer,
                  "iat": now, "exp": now + 60, "jti": secrets.token_urlsafe(16)}
        return jwt.encode(header, claims, self._key, algorithms=[self._alg])

    async def introspect(self, token: str) -> dict[str, Any]:
        """The AS's answer for ``token`` (``active`` false for unknown, expired or revoked)."""
        meta = await self._metadata()
        use_jwt = self.prefer_jwt and bool(meta.jwt_algorithms)
        headers = {"accept": JWT_RESPONSE_TYPE if use_jwt else "application/json"}
        form = {"token": token, "token_type_hint": "access_token",
                "client_assertion_type": _ASSERTION_TYPE, "client_assertion": self._assertion()}
        self.calls += 1
        try:
            response = await self._http.post(meta.endpoint, data=form, headers=headers,
                                             timeout=_TIMEOUT)
        except httpx.HTTPError as exc:
            raise IntrospectionUnavailable("AS unreachable") from exc
        if response.status_code != 200:
            # RFC 7662 §2.3: 401 means our own credentials were refused, never the token's fault
            raise IntrospectionUnavailable(f"introspection answered {response.status_code}")
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if use_jwt:
            if content_type != JWT_RESPONSE_TYPE:
                # RFC 9701 §5: we asked for a signed answer; an unsigned one is not accepted
                raise IntrospectionUnavailable("introspection answer is not a signed JWT")
            answer = await self._verify_jwt(response.text, meta)
            self.jwt_answers += 1
        else:
            try:
                answer = response.json()
            except ValueError as exc:
                raise IntrospectionUnavailable("introspection answer is not JSON") from exc
        if not isinstance(answer, dict) or not isinstance(answer.get("active"), bool):
            raise IntrospectionUnavailable("introspection answer lacks active")
        return answer

    async def _verify_jwt(self, text: str, meta: _Metadata) -> dict[str, Any]:
        """RFC 9701 §5: typ, algorithm, AS signature, iss, aud = us, iat; then the claims."""
        try:
            jws = parse_compact(text.strip())
        except JoseError as exc:
            raise IntrospectionUnavailable("introspection JWT is malformed") from exc
        header, claims = jws.header, jws.claims
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower().removeprefix("application/") != _JWT_TYP:
            raise IntrospectionUnavailable("introspection JWT has the wrong typ")
        alg = header["alg"]
        if alg not in meta.jwt_algorithms:
            raise IntrospectionUnavailable("introspection JWT algorithm not allowed")
        kid = header.get("kid")
        assert self._jwks is not None
        try:
            keys = await self._jwks.keys_for(kid if isinstance(kid, str) else None)
        except JWKSUnavailable as exc:
            raise IntrospectionUnavailable("AS keys unavailable") from exc
        for key in keys:
            try:
                check_signature(key, alg, jws.signing_input, jws.signature)
                break
            except JoseError:
                continue
        else:
            raise IntrospectionUnavailable("introspection JWT signature is invalid")
        aud = claims.get("aud")
        if claims.get("iss") != self.issuer or self.client_id not in (
                aud if isinstance(aud, list) else [aud]):
            raise IntrospectionUnavailable("introspection JWT is not from our AS for us")
        iat = claims.get("iat")
        now = self._clock()
        if (not isinstance(iat, int | float) or isinstance(iat, bool)
                or not now - self._skew <= iat <= now + self._skew):
            raise IntrospectionUnavailable("introspection JWT is not fresh")
        answer = claims.get("token_introspection")
        if not isinstance(answer, dict):
            raise IntrospectionUnavailable("introspection JWT lacks token_introspection")
        return answer
