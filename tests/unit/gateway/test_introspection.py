"""Introspection answers the gateway accepts (RFC 7662 §2.2, RFC 9701 §5) and those it refuses."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from gateway.cache import IntrospectionCache
from gateway.gateway import PhantomTokenGateway
from gateway.introspection import JWT_RESPONSE_TYPE, IntrospectionUnavailable, Introspector
from joserfc import jwt
from joserfc.jwk import JWKRegistry

from bff.crypto.keys import generate_signing_jwk, public_jwk

ISSUER = "https://as.example"
CLIENT_ID = "gateway"
AS_KEY = generate_signing_jwk("ES256", kid="as-1")
OTHER_KEY = generate_signing_jwk("ES256", kid="as-1")
# a day ahead: the module is imported when the suite is collected, minutes before this runs
ANSWER = {"active": True, "sub": "alice", "exp": int(time.time()) + 86400, "token_type": "DPoP"}


def signed(claims: dict[str, Any], *, key: dict[str, Any] = AS_KEY,
           typ: str = "token-introspection+jwt") -> str:
    return jwt.encode({"alg": "ES256", "typ": typ, "kid": "as-1"}, claims,
                      JWKRegistry.import_key(key))


def good_jwt() -> dict[str, Any]:
    return {"iss": ISSUER, "aud": CLIENT_ID, "iat": int(time.time()),
            "token_introspection": ANSWER}


def fake_as(answer: Callable[[httpx.Request], httpx.Response], *, offers_jwt: bool = True,
            seen: list[httpx.Request] | None = None) -> httpx.AsyncClient:
    """An in-process AS: metadata, keys and an introspection endpoint."""
    metadata: dict[str, Any] = {"issuer": ISSUER, "jwks_uri": f"{ISSUER}/jwks",
                                "introspection_endpoint": f"{ISSUER}/introspect"}
    if offers_jwt:
        metadata["introspection_signing_alg_values_supported"] = ["ES256"]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json=metadata)
        if request.url.path == "/jwks":
            return httpx.Response(200, json={"keys": [public_jwk(AS_KEY)]})
        if seen is not None:
            seen.append(request)
        return answer(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def introspector(http: httpx.AsyncClient) -> Introspector:
    return Introspector(issuer=ISSUER, client_id=CLIENT_ID,
                        client_jwk=generate_signing_jwk("ES256"), http_client=http)


def jwt_response(text: str, content_type: str = JWT_RESPONSE_TYPE) -> httpx.Response:
    return httpx.Response(200, text=text, headers={"content-type": content_type})


@pytest.mark.anyio
@pytest.mark.spec("RFC 9701 §4")
async def test_a_signed_answer_is_asked_for_with_private_key_jwt_and_accepted() -> None:
    seen: list[httpx.Request] = []
    http = fake_as(lambda r: jwt_response(signed(good_jwt())), seen=seen)
    assert await introspector(http).introspect("tok") == ANSWER
    request = seen[0]
    assert request.headers["accept"] == JWT_RESPONSE_TYPE
    form = parse_qs(request.content.decode())
    assert form["token"] == ["tok"] and form["token_type_hint"] == ["access_token"]
    payload = form["client_assertion"][0].split(".")[1]
    assertion = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    # RFC 7523 §3: iss = sub = our client id, aud = the issuer
    assert assertion["iss"] == assertion["sub"] == CLIENT_ID and assertion["aud"] == ISSUER


@pytest.mark.anyio
@pytest.mark.spec("RFC 9701 §5")
@pytest.mark.parametrize("response", [
    pytest.param(lambda: jwt_response(signed(good_jwt(), typ="JWT")), id="wrong-typ"),
    pytest.param(lambda: jwt_response(signed(good_jwt(), key=OTHER_KEY)), id="other-signer"),
    pytest.param(lambda: jwt_response(signed({**good_jwt(), "aud": "someone-else"})),
                 id="other-audience"),
    pytest.param(lambda: jwt_response(signed({**good_jwt(), "iss": "https://evil.example"})),
                 id="other-issuer"),
    pytest.param(lambda: jwt_response(signed({**good_jwt(), "iat": int(time.time()) - 600})),
                 id="stale"),
    pytest.param(lambda: jwt_response(signed({**good_jwt(), "token_introspection": "x"})),
                 id="no-answer-object"),
    pytest.param(lambda: httpx.Response(200, json=ANSWER), id="unsigned-json-when-jwt-asked"),
    pytest.param(lambda: jwt_response(signed(good_jwt()).rsplit(".", 1)[0] + ".AAAA"),
                 id="bad-signature"),
    pytest.param(lambda: httpx.Response(401, json={"error": "invalid_client"}),
                 id="our-credentials-refused"),
    pytest.param(lambda: httpx.Response(503), id="as-down"),
])
async def test_an_untrustworthy_answer_is_an_introspection_failure(
        response: Callable[[], httpx.Response]) -> None:
    http = fake_as(lambda r: response())
    with pytest.raises(IntrospectionUnavailable):
        await introspector(http).introspect("tok")


@pytest.mark.anyio
@pytest.mark.spec("RFC 7662 §2.2")
async def test_plain_json_is_used_when_the_as_offers_no_signed_answers() -> None:
    seen: list[httpx.Request] = []
    http = fake_as(lambda r: httpx.Response(200, json=ANSWER), offers_jwt=False, seen=seen)
    assert await introspector(http).introspect("tok") == ANSWER
    assert seen[0].headers["accept"] == "application/json"


@pytest.mark.anyio
@pytest.mark.spec("RFC 7662 §2.2")
async def test_an_answer_without_active_is_an_introspection_failure() -> None:
    http = fake_as(lambda r: httpx.Response(200, json={"sub": "alice"}), offers_jwt=False)
    with pytest.raises(IntrospectionUnavailable):
        await introspector(http).introspect("tok")


@pytest.mark.anyio
async def test_concurrent_calls_with_one_token_share_one_introspection() -> None:
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return jwt_response(signed(good_jwt()))

    calls: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={
                "issuer": ISSUER, "jwks_uri": f"{ISSUER}/jwks",
                "introspection_endpoint": f"{ISSUER}/introspect",
                "introspection_signing_alg_values_supported": ["ES256"]})
        if request.url.path == "/jwks":
            return httpx.Response(200, json={"keys": [public_jwk(AS_KEY)]})
        calls.append(request)
        return await slow(request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    gateway = PhantomTokenGateway(
        issuer=ISSUER, resource="https://api.example/", introspector=introspector(http),
        upstream="http://127.0.0.1:9", upstream_audience="api",
        signing_jwk=generate_signing_jwk("ES256"), gateway_issuer="gw",
        cache=IntrospectionCache(max_age=30))
    waiters = [asyncio.create_task(gateway._introspected("tok")) for _ in range(5)]
    await asyncio.sleep(0.05)
    release.set()
    entries = await asyncio.gather(*waiters)
    assert len(calls) == 1
    assert all(e.claims == ANSWER for e in entries)
    assert (await gateway._introspected("tok")).claims == ANSWER and len(calls) == 1
