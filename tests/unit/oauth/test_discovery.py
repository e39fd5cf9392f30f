"""Authorization server metadata and JWKS (RFC 8414), against httpx.MockTransport."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from joserfc.jwk import KeySet

from bff.crypto.keys import generate_signing_jwk, public_jwk
from bff.errors import AuthorizationServerTimeout, AuthorizationServerUnavailable, InvalidMetadata
from bff.oauth.clock import FrozenClock
from bff.oauth.discovery import Discovery, process_jwks_response, process_metadata_response
from tests.unit.oauth.fake_as import ISSUER, FakeAS, json_response, metadata

WELL_KNOWN = "/.well-known/openid-configuration"


def jwks(*kids: str) -> dict[str, Any]:
    return {"keys": [public_jwk(generate_signing_jwk("ES256", kid=k)) for k in kids]}


def test_metadata_parsed() -> None:
    meta = process_metadata_response(json_response(metadata(revocation_endpoint=5)), ISSUER)
    assert meta.issuer == ISSUER
    assert meta.pushed_authorization_request_endpoint == f"{ISSUER}/par"
    assert meta.userinfo_endpoint == f"{ISSUER}/me"
    assert meta.revocation_endpoint is None
    assert meta.introspection_endpoint is None


@pytest.mark.spec("RFC 8414 §3.3")
@pytest.mark.parametrize("issuer", ["https://evil.example", ISSUER + "/", "", None])
def test_issuer_mismatch_refused(issuer: str | None) -> None:
    """RFC 8414 §3.3: the metadata issuer must be identical to the configured issuer."""
    with pytest.raises(InvalidMetadata, match="issuer"):
        process_metadata_response(json_response(metadata(issuer=issuer)), ISSUER)


@pytest.mark.spec("FAPI 2.0 Security Profile §5.3.2.1")
@pytest.mark.parametrize("missing", ["authorization_endpoint", "token_endpoint", "jwks_uri",
                                     "pushed_authorization_request_endpoint"])
def test_required_endpoints(missing: str) -> None:
    """FAPI 2.0 Security Profile §5.3.2.1: PAR, token, authorize and JWKS endpoints are required."""
    with pytest.raises(InvalidMetadata, match=missing):
        process_metadata_response(json_response(metadata(**{missing: None})), ISSUER)


def test_metadata_http_error() -> None:
    with pytest.raises(InvalidMetadata, match="500"):
        process_metadata_response(json_response(metadata(), 500), ISSUER)


def test_jwks_keeps_only_public_signing_keys() -> None:
    signing = public_jwk(generate_signing_jwk("ES256", kid="sig"))
    enc = {**public_jwk(generate_signing_jwk("ES256", kid="enc")), "use": "enc"}
    private = generate_signing_jwk("ES256", kid="private")
    keys = process_jwks_response(json_response({"keys": [signing, enc, private, "junk"]}))
    assert [k.kid for k in keys.keys] == ["sig"]


@pytest.mark.parametrize("response", [
    json_response({"keys": [{"kty": "EC", "crv": "P-256", "x": "bad"}]}),
    json_response(jwks("a"), 503),
])
def test_jwks_malformed_or_unavailable(response: httpx.Response) -> None:
    with pytest.raises(InvalidMetadata):
        process_jwks_response(response)


@pytest.mark.anyio
async def test_metadata_is_cached_until_ttl(clock: FrozenClock) -> None:
    fake = FakeAS()
    fake.on(WELL_KNOWN, json_response(metadata()))
    async with fake.client() as http:
        discovery = Discovery(ISSUER, http, clock, ttl=100)
        await discovery.metadata()
        await discovery.metadata()
        assert fake.paths() == [WELL_KNOWN]
        clock.advance(101)
        await discovery.metadata()
    assert fake.paths() == [WELL_KNOWN, WELL_KNOWN]


@pytest.mark.anyio
async def test_well_known_url_under_an_issuer_path(clock: FrozenClock) -> None:
    fake = FakeAS()
    issuer = f"{ISSUER}/tenant/"
    fake.on(f"/tenant{WELL_KNOWN}", json_response(metadata(issuer=issuer)))
    async with fake.client() as http:
        assert (await Discovery(issuer, http, clock).metadata()).issuer == issuer


@pytest.mark.spec("RFC 8414 §3.3")
@pytest.mark.anyio
async def test_discovery_refuses_issuer_mismatch(clock: FrozenClock) -> None:
    """RFC 8414 §3.3: a metadata document for another issuer is refused and not cached."""
    fake = FakeAS()
    fake.on(WELL_KNOWN, json_response(metadata(issuer="https://evil.example")))
    async with fake.client() as http:
        discovery = Discovery(ISSUER, http, clock)
        for _ in range(2):
            with pytest.raises(InvalidMetadata):
                await discovery.metadata()
    assert fake.paths() == [WELL_KNOWN, WELL_KNOWN]


@pytest.mark.spec("OpenID Connect Core §10.1.1")
@pytest.mark.anyio
async def test_jwks_refetched_once_on_unknown_kid_and_rate_limited(clock: FrozenClock) -> None:
    """OpenID Connect Core §10.1.1: an unknown kid refetches the JWKS, rate-limited."""
    fake = FakeAS()
    fake.on(WELL_KNOWN, json_response(metadata()))
    fake.on("/jwks", json_response(jwks("old")), json_response(jwks("old", "new")))
    async with fake.client() as http:
        discovery = Discovery(ISSUER, http, clock, jwks_min_refresh=30)
        assert [k.kid for k in (await discovery.jwks("old")).keys] == ["old"]
        assert [k.kid for k in (await discovery.jwks("new")).keys] == ["old"]
        assert fake.paths().count("/jwks") == 1
        clock.advance(31)
        keys = await discovery.jwks("new")
        assert sorted(k.kid or "" for k in keys.keys) == ["new", "old"]
        assert fake.paths().count("/jwks") == 2
        await discovery.jwks("unknown")
        await discovery.jwks("new")
        await discovery.jwks(None)
    assert fake.paths().count("/jwks") == 2


@pytest.mark.anyio
async def test_jwks_refetched_when_stale(clock: FrozenClock) -> None:
    fake = FakeAS()
    fake.on(WELL_KNOWN, json_response(metadata()))
    fake.on("/jwks", json_response(jwks("a")))
    async with fake.client() as http:
        discovery = Discovery(ISSUER, http, clock, ttl=100)
        await discovery.jwks()
        clock.advance(101)
        await discovery.jwks()
    assert fake.paths().count("/jwks") == 2


@pytest.mark.anyio
@pytest.mark.parametrize(("exc", "error"), [
    (httpx.ConnectError("refused"), AuthorizationServerUnavailable),
    (httpx.ReadTimeout("slow"), AuthorizationServerTimeout),
])
async def test_transport_failures(exc: Exception, error: type[Exception],
                                  clock: FrozenClock) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    async with httpx.AsyncClient(transport=httpx.MockTransport(fail)) as http:
        with pytest.raises(error):
            await Discovery(ISSUER, http, clock).metadata()


class CountingJWKS:
    """An AS whose JWKS answers are held until released, counting the fetches."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.fetches = 0
        self.release = asyncio.Event()

    async def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == WELL_KNOWN:
            return json_response(metadata())
        self.fetches += 1
        await self.release.wait()
        answer = self.answers[min(self.fetches, len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


async def burst(discovery: Discovery, kids: list[str], gate: CountingJWKS) -> list[Any]:
    tasks = [asyncio.ensure_future(discovery.jwks(kid)) for kid in kids]
    await asyncio.sleep(0.01)  # every caller is now waiting on the held answer
    gate.release.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.spec("OpenID Connect Core §10.1.1")
@pytest.mark.anyio
async def test_concurrent_unknown_kids_share_one_jwks_fetch(clock: FrozenClock) -> None:
    """200 tokens with made-up kids at once: one JWKS request, and none in the cool-down."""
    gate = CountingJWKS(json_response(jwks("a")), json_response(jwks("a")))
    async with httpx.AsyncClient(transport=httpx.MockTransport(gate.handler)) as http:
        discovery = Discovery(ISSUER, http, clock, jwks_min_refresh=30)
        gate.release.set()
        await discovery.jwks("a")
        gate.release.clear()
        clock.advance(31)
        results = await burst(discovery, [f"forged-{i}" for i in range(200)], gate)
        assert all(isinstance(r, KeySet) for r in results)
        assert gate.fetches == 2
        clock.advance(10)
        await asyncio.gather(*(discovery.jwks(f"again-{i}") for i in range(200)))
        assert gate.fetches == 2


@pytest.mark.anyio
async def test_a_failed_jwks_fetch_is_shared_and_starts_the_cool_down(clock: FrozenClock) -> None:
    """While the AS key set fails, a burst is one request and the cool-down holds retries off."""
    gate = CountingJWKS(httpx.ConnectError("refused"), json_response(jwks("a")))
    async with httpx.AsyncClient(transport=httpx.MockTransport(gate.handler)) as http:
        discovery = Discovery(ISSUER, http, clock, jwks_min_refresh=30,
                              jwks_failure_cooldown=5)
        results = await burst(discovery, [f"k-{i}" for i in range(200)], gate)
        assert all(isinstance(r, AuthorizationServerUnavailable) for r in results)
        assert gate.fetches == 1
        for _ in range(50):
            with pytest.raises(AuthorizationServerUnavailable):
                await discovery.jwks("k")
        assert gate.fetches == 1
        clock.advance(6)
        assert [k.kid for k in (await discovery.jwks("a")).keys] == ["a"]
        assert gate.fetches == 2


@pytest.mark.anyio
async def test_a_cancelled_caller_does_not_cancel_the_shared_fetch(clock: FrozenClock) -> None:
    gate = CountingJWKS(json_response(jwks("a")))
    async with httpx.AsyncClient(transport=httpx.MockTransport(gate.handler)) as http:
        discovery = Discovery(ISSUER, http, clock)
        first = asyncio.ensure_future(discovery.jwks("a"))
        second = asyncio.ensure_future(discovery.jwks("a"))
        await asyncio.sleep(0.01)
        first.cancel()
        gate.release.set()
        assert [k.kid for k in (await second).keys] == ["a"]
        assert gate.fetches == 1


# -- every endpoint https; plain http only to loopback for a loopback issuer or [insecure] ----

_ENDPOINT_FIELDS = ["pushed_authorization_request_endpoint", "token_endpoint",
                    "userinfo_endpoint", "revocation_endpoint", "introspection_endpoint",
                    "end_session_endpoint", "jwks_uri", "authorization_endpoint"]


@pytest.mark.spec("FAPI 2.0 Security Profile §5.2.1")
@pytest.mark.parametrize("field", _ENDPOINT_FIELDS)
@pytest.mark.parametrize("url", ["http://as.example/x", "http://127.0.0.1/x", "ftp://as.example/x",
                                 "javascript:alert(1)", "//as.example/x", "/token",
                                 "https://user@as.example/x", "https://as.example:99999/x",
                                 "http://localhost/x", "https:///x"])
def test_non_https_endpoint_refused(field: str, url: str, caplog: pytest.LogCaptureFixture) -> None:
    """FAPI 2.0 §5.2.1 (TLS everywhere): an endpoint that is not https is refused, and the log
    says which field."""
    with pytest.raises(InvalidMetadata, match=field):
        process_metadata_response(json_response(metadata(**{field: url})), ISSUER)
    assert any(getattr(r, "field", None) == field for r in caplog.records)


@pytest.mark.parametrize("field", _ENDPOINT_FIELDS)
def test_loopback_http_allowed_for_a_loopback_issuer_or_when_insecure(field: str) -> None:
    local = "http://127.0.0.1:9000"
    doc = {k: f"{local}/{k}" for k in _ENDPOINT_FIELDS}
    meta = process_metadata_response(json_response({**doc, "issuer": local}), local)
    assert getattr(meta, field) == f"{local}/{field}"
    with pytest.raises(InvalidMetadata, match=field):
        process_metadata_response(json_response(metadata(**{field: "http://127.0.0.1/x"})),
                                  ISSUER)
    meta = process_metadata_response(json_response(metadata(**{field: "http://[::1]:8/x"})),
                                     ISSUER, loopback_endpoints=True)
    assert getattr(meta, field) == "http://[::1]:8/x"
    with pytest.raises(InvalidMetadata, match=field):
        process_metadata_response(json_response(metadata(**{field: "http://as.example/x"})),
                                  ISSUER, loopback_endpoints=True)
    with pytest.raises(InvalidMetadata, match=field):
        process_metadata_response(json_response(
            {**doc, "issuer": local, field: "http://10.0.0.1/x"}), local)


@pytest.mark.spec("FAPI 2.0 Security Profile §5.4")
def test_rsa_keys_under_2048_bits_are_left_out_of_the_key_set() -> None:
    """FAPI 2.0 §5.4 (RSA keys of at least 2048 bits): a 1024-bit AS key is not trusted."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    from bff.crypto.seal import b64url_encode

    def jwk(bits: int, kid: str) -> dict[str, Any]:
        numbers = rsa.generate_private_key(65537, bits).public_key().public_numbers()
        return {"kty": "RSA", "kid": kid, "e": "AQAB",
                "n": b64url_encode(numbers.n.to_bytes((bits + 7) // 8, "big"))}

    small, big = jwk(1024, "small"), jwk(2048, "big")
    keys = process_jwks_response(json_response({"keys": [small, big]}))
    assert [k.kid for k in keys.keys] == ["big"]


@pytest.mark.spec("RFC 8705 §5")
def test_mtls_endpoint_aliases_are_parsed_and_must_be_https() -> None:
    aliases = {"token_endpoint": "https://mtls.as.example/token", "unknown": "http://x/"}
    meta = process_metadata_response(json_response(metadata(mtls_endpoint_aliases=aliases)),
                                     ISSUER)
    assert meta.mtls_endpoint_aliases == {"token_endpoint": "https://mtls.as.example/token"}
    # plain http is refused for an alias even when the issuer is a loopback dev AS
    for bad in ({"token_endpoint": "http://127.0.0.1:1/token"}, ["x"],
                {"token_endpoint": 5}):
        with pytest.raises(InvalidMetadata):
            process_metadata_response(json_response(metadata(mtls_endpoint_aliases=bad)),
                                      ISSUER, loopback_endpoints=True)
