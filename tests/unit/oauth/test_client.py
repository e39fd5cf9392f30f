"""The FapiClient façade against a scripted AS on httpx.MockTransport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc.jwk import KeySet

from bff.crypto.keys import generate_signing_jwk, public_jwk
from bff.errors import (
    AuthorizationServerError,
    AuthorizationServerTimeout,
    AuthorizationServerUnavailable,
    BearerDowngrade,
    DPoPBindingMissing,
    DPoPNonceRequired,
)
from bff.oauth.client import (
    AuthorizationRequest,
    ClientSettings,
    FapiClient,
    check_dpop_binding,
)
from bff.oauth.client_auth import ASSERTION_TYPE
from bff.oauth.clock import FrozenClock
from bff.oauth.dpop import DPoPKey, access_token_hash
from bff.oauth.jws import JWSSigner, verify
from tests.unit.oauth.conftest import claims_of
from tests.unit.oauth.fake_as import ISSUER, FakeAS, json_response, metadata

WELL_KNOWN = "/.well-known/openid-configuration"
REQUEST_URI = "urn:ietf:params:oauth:request_uri:abc"
PAR_OK = json_response({"request_uri": REQUEST_URI, "expires_in": 60}, 201)
NONCE_ERROR = json_response({"error": "use_dpop_nonce"}, 400, DPoP_Nonce="server-nonce-1")
TOKENS_OK = json_response({"access_token": "at-1", "token_type": "DPoP", "expires_in": 300,
                           "refresh_token": "rt-1", "id_token": "x.y.z"})


@pytest.fixture(scope="module")
def client_signer() -> JWSSigner:
    return JWSSigner(generate_signing_jwk("ES256", kid="client"))


@pytest.fixture
def client_keys(client_signer: JWSSigner) -> KeySet:
    return KeySet.import_key_set({"keys": [client_signer.public_jwk]})


@pytest.fixture
def fake() -> FakeAS:
    fake = FakeAS()
    fake.on(WELL_KNOWN, json_response(metadata()))
    return fake


@pytest.fixture
async def client(fake: FakeAS, client_signer: JWSSigner,
                 clock: FrozenClock) -> AsyncIterator[FapiClient]:
    settings = ClientSettings(issuer=ISSUER, client_id="bff", signer=client_signer,
                              redirect_uri="https://app.example/", scope="openid profile",
                              post_logout_redirect_uri="https://app.example/bye",
                              authorization_params={"prompt": "consent"})
    async with fake.client() as http:
        yield FapiClient(settings, http, clock)


@pytest.fixture
def dpop_key(clock: FrozenClock) -> DPoPKey:
    return DPoPKey(generate_signing_jwk("ES256"), clock)


def login(dpop_key: DPoPKey, **changes: Any) -> AuthorizationRequest:
    values: dict[str, Any] = {"state": "st-1", "nonce": "no-1",
                              "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                              "dpop_key": dpop_key}
    values.update(changes)
    return AuthorizationRequest(**values)


def one(form: dict[str, list[str]], name: str) -> str:
    assert len(form[name]) == 1, name
    return form[name][0]


@pytest.mark.spec("FAPI 2.0 Security Profile §5.3.2.2")
@pytest.mark.anyio
async def test_par_sends_pkce_dpop_jkt_and_client_assertion(
        client: FapiClient, fake: FakeAS, dpop_key: DPoPKey, client_keys: KeySet) -> None:
    """FAPI 2.0 Security Profile §5.3.2.2: PAR has PKCE S256, dpop_jkt and a client assertion."""
    fake.on("/par", PAR_OK)
    url = await client.push_authorization(login(dpop_key, resource=("https://api.example/",),
                                                extra_params={"ui_locales": "de"}))
    assert parse_qs(urlsplit(url).query) == {"client_id": ["bff"], "request_uri": [REQUEST_URI]}
    (form,) = fake.forms("/par")
    assert one(form, "code_challenge") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert one(form, "code_challenge_method") == "S256"
    assert "code_verifier" not in form
    assert one(form, "dpop_jkt") == dpop_key.jkt
    assert one(form, "response_type") == "code"
    assert one(form, "state") == "st-1"
    assert one(form, "nonce") == "no-1"
    assert one(form, "redirect_uri") == "https://app.example/"
    assert one(form, "scope") == "openid profile"
    assert one(form, "prompt") == "consent"
    assert one(form, "ui_locales") == "de"
    assert form["resource"] == ["https://api.example/"]
    assert one(form, "client_id") == "bff"
    assert one(form, "client_assertion_type") == ASSERTION_TYPE
    _, assertion = verify(one(form, "client_assertion"), client_keys)
    assert assertion["aud"] == ISSUER
    (request,) = fake.requests("/par")
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert claims_of(request.headers["dpop"])["htu"] == f"{ISSUER}/par"


@pytest.mark.spec("FAPI 2.0 Security Profile §5.3.2.2")
@pytest.mark.anyio
async def test_par_extra_params_cannot_override_protocol_params(
        client: FapiClient, fake: FakeAS, dpop_key: DPoPKey) -> None:
    """FAPI 2.0 Security Profile §5.3.2.2: caller parameters never replace state or PKCE."""
    fake.on("/par", PAR_OK)
    await client.push_authorization(login(dpop_key, extra_params={
        "state": "evil", "code_challenge_method": "plain", "dpop_jkt": "evil"}))
    (form,) = fake.forms("/par")
    assert form["state"] == ["st-1"]
    assert form["code_challenge_method"] == ["S256"]
    assert form["dpop_jkt"] == [dpop_key.jkt]


@pytest.mark.spec("RFC 9449 §8")
@pytest.mark.anyio
async def test_use_dpop_nonce_retried_once_with_fresh_assertion_and_nonce(
        client: FapiClient, fake: FakeAS, dpop_key: DPoPKey) -> None:
    """RFC 9449 §8: one retry: a new assertion jti and a new proof carrying the server's nonce."""
    fake.on("/par", NONCE_ERROR, PAR_OK)
    assert await client.push_authorization(login(dpop_key))
    first, second = fake.requests("/par")
    proofs = [claims_of(r.headers["dpop"]) for r in (first, second)]
    assert "nonce" not in proofs[0]
    assert proofs[1]["nonce"] == "server-nonce-1"
    assert proofs[0]["jti"] != proofs[1]["jti"]
    jtis = [claims_of(one(f, "client_assertion"))["jti"] for f in fake.forms("/par")]
    assert jtis[0] != jtis[1]
    assert client.nonce_retries == 1


@pytest.mark.spec("RFC 9449 §8")
@pytest.mark.anyio
async def test_second_nonce_error_is_raised_not_looped(
        client: FapiClient, fake: FakeAS, dpop_key: DPoPKey) -> None:
    """RFC 9449 §8: a second use_dpop_nonce ends the call; there is no third request."""
    fake.on("/par", NONCE_ERROR)
    with pytest.raises(DPoPNonceRequired):
        await client.push_authorization(login(dpop_key))
    assert len(fake.requests("/par")) == 2
    assert client.nonce_retries == 1


@pytest.mark.spec("RFC 9449 §8")
@pytest.mark.anyio
async def test_nonce_error_without_a_nonce_is_not_retried(
        client: FapiClient, fake: FakeAS, dpop_key: DPoPKey) -> None:
    """RFC 9449 §8: without a DPoP-Nonce header there is nothing to retry with."""
    fake.on("/par", json_response({"error": "use_dpop_nonce"}, 400))
    with pytest.raises(DPoPNonceRequired):
        await client.push_authorization(login(dpop_key))
    assert len(fake.requests("/par")) == 1


@pytest.mark.spec("RFC 9449 §8.2")
@pytest.mark.anyio
async def test_nonce_is_remembered_for_the_next_call(
        client: FapiClient, fake: FakeAS, dpop_key: DPoPKey) -> None:
    """RFC 9449 §8.2: a nonce from one answer is used for the next request to that server."""
    fake.on("/par", json_response({"request_uri": REQUEST_URI, "expires_in": 60}, 201,
                                  DPoP_Nonce="n-2"))
    fake.on("/token", TOKENS_OK)
    await client.push_authorization(login(dpop_key))
    await client.exchange_code("code-1", "verifier", dpop_key)
    (token_request,) = fake.requests("/token")
    assert claims_of(token_request.headers["dpop"])["nonce"] == "n-2"


@pytest.mark.spec("RFC 9449 §5")
@pytest.mark.anyio
async def test_exchange_code(client: FapiClient, fake: FakeAS, dpop_key: DPoPKey,
                             clock: FrozenClock) -> None:
    """RFC 9449 §5: the code grant sends the verifier and a DPoP proof for the token endpoint."""
    fake.on("/token", NONCE_ERROR, TOKENS_OK)
    tokens = await client.exchange_code("code-1", "verifier-1", dpop_key,
                                        resources=["https://api.example/"])
    assert tokens.access_token == "at-1"
    assert tokens.expires_at == clock() + 300
    form = fake.forms("/token")[-1]
    assert form["grant_type"] == ["authorization_code"]
    assert form["code"] == ["code-1"]
    assert form["code_verifier"] == ["verifier-1"]
    assert form["redirect_uri"] == ["https://app.example/"]
    assert form["resource"] == ["https://api.example/"]
    proof = claims_of(fake.requests("/token")[-1].headers["dpop"])
    assert proof["htm"] == "POST"
    assert proof["nonce"] == "server-nonce-1"


@pytest.mark.spec("RFC 8707 §2.2")
@pytest.mark.anyio
async def test_exchange_code_sends_one_resource_parameter_per_resource(
        client: FapiClient, fake: FakeAS, dpop_key: DPoPKey) -> None:
    """RFC 8707 §2.2: several resources at the token endpoint are repeated ``resource``
    parameters; none at all when the list is empty (a server without resource indicators)."""
    fake.on("/token", TOKENS_OK, TOKENS_OK)
    await client.exchange_code("code-1", "verifier-1", dpop_key,
                               resources=("https://a.example/", "https://b.example/x"))
    await client.exchange_code("code-2", "verifier-2", dpop_key)
    first, second = fake.forms("/token")[-2:]
    assert first["resource"] == ["https://a.example/", "https://b.example/x"]
    assert "resource" not in second


@pytest.mark.spec("FAPI 2.0 Security Profile §5.3.2.2")
@pytest.mark.anyio
async def test_refresh_refuses_bearer(client: FapiClient, fake: FakeAS,
                                      dpop_key: DPoPKey) -> None:
    """FAPI 2.0 Security Profile §5.3.2.2: a refresh answered with a Bearer token is a downgrade."""
    fake.on("/token", json_response({"access_token": "a", "token_type": "Bearer"}))
    with pytest.raises(BearerDowngrade):
        await client.refresh("rt-1", dpop_key)
    assert fake.forms("/token")[0]["grant_type"] == ["refresh_token"]
    assert fake.forms("/token")[0]["refresh_token"] == ["rt-1"]


@pytest.mark.anyio
@pytest.mark.parametrize(("exc", "error"), [
    (httpx.ConnectError("refused"), AuthorizationServerUnavailable),
    (httpx.RemoteProtocolError("reset"), AuthorizationServerUnavailable),
    (httpx.ConnectTimeout("slow"), AuthorizationServerTimeout),
    (httpx.ReadTimeout("slow"), AuthorizationServerTimeout),
])
async def test_transport_failures(fake: FakeAS, client: FapiClient, dpop_key: DPoPKey,
                                  exc: Exception, error: type[Exception]) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    fake.on("/token", fail)
    with pytest.raises(error) as caught:
        await client.exchange_code("code", "verifier", dpop_key)
    assert caught.value.__cause__ is exc


@pytest.mark.anyio
async def test_timeout_is_a_kind_of_unavailable(fake: FakeAS, client: FapiClient,
                                                dpop_key: DPoPKey) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow")

    fake.on("/par", fail)
    with pytest.raises(AuthorizationServerUnavailable) as caught:
        await client.push_authorization(login(dpop_key))
    assert caught.value.code == "as_timeout"


@pytest.mark.spec("RFC 9449 §7.1")
@pytest.mark.anyio
async def test_userinfo_uses_dpop_scheme_and_ath(client: FapiClient, fake: FakeAS,
                                                 dpop_key: DPoPKey) -> None:
    """RFC 9449 §7.1: userinfo calls send Authorization: DPoP and a proof with ath."""
    fake.on("/me", json_response({"error": "use_dpop_nonce"}, 401, DPoP_Nonce="rs-n"),
            json_response({"sub": "alice"}))
    assert await client.userinfo("at-1", dpop_key) == {"sub": "alice"}
    first, second = fake.requests("/me")
    assert second.headers["authorization"] == "DPoP at-1"
    proof = claims_of(second.headers["dpop"])
    assert proof["htm"] == "GET"
    assert proof["ath"] == access_token_hash("at-1")
    assert proof["nonce"] == "rs-n"
    assert "nonce" not in claims_of(first.headers["dpop"])


@pytest.mark.anyio
async def test_userinfo_second_nonce_error_raised(client: FapiClient, fake: FakeAS,
                                                  dpop_key: DPoPKey) -> None:
    fake.on("/me", json_response({"error": "use_dpop_nonce"}, 401, DPoP_Nonce="rs-n"))
    with pytest.raises(DPoPNonceRequired):
        await client.userinfo("at-1", dpop_key)
    assert len(fake.requests("/me")) == 2


@pytest.mark.anyio
async def test_missing_optional_endpoints(fake: FakeAS, client: FapiClient,
                                          dpop_key: DPoPKey) -> None:
    fake.on(WELL_KNOWN, json_response(metadata(userinfo_endpoint=None,
                                               end_session_endpoint=None)))
    with pytest.raises(AuthorizationServerError):
        await client.userinfo("at", dpop_key)
    with pytest.raises(AuthorizationServerError):
        await client.introspect("rt")
    assert await client.logout_url() is None
    await client.revoke("rt")
    assert fake.paths() == [WELL_KNOWN]


@pytest.mark.anyio
async def test_revoke_and_introspect_are_client_authenticated(
        fake: FakeAS, client: FapiClient, client_keys: KeySet) -> None:
    fake.on(WELL_KNOWN, json_response(metadata(revocation_endpoint=f"{ISSUER}/revoke",
                                               introspection_endpoint=f"{ISSUER}/introspect")))
    fake.on("/revoke", httpx.Response(200))
    fake.on("/introspect", json_response({"active": True}))
    await client.revoke("rt-1")
    assert await client.introspect("rt-1") == {"active": True}
    for path in ("/revoke", "/introspect"):
        (form,) = fake.forms(path)
        assert form["token"] == ["rt-1"]
        assert form["token_type_hint"] == ["refresh_token"]
        assert verify(form["client_assertion"][0], client_keys)[1]["aud"] == ISSUER
        assert "dpop" not in fake.requests(path)[0].headers


@pytest.mark.anyio
async def test_logout_url(client: FapiClient) -> None:
    url = await client.logout_url("id.token.hint")
    assert url is not None
    assert url.startswith(f"{ISSUER}/session/end?")
    assert parse_qs(urlsplit(url).query) == {
        "client_id": ["bff"], "post_logout_redirect_uri": ["https://app.example/bye"],
        "id_token_hint": ["id.token.hint"]}


@pytest.mark.anyio
async def test_validate_id_token_fetches_jwks(fake: FakeAS, client: FapiClient,
                                              clock: FrozenClock) -> None:
    signer = JWSSigner(generate_signing_jwk("PS256", kid="as-1"))
    fake.on("/jwks", json_response({"keys": [public_jwk(signer.private_jwk)]}))
    now = int(clock())
    token = signer.sign({"kid": "as-1"}, {"iss": ISSUER, "aud": "bff", "sub": "alice",
                                          "nonce": "no-1", "iat": now, "exp": now + 60})
    claims = await client.validate_id_token(token, "no-1")
    assert claims["sub"] == "alice"
    assert fake.paths() == [WELL_KNOWN, "/jwks"]


@pytest.mark.spec("RFC 9449 §6.1")
def test_check_dpop_binding(dpop_key: DPoPKey) -> None:
    """RFC 9449 §6.1: a JWT access token must be bound to the session's DPoP key."""
    check_dpop_binding(None, dpop_key)
    check_dpop_binding({"cnf": {"jkt": dpop_key.jkt}}, dpop_key)
    for claims in ({}, {"cnf": "x"}, {"cnf": {"jkt": "other"}}):
        with pytest.raises(DPoPBindingMissing):
            check_dpop_binding(claims, dpop_key)


@pytest.mark.spec("RFC 8705 §3.1")
def test_a_jwt_access_token_must_carry_our_certificate_thumbprint() -> None:
    from bff.errors import CertificateBindingMissing
    from bff.oauth.client import check_certificate_binding

    check_certificate_binding({"cnf": {"x5t#S256": "abc"}}, "abc")
    check_certificate_binding(None, "abc")  # opaque: whoever introspects checks it
    for claims in ({}, {"cnf": {"jkt": "abc"}}, {"cnf": {"x5t#S256": "other"}}, {"cnf": "abc"}):
        with pytest.raises(CertificateBindingMissing):
            check_certificate_binding(claims, "abc")
