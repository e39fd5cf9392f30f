"""A small authorization server whose responses each test can corrupt, recording every call."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from joserfc import jwt
from joserfc.jwk import ECKey, OctKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class HostileAS:
    """An AS at ``url`` whose ``id_token_claims``/``token_response`` hooks corrupt its output."""

    url: str = ""
    key: ECKey = field(default_factory=lambda: ECKey.generate_key("P-256", private=True,
                                                                  auto_kid=True))
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    issued: list[dict[str, Any]] = field(default_factory=list)
    par_requests: list[dict[str, str]] = field(default_factory=list)
    id_token_claims: Callable[[dict[str, Any]], dict[str, Any]] = lambda c: c
    id_token_signer: Callable[[dict[str, Any]], str] | None = None
    token_response: Callable[[dict[str, Any]], dict[str, Any]] = lambda r: r
    token_error: str | None = None
    demand_nonce: bool = True
    client_id: str = "bff"
    userinfo_claims: dict[str, Any] = field(default_factory=lambda: {"sub": "mallory"})
    userinfo_invalid_token: int = 0  # answer this many userinfo calls 401 invalid_token first

    def secrets(self) -> list[str]:
        """Every secret the BFF sent or was given: codes, PKCE verifiers, assertions, tokens."""
        found = [form[k] for _, form in self.calls for k in (
            "code", "code_verifier", "client_assertion", "refresh_token", "token") if form.get(k)]
        found += [body[k] for body in self.issued
                  for k in ("access_token", "refresh_token", "id_token")
                  if isinstance(body.get(k), str)]
        return found

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.calls if p == path)

    def sign(self, claims: dict[str, Any]) -> str:
        if self.id_token_signer is not None:
            return self.id_token_signer(claims)
        return jwt.encode({"alg": "ES256", "kid": self.key.kid}, claims, self.key,
                          algorithms=["ES256"])

    def app(self) -> Starlette:
        async def metadata(request: Request) -> Response:
            u = self.url
            return JSONResponse({
                "issuer": u, "authorization_endpoint": f"{u}/auth", "token_endpoint": f"{u}/token",
                "jwks_uri": f"{u}/jwks", "pushed_authorization_request_endpoint": f"{u}/par",
                "userinfo_endpoint": f"{u}/me", "revocation_endpoint": f"{u}/revoke",
                "end_session_endpoint": f"{u}/logout"})

        async def jwks(request: Request) -> Response:
            return JSONResponse({"keys": [self.key.as_dict(private=False)]})

        async def record(request: Request) -> dict[str, str]:
            form = dict(parse_qsl((await request.body()).decode()))
            self.calls.append((request.url.path, form))
            return form

        def needs_nonce(request: Request) -> bool:
            if not self.demand_nonce:
                return False
            proof = request.headers.get("dpop", "")
            claims = json.loads(base64.urlsafe_b64decode(proof.split(".")[1] + "==="))
            return claims.get("nonce") != "n-1"

        def nonce_error() -> Response:
            return JSONResponse({"error": "use_dpop_nonce"}, 400, headers={"DPoP-Nonce": "n-1"})

        async def par(request: Request) -> Response:
            form = await record(request)
            if needs_nonce(request):
                return nonce_error()
            self.par_requests.append(form)
            return JSONResponse({"request_uri": "urn:ietf:params:oauth:request_uri:x",
                                 "expires_in": 60}, 201)

        async def token(request: Request) -> Response:
            await record(request)
            if needs_nonce(request):
                return nonce_error()
            if self.token_error:
                return JSONResponse({"error": self.token_error}, 400)
            nonce = self.par_requests[-1]["nonce"] if self.par_requests else ""
            now = int(time.time())
            claims = self.id_token_claims({"iss": self.url, "aud": self.client_id,
                                           "sub": "mallory", "nonce": nonce, "iat": now,
                                           "exp": now + 300})
            body = self.token_response({
                "access_token": secrets.token_urlsafe(32), "token_type": "DPoP",
                "expires_in": 300, "refresh_token": secrets.token_urlsafe(32),
                "id_token": self.sign(claims), "scope": "openid"})
            self.issued.append(body)
            return JSONResponse(body)

        async def me(request: Request) -> Response:
            self.calls.append(("/me", {}))
            if self.userinfo_invalid_token > 0:
                self.userinfo_invalid_token -= 1
                return JSONResponse({"error": "invalid_token"}, 401, headers={
                    "WWW-Authenticate": 'DPoP error="invalid_token"'})
            return JSONResponse(self.userinfo_claims)

        async def revoke(request: Request) -> Response:
            await record(request)
            return Response(status_code=200)

        return Starlette(routes=[
            Route("/.well-known/openid-configuration", metadata),
            Route("/jwks", jwks), Route("/par", par, methods=["POST"]),
            Route("/token", token, methods=["POST"]), Route("/me", me),
            Route("/revoke", revoke, methods=["POST"])])


def unsigned(claims: dict[str, Any]) -> str:
    """An ``alg: none`` token."""
    return f"{b64(json.dumps({'alg': 'none'}).encode())}.{b64(json.dumps(claims).encode())}."


def hs256(claims: dict[str, Any]) -> str:
    """An HS256 token keyed with a guessable secret."""
    key = OctKey.import_key(b"secret-secret-secret-secret-secret!")
    return jwt.encode({"alg": "HS256"}, claims, key, algorithms=["HS256"])
