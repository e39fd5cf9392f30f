"""The phantom-token gateway: an ASGI app that admits opaque sender-constrained tokens and
forwards each call to one upstream API with a JWT the gateway signs.

It reuses :class:`DPoPGuard` for everything a DPoP resource server checks (proof, ``htu``,
nonce, replay, certificate binding) and only swaps how a token's claims are learned: by
introspection at the AS (RFC 7662), cached by the token's hash.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Final

import aiohttp
from example_api.dpop_guard import DPoPGuard, Message, Receive, Scope, Send, _Rejection
from example_api.jose import b64url_encode
from joserfc import jwt
from joserfc.jwk import JWKRegistry

from gateway.cache import Introspected, IntrospectionCache, token_key
from gateway.introspection import IntrospectionUnavailable, Introspector

# RFC 9110 §7.6.1 hop-by-hop fields, plus what the gateway replaces or must never pass on
_DROPPED: Final = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te",
    b"trailer", b"transfer-encoding", b"upgrade", b"host", b"authorization", b"dpop",
})
# introspection members that describe the opaque token itself; never forwarded
_NOT_FORWARDED: Final = frozenset({
    "active", "token_type", "jti", "iss", "aud", "exp", "iat", "nbf", "cnf", "username",
})
FORWARDED_TYPE: Final = "at+jwt"
STATS_PATH: Final = "/__gateway/stats"


def _inactive(description: str) -> _Rejection:
    return _Rejection(401, "invalid_token", description)


class PhantomTokenGateway(DPoPGuard):
    """Introspect, check proof of possession, then forward with a gateway-signed JWT."""

    def __init__(self, *, issuer: str, resource: str, introspector: Introspector,
                 upstream: str, upstream_audience: str, signing_jwk: Mapping[str, Any],
                 gateway_issuer: str, cache: IntrospectionCache | None = None,
                 public_base_url: str | None = None, certificate_bound: bool = False,
                 algorithms: Iterable[str] = ("ES256", "PS256", "EdDSA"),
                 require_nonce: bool = True, clock: Callable[[], float] = time.time) -> None:
        """``issuer``/``resource``: what the introspected token must name (its iss and aud)."""
        forwarder = _Forwarder(upstream=upstream, audience=upstream_audience,
                               signing_jwk=signing_jwk, issuer=gateway_issuer, clock=clock)
        # the JWKS of DPoPGuard is never used: tokens are introspected, not verified as JWTs
        super().__init__(forwarder, issuer=issuer, audience=resource, jwks_uri="",
                         public_base_url=public_base_url, exempt_paths=(STATS_PATH,),
                         algorithms=algorithms, require_nonce=require_nonce, clock=clock,
                         certificate_bound=certificate_bound)
        self.forwarder = forwarder
        self.introspector = introspector
        self.cache = cache or IntrospectionCache(clock=clock)
        self._pending: dict[bytes, asyncio.Future[Introspected]] = {}
        self.stats.update(introspections=0, introspection_failures=0, forwarded=0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the stats path and the lifespan, else guard and forward."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "http" and scope["path"] == STATS_PATH:
            body = json.dumps({**self.stats, "cached": len(self.cache)}).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        await super().__call__(scope, receive, send)

    async def _verify_access_token(self, token: str, binding: str = "jkt") -> dict[str, Any]:
        """The token's claims from the AS (cached), checked as a JWT's would be."""
        entry = await self._introspected(token)
        if entry.claims is None:
            raise _inactive("Access token is not active")
        claims = entry.claims
        # RFC 9449 §6.2 and RFC 8705 §3.2: the AS says how the token is bound
        token_type = claims.get("token_type")
        expected = "dpop" if binding == "jkt" else "bearer"
        if not isinstance(token_type, str) or token_type.lower() != expected:
            raise _inactive("Access token has the wrong token_type")
        self._check_token_claims(claims, binding)
        return claims

    async def _introspected(self, token: str) -> Introspected:
        """One introspection per token while cached; concurrent callers share it."""
        entry = self.cache.get(token)
        if entry is not None:
            return entry
        key = token_key(token)
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Introspected] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            self.stats["introspections"] += 1
            answer = await self.introspector.introspect(token)
            entry = self.cache.put(token, answer if answer.get("active") is True else None)
            future.set_result(entry)
            return entry
        except IntrospectionUnavailable as exc:
            self.stats["introspection_failures"] += 1
            rejection = _Rejection(503, "temporarily_unavailable",
                                   "Token introspection unavailable")
            future.set_exception(rejection)
            raise rejection from exc
        except BaseException:
            future.cancel()
            raise
        finally:
            del self._pending[key]
            # nobody may be waiting: retrieve the exception so asyncio does not log it
            if future.done() and not future.cancelled():
                future.exception()

    async def aclose(self) -> None:
        """Close the connection pools (toward the API and the AS)."""
        await self.forwarder.aclose()
        await self.introspector.aclose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


class _Forwarder:
    """Streams a guarded request to the upstream with ``Authorization: Bearer <gateway JWT>``."""

    def __init__(self, *, upstream: str, audience: str, signing_jwk: Mapping[str, Any],
                 issuer: str, clock: Callable[[], float]) -> None:
        self.upstream = upstream.rstrip("/")
        self.audience = audience
        self.issuer = issuer
        self._key = JWKRegistry.import_key(dict(signing_jwk))
        self._alg = str(signing_jwk.get("alg", "ES256"))
        self._kid = signing_jwk.get("kid")
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self.forwarded = 0

    def mint(self, claims: Mapping[str, Any], token_hash: str) -> str:
        """The JWT the API sees: the token's claims, our issuer, the API's audience."""
        now = int(self._clock())
        body = {k: v for k, v in claims.items() if k not in _NOT_FORWARDED}
        # jti: stable per opaque token (one-time approvals stay one-time) but not the token
        body.update(iss=self.issuer, aud=self.audience, iat=now, exp=claims["exp"],
                    jti=token_hash)
        header: dict[str, Any] = {"alg": self._alg, "typ": FORWARDED_TYPE}
        if isinstance(self._kid, str):
            header["kid"] = self._kid
        return jwt.encode(header, body, self._key, algorithms=[self._alg])

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None, connect=5))
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        claims = scope["state"]["dpop_token_claims"]
        token = _token_of(scope["headers"])
        forwarded = self.mint(claims, b64url_encode(token_key(token)))
        headers = [(k.decode("latin-1"), v.decode("latin-1"))
                   for k, v in scope["headers"] if k not in _DROPPED]
        headers.append(("authorization", f"Bearer {forwarded}"))
        path = scope.get("raw_path") or scope["path"].encode()
        url = self.upstream + path.split(b"?", 1)[0].decode("latin-1")
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        has_body = any(k in (b"content-length", b"transfer-encoding") for k, _ in scope["headers"])
        try:
            response = await self._client().request(
                scope["method"], url, headers=headers, allow_redirects=False,
                data=_body(receive) if has_body else None, skip_auto_headers=("User-Agent",))
        except (TimeoutError, aiohttp.ClientError, OSError):
            await _json(send, 502, "upstream_unreachable", "The upstream API is unreachable")
            return
        self.forwarded += 1
        async with response:
            out = [(k.lower(), v) for k, v in response.raw_headers
                   if k.lower() not in _DROPPED]
            await send({"type": "http.response.start", "status": response.status,
                        "headers": out})
            async for chunk in response.content.iter_chunked(64 * 1024):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})


def _token_of(headers: Iterable[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"authorization":
            return value.decode("latin-1").partition(" ")[2].strip()
    return ""  # pragma: no cover (the guard admitted only requests with a token)


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body"):
            return


async def _json(send: Send, status: int, error: str, description: str) -> None:
    body = json.dumps({"error": error, "error_description": description}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})
