"""ASGI middleware admitting only DPoP-bound JWT access tokens (RFC 9449 §7, RFC 9068 §4).

The module depends on nothing but its siblings, ``httpx``, ``anyio`` and ``cryptography``, so
an API team can copy it into any ASGI service.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Final

import httpx

from example_api.jose import (
    JoseError,
    PublicKey,
    b64url_encode,
    check_algorithms,
    check_signature,
    has_private_members,
    jwk_thumbprint,
    parse_compact,
    public_key_from_jwk,
)
from example_api.jwks import JWKSCache, JWKSUnavailable
from example_api.nonces import NonceError, NonceIssuer
from example_api.replay import ReplayCache, ReplayError
from example_api.urls import normalise_url, request_url

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# RFC 9068 §2.1 names "at+jwt"; the full media type form is equally valid (RFC 7515 §4.1.9).
_ACCESS_TOKEN_TYPES: Final = frozenset({"at+jwt", "application/at+jwt"})
_PROOF_TYPE: Final = "dpop+jwt"
_MAX_JTI_LENGTH: Final = 512
_CACHE_LIMIT: Final = 4096
_NONCE_DESCRIPTION: Final = "Resource server requires nonce in DPoP proof"


@dataclass(frozen=True, slots=True)
class _Rejection(Exception):
    """Why a request was refused; rendered by :meth:`DPoPGuard._reject`."""

    status: int
    error: str | None
    description: str
    scope: str | None = None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _scheme(values: list[bytes]) -> str:
    """The lower-case scheme of a single Authorization header, else ""."""
    if len(values) != 1:
        return ""
    return values[0].decode("latin-1").partition(" ")[0].lower()


def _token_error(description: str) -> _Rejection:
    return _Rejection(401, "invalid_token", description)


def _proof_error(description: str) -> _Rejection:
    return _Rejection(401, "invalid_dpop_proof", description)


class DPoPGuard:
    """Verify the access token and DPoP proof of every non-exempt HTTP request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        issuer: str,
        audience: str,
        jwks_uri: str,
        public_base_url: str | None = None,
        required_scopes: Mapping[str, Iterable[str]] | None = None,
        exempt_paths: Iterable[str] = (),
        algorithms: Iterable[str] = ("ES256", "PS256", "EdDSA"),
        max_clock_skew: float = 60,
        proof_max_age: float = 300,
        require_nonce: bool = True,
        nonce_lifetime: float = 300,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        certificate_bound: bool = False,
    ) -> None:
        """Configure the guard; the JWKS is fetched lazily on the first request.

        ``certificate_bound`` also admits Bearer tokens bound to the TLS client certificate
        (RFC 8705 §3), read from the ASGI TLS extension (see ``tls_peer``).
        """
        self.app = app
        self.certificate_bound = certificate_bound
        self.issuer = issuer
        self.audience = audience
        self.public_base_url = public_base_url
        self.algorithms = check_algorithms(algorithms)
        self.max_clock_skew = max_clock_skew
        self.proof_max_age = proof_max_age
        self.require_nonce = require_nonce
        self._clock = clock
        self.stats: dict[str, int] = {"verified": 0, "nonce_challenges": 0, "rejected": 0}
        self._exempt = frozenset(exempt_paths)
        self._scopes = [
            (prefix.rstrip("/"), frozenset(scopes))
            for prefix, scopes in (required_scopes or {}).items()
        ]
        self._jwks = JWKSCache(jwks_uri, http_client=http_client, clock=clock)
        self._nonces = NonceIssuer(
            lifetime=nonce_lifetime, clock_skew=max_clock_skew, clock=clock
        )
        self._replay = ReplayCache(clock=clock)
        # Signature checks dominate the cost, so verified tokens and parsed proof keys are kept.
        self._verified_tokens: dict[str, dict[str, Any]] = {}
        self._proof_keys: dict[str, PublicKey] = {}
        algs = " ".join(self.algorithms)
        self._algs_param = f'algs="{algs}"'

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Admit the request with verified claims in ``scope["state"]`` or answer with an error."""
        if scope["type"] not in ("http", "websocket") or scope["path"] in self._exempt:
            await self.app(scope, receive, send)
            return
        try:
            claims = await self._authenticate(scope)
        except _Rejection as rejection:
            if rejection.error == "use_dpop_nonce":
                self.stats["nonce_challenges"] += 1
            else:
                self.stats["rejected"] += 1
            await self._reject(scope, send, rejection)
            return
        self.stats["verified"] += 1
        scope.setdefault("state", {})["dpop_token_claims"] = claims
        if not self.require_nonce or scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_nonce(message: Message) -> None:
            if message["type"] == "http.response.start":
                # RFC 9449 §9.2: a fresh nonce on every answer saves the client a challenge.
                headers = [*message.get("headers", ()), self._nonce_header()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_nonce)

    def _nonce_header(self) -> tuple[bytes, bytes]:
        return (b"dpop-nonce", self._nonces.current().encode("ascii"))

    async def _authenticate(self, scope: Scope) -> dict[str, Any]:
        authorizations: list[bytes] = []
        proofs: list[bytes] = []
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorizations.append(value)
            elif name == b"dpop":
                proofs.append(value)
        if self.certificate_bound and _scheme(authorizations) == "bearer":
            # RFC 8705 §3: a Bearer token bound to the connection's client certificate
            token = authorizations[0].decode("latin-1").partition(" ")[2].strip()
            if not token or " " in token or proofs:
                raise _token_error("Malformed Bearer Authorization header")
            claims = await self._verify_access_token(token, binding="x5t#S256")
            self._verify_certificate(scope, claims["cnf"]["x5t#S256"])
        else:
            token = self._access_token(authorizations)
            claims = await self._verify_access_token(token)
            self._verify_proof(scope, proofs, token, claims["cnf"]["jkt"])
        self._check_scopes(scope["path"], claims)
        return claims

    def _verify_certificate(self, scope: Scope, x5t: str) -> None:
        """The TLS client certificate's SHA-256 thumbprint must be the token's (RFC 8705 §3.1)."""
        tls = scope.get("extensions", {}).get("tls") or {}
        chain = tls.get("client_cert_chain") or []
        if not chain:
            raise _token_error("Certificate-bound token presented without a client certificate")
        der = ssl.PEM_cert_to_DER_cert(chain[0])
        actual = b64url_encode(hashlib.sha256(der).digest())
        if not hmac.compare_digest(actual, x5t):
            raise _token_error("Client certificate does not match the token binding")

    def _access_token(self, values: list[bytes]) -> str:
        """Extract the token from ``Authorization: DPoP <token>`` (RFC 9449 §7.1)."""
        if not values:
            # RFC 6750 §3.1: no error code when the request carries no credentials at all.
            raise _Rejection(401, None, "DPoP-bound access token required")
        if len(values) > 1:
            raise _Rejection(400, "invalid_request", "Multiple Authorization headers")
        scheme, _, token = values[0].decode("latin-1").partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer":
            raise _token_error("DPoP-bound token required")
        if scheme.lower() != "dpop" or not token or " " in token:
            raise _token_error("Malformed DPoP Authorization header")
        return token

    async def _verify_access_token(self, token: str, binding: str = "jkt") -> dict[str, Any]:
        """Validate a JWT access token (RFC 9068 §4) and return its claims."""
        claims = self._verified_tokens.get(token)
        if claims is None:
            claims = await self._verify_token_signature(token)
            if len(self._verified_tokens) >= _CACHE_LIMIT:
                self._verified_tokens.clear()
            self._verified_tokens[token] = claims
        self._check_token_claims(claims, binding)
        return claims

    async def _verify_token_signature(self, token: str) -> dict[str, Any]:
        try:
            jws = parse_compact(token)
        except JoseError as exc:
            raise _token_error("Access token is not a valid JWS") from exc
        alg = jws.header["alg"]
        # RFC 9068 §4: only the expected asymmetric algorithms, never "none" or HMAC.
        if alg not in self.algorithms:
            raise _token_error("Access token algorithm not allowed")
        typ = jws.header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in _ACCESS_TOKEN_TYPES):
            raise _token_error("Access token has the wrong typ")
        kid = jws.header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _token_error("Access token kid is malformed")
        try:
            keys = await self._jwks.keys_for(kid)
        except JWKSUnavailable as exc:
            raise _Rejection(
                503, "temporarily_unavailable", "Token signing keys unavailable"
            ) from exc
        for key in keys:
            try:
                check_signature(key, alg, jws.signing_input, jws.signature)
            except JoseError:
                continue
            return jws.claims
        raise _token_error("Access token signature is invalid")

    def _check_token_claims(self, claims: Mapping[str, Any], binding: str = "jkt") -> None:
        """Apply the RFC 9068 §4 claim checks and require a key binding (RFC 9449 §6.1)."""
        if claims.get("iss") != self.issuer:
            raise _token_error("Access token issuer is not trusted")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self.audience not in audiences:
            raise _token_error("Access token audience does not match")
        now = self._clock()
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise _token_error("Access token expired")
        if now >= exp + self.max_clock_skew:
            raise _token_error("Access token expired")
        nbf = claims.get("nbf")
        if nbf is not None and (not _is_number(nbf) or nbf > now + self.max_clock_skew):
            raise _token_error("Access token not yet valid")
        iat = claims.get("iat")
        if iat is not None and (not _is_number(iat) or iat > now + self.max_clock_skew):
            raise _token_error("Access token issued in the future")
        cnf = claims.get("cnf")
        bound = cnf.get(binding) if isinstance(cnf, dict) else None
        if not isinstance(bound, str) or not bound:
            raise _token_error("Access token is not DPoP-bound" if binding == "jkt"
                               else "Access token is not certificate-bound")

    def _verify_proof(self, scope: Scope, values: list[bytes], token: str, jkt: str) -> None:
        """Check the DPoP proof as RFC 9449 §4.3 and §7.1 require."""
        if len(values) != 1:
            # RFC 9449 §4.3 step 1: exactly one DPoP header field.
            raise _proof_error("Exactly one DPoP proof required")
        try:
            proof = parse_compact(values[0].decode("latin-1"))
        except JoseError as exc:
            raise _proof_error("DPoP proof is not a valid JWS") from exc
        header, claims = proof.header, proof.claims
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() != _PROOF_TYPE:
            raise _proof_error("DPoP proof typ must be dpop+jwt")
        alg = header["alg"]
        if alg not in self.algorithms:
            raise _proof_error("DPoP proof algorithm not allowed")
        jwk = header.get("jwk")
        if not isinstance(jwk, dict) or has_private_members(jwk):
            raise _proof_error("DPoP proof jwk must be a public key")
        try:
            thumbprint = jwk_thumbprint(jwk)
            key = self._proof_key(thumbprint, jwk)
        except JoseError as exc:
            raise _proof_error("DPoP proof jwk is not usable") from exc
        try:
            check_signature(key, alg, proof.signing_input, proof.signature)
        except JoseError as exc:
            raise _proof_error("DPoP proof signature is invalid") from exc
        if claims.get("htm") != scope["method"]:
            raise _proof_error("DPoP proof htm does not match the request method")
        self._check_htu(scope, claims.get("htu"))
        iat = claims.get("iat")
        now = self._clock()
        if not isinstance(iat, int | float) or isinstance(iat, bool):
            raise _proof_error("DPoP proof iat is missing")
        if not now - self.proof_max_age <= iat <= now + self.max_clock_skew:
            raise _proof_error("DPoP proof iat is outside the acceptable window")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > _MAX_JTI_LENGTH:
            raise _proof_error("DPoP proof jti is missing")
        ath = claims.get("ath")
        expected_ath = b64url_encode(hashlib.sha256(token.encode("ascii")).digest())
        if not isinstance(ath, str) or not hmac.compare_digest(ath, expected_ath):
            raise _proof_error("DPoP proof ath does not match the access token")
        if not hmac.compare_digest(thumbprint, jkt):
            raise _proof_error("DPoP proof key does not match the token binding")
        if self.require_nonce:
            self._check_nonce(claims.get("nonce"))
        try:
            # Stored last so that a refused proof does not burn its jti.
            self._replay.remember(f"{thumbprint}:{jti}", iat + self.proof_max_age + 1)
        except ReplayError as exc:
            raise _proof_error("DPoP proof jti has been used before") from exc

    def _check_nonce(self, nonce: object) -> None:
        """Demand a current server nonce (RFC 9449 §9)."""
        try:
            if not isinstance(nonce, str):
                raise NonceError("nonce missing")
            self._nonces.check(nonce)
        except NonceError as exc:
            raise _Rejection(401, "use_dpop_nonce", _NONCE_DESCRIPTION) from exc

    def _proof_key(self, thumbprint: str, jwk: Mapping[str, Any]) -> PublicKey:
        key = self._proof_keys.get(thumbprint)
        if key is None:
            key = public_key_from_jwk(jwk)
            if len(self._proof_keys) >= _CACHE_LIMIT:
                self._proof_keys.clear()
            self._proof_keys[thumbprint] = key
        return key

    def _check_htu(self, scope: Scope, htu: object) -> None:
        """Match ``htu`` to the request URL without query and fragment (RFC 9449 §4.3 step 9)."""
        if not isinstance(htu, str):
            raise _proof_error("DPoP proof htu is missing")
        try:
            matches = normalise_url(htu) == request_url(scope, self.public_base_url)
        except ValueError as exc:
            raise _proof_error("DPoP proof htu is not a valid URL") from exc
        if not matches:
            raise _proof_error("DPoP proof htu does not match the request URL")

    def _check_scopes(self, path: str, claims: Mapping[str, Any]) -> None:
        """Require the scopes configured for the path prefix (RFC 6750 §3.1 insufficient_scope)."""
        needed: set[str] = set()
        for prefix, scopes in self._scopes:
            if path == prefix or path.startswith(prefix + "/") or not prefix:
                needed |= scopes
        if not needed:
            return
        granted = claims.get("scope")
        have = set(granted.split()) if isinstance(granted, str) else set()
        missing = needed - have
        if missing:
            raise _Rejection(
                403, "insufficient_scope", "Access token lacks required scope",
                scope=" ".join(sorted(needed)),
            )

    def _challenge(self, rejection: _Rejection) -> str:
        if rejection.error is None:
            return f"DPoP {self._algs_param}"
        if rejection.error == "use_dpop_nonce":
            # RFC 9449 §9: the exact challenge clients look for.
            return f'DPoP error="use_dpop_nonce", error_description="{_NONCE_DESCRIPTION}"'
        params = [f'error="{rejection.error}"', f'error_description="{rejection.description}"']
        if rejection.scope is not None:
            params.append(f'scope="{rejection.scope}"')
        params.append(self._algs_param)
        return "DPoP " + ", ".join(params)

    async def _reject(self, scope: Scope, send: Send, rejection: _Rejection) -> None:
        if scope["type"] == "websocket":
            # RFC 6455 §7.4.1: 1008 is the policy-violation close code.
            await send({"type": "websocket.close", "code": 1008})
            return
        error = rejection.error or "invalid_token"
        body = json.dumps({"error": error, "error_description": rejection.description}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        if rejection.status != 503:
            headers.append((b"www-authenticate", self._challenge(rejection).encode()))
        if self.require_nonce:
            headers.append(self._nonce_header())
        await send({"type": "http.response.start", "status": rejection.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
