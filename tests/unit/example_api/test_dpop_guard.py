"""DPoPGuard and the example banking API, driven in-process (RFC 9449, RFC 9068)."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey

ISSUER = "https://as.example"
AUDIENCE = "https://api.example"
JWKS_URI = "https://as.example/jwks"
BASE = "https://api.example"
T0 = 1_700_000_000.0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(signature)]
    )


class FrozenClock:
    """A clock the tests move by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    """The guarded app plus the keys and helpers to talk to it."""

    client: httpx.AsyncClient
    clock: FrozenClock
    as_key: ECKey
    dpop_key: ECKey
    jwks_calls: list[str] = field(default_factory=list)
    nonce: str | None = None

    def token(self, **overrides: Any) -> str:
        signer = overrides.pop("key", self.as_key)
        header = {"alg": "ES256", "typ": "at+jwt", "kid": "as-1"}
        header.update(overrides.pop("header", {}))
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "alice",
            "client_id": "bff",
            "iat": int(self.clock.now),
            "exp": int(self.clock.now) + 300,
            "jti": uuid.uuid4().hex,
            "scope": "openid accounts payments",
            "cnf": {"jkt": self.dpop_key.thumbprint()},
        }
        claims.update(overrides)
        return jwt.encode(header, {k: v for k, v in claims.items() if v is not None}, signer,
                          algorithms=[header["alg"]])

    def proof(self, method: str, url: str, token: str, **overrides: Any) -> str:
        key = overrides.pop("key", self.dpop_key)
        header: dict[str, Any] = {"alg": "ES256", "typ": "dpop+jwt",
                                  "jwk": key.as_dict(private=False)}
        header.update(overrides.pop("header", {}))
        claims: dict[str, Any] = {
            "jti": uuid.uuid4().hex,
            "htm": method,
            "htu": url,
            "iat": int(self.clock.now),
            "ath": b64(hashlib.sha256(token.encode()).digest()),
            "nonce": self.nonce,
        }
        claims.update(overrides)
        return jwt.encode(header, {k: v for k, v in claims.items() if v is not None}, key,
                          algorithms=[header["alg"]])

    async def call(
        self, method: str, path: str, *, token: str | None = None, proof: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        token = token or self.token()
        proof = proof or self.proof(method, BASE + path.split("?")[0], token)
        headers = {"authorization": f"DPoP {token}", "dpop": proof, **kwargs.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def fetch_nonce(self) -> None:
        self.nonce = None
        response = await self.call("GET", "/accounts")
        assert response.status_code == 401
        self.nonce = response.headers["dpop-nonce"]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    from example_api.app import create_app

    as_key = ECKey.generate_key("P-256")
    jwks_calls: list[str] = []

    def jwks(request: httpx.Request) -> httpx.Response:
        jwks_calls.append(str(request.url))
        jwk = {**as_key.as_dict(private=False), "kid": "as-1", "use": "sig", "alg": "ES256"}
        return httpx.Response(200, json={"keys": [jwk]})

    clock = FrozenClock()
    as_client = httpx.AsyncClient(transport=httpx.MockTransport(jwks))
    app = create_app(issuer=ISSUER, audience=AUDIENCE, jwks_uri=JWKS_URI,
                     http_client=as_client, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        environment = Env(client, clock, as_key, ECKey.generate_key("P-256"), jwks_calls)
        await environment.fetch_nonce()
        yield environment
    await as_client.aclose()


def challenge(response: httpx.Response) -> str:
    return str(response.headers.get("www-authenticate", ""))


def assert_rejected(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert f'error="{error}"' in challenge(response)


# --- happy paths ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_nonce_challenge_then_success(env: Env) -> None:
    """RFC 9449 §9: a proof without nonce is challenged, then accepted with the nonce."""
    env.nonce = None
    first = await env.call("GET", "/accounts")
    assert first.status_code == 401
    assert challenge(first) == (
        'DPoP error="use_dpop_nonce", '
        'error_description="Resource server requires nonce in DPoP proof"'
    )
    env.nonce = first.headers["dpop-nonce"]
    second = await env.call("GET", "/accounts")
    assert second.status_code == 200, second.text
    assert second.headers["dpop-nonce"]
    accounts = second.json()["accounts"]
    assert accounts[0] == {"id": "acc-1", "name": "Everyday Account",
                           "iban": "DE89 3704 0044 0532 0130 00", "currency": "EUR",
                           "balance": "2450.75"}
    stats = (await env.client.get("/__stats")).json()
    assert stats["verified"] == 1
    assert stats["nonce_challenges"] == 2
    assert stats["calls"]["/accounts"] == 3


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
async def test_eddsa_proof_accepted(env: Env) -> None:
    """RFC 9449 §4.2 with RFC 8037: an Ed25519 proof key works like an EC one."""
    env.dpop_key = OKPKey.generate_key("Ed25519")  # type: ignore[assignment]
    token = env.token()
    proof = env.proof("GET", BASE + "/accounts", token, header={"alg": "EdDSA"})
    response = await env.call("GET", "/accounts", token=token, proof=proof)
    assert response.status_code == 200, response.text


@pytest.mark.anyio
async def test_exempt_paths_need_no_token(env: Env) -> None:
    """The baseline /hello route is not guarded."""
    response = await env.client.get("/hello")
    assert response.json() == {"hello": "world"}


@pytest.mark.anyio
async def test_payment_updates_balance_and_transactions(env: Env) -> None:
    """A booked payment debits the account and appears first in its transactions."""
    body = {"fromAccount": "acc-1", "toName": "Bob", "toIban": "DE44 5001 0517 5407 3249 31",
            "amount": "12.50", "currency": "EUR", "reference": "Dinner"}
    response = await env.call("POST", "/payments", json=body)
    assert response.status_code == 201, response.text
    payment = response.json()["payment"]
    assert payment["status"] == "booked" and payment["id"].startswith("pay-")
    accounts = (await env.call("GET", "/accounts")).json()["accounts"]
    assert accounts[0]["balance"] == "2438.25"
    txs = (await env.call("GET", "/accounts/acc-1/transactions")).json()["transactions"]
    assert txs[0]["amount"] == "-12.50" and "Bob" in txs[0]["description"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "change",
    [{"amount": "-1.00"}, {"amount": "1.234"}, {"amount": 5}, {"amount": "999999.00"},
     {"fromAccount": "acc-9"}, {"toName": " "}, {"toIban": ""}, {"reference": "x" * 141}],
)
async def test_invalid_payment_rejected(env: Env, change: dict[str, Any]) -> None:
    """Payment validation answers 400 invalid_payment and books nothing."""
    body = {"fromAccount": "acc-1", "toName": "Bob", "toIban": "DE44", "amount": "1.00",
            "currency": "EUR", "reference": "r", **change}
    response = await env.call("POST", "/payments", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_payment"
    accounts = (await env.call("GET", "/accounts")).json()["accounts"]
    assert accounts[0]["balance"] == "2450.75"


@pytest.mark.anyio
async def test_unknown_account_transactions_404(env: Env) -> None:
    """Unknown accounts are a JSON 404."""
    response = await env.call("GET", "/accounts/nope/transactions")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.anyio
async def test_echo_returns_headers(env: Env) -> None:
    """The echo route reports method, path, query and headers as received."""
    response = await env.call("POST", "/echo/a/b?x=1", content=b"abc",
                              headers={"x-custom": "yes"})
    assert response.status_code == 200, response.text
    echoed = response.json()
    assert echoed["method"] == "POST"
    assert echoed["path"] == "/echo/a/b"
    assert echoed["query_string"] == "x=1"
    assert echoed["body_length"] == 3
    assert ["x-custom", "yes"] in echoed["headers"]


@pytest.mark.anyio
async def test_download_and_events(env: Env) -> None:
    """The streaming routes send the requested sizes."""
    download = await env.call("GET", "/download/large?size=100000")
    assert download.status_code == 200
    assert len(download.content) == 100000
    assert download.headers["content-length"] == "100000"
    events = await env.call("GET", "/events?count=3&interval_ms=0")
    assert events.headers["content-type"].startswith("text/event-stream")
    assert events.text.count("data: ") == 3


# --- access token --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_missing_token(env: Env) -> None:
    """RFC 6750 §3.1 / RFC 9449 §7.1: no credentials gives a bare DPoP challenge."""
    response = await env.client.get("/accounts")
    assert response.status_code == 401
    assert challenge(response) == 'DPoP algs="ES256 PS256 EdDSA"'


@pytest.mark.anyio
async def test_bearer_scheme_rejected(env: Env) -> None:
    """RFC 9449 §7.2: a DPoP-bound token presented as Bearer is refused."""
    token = env.token()
    response = await env.client.get(
        "/accounts",
        headers={"authorization": f"Bearer {token}",
                 "dpop": env.proof("GET", BASE + "/accounts", token)},
    )
    assert_rejected(response, 401, "invalid_token")
    assert response.json()["error_description"] == "DPoP-bound token required"
    assert token not in response.text


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"iss": "https://evil.example"}, "RFC 9068 §4 step 3: iss must match"),
        ({"aud": "https://other.example"}, "RFC 9068 §4 step 4: aud must contain us"),
        ({"exp": int(T0) - 120}, "RFC 9068 §4 step 7: exp must be in the future"),
        ({"nbf": int(T0) + 600}, "RFC 7519 §4.1.5: nbf must have passed"),
        ({"cnf": None}, "RFC 9449 §6.1: the token must carry cnf.jkt"),
        ({"cnf": {"x5t#S256": "abc"}}, "RFC 9449 §6.1: cnf without jkt is not DPoP-bound"),
    ],
)
async def test_bad_token_claims(env: Env, claims: dict[str, Any], reason: str) -> None:
    """RFC 9068 §4: claim checks on the access token."""
    response = await env.call("GET", "/accounts", token=env.token(**claims))
    assert_rejected(response, 401, "invalid_token")


@pytest.mark.anyio
async def test_aud_list_accepted(env: Env) -> None:
    """RFC 7519 §4.1.3: aud may be an array containing the resource."""
    response = await env.call("GET", "/accounts", token=env.token(aud=["x", AUDIENCE]))
    assert response.status_code == 200


@pytest.mark.anyio
async def test_alg_none_rejected(env: Env) -> None:
    """RFC 9068 §4 step 5 / RFC 8725 §3.1: unsigned tokens are refused."""
    token = unsigned({"alg": "none", "typ": "at+jwt"},
                     {"iss": ISSUER, "aud": AUDIENCE, "exp": T0 + 300,
                      "cnf": {"jkt": env.dpop_key.thumbprint()}})
    token = token.rstrip(".") + ".AA"
    response = await env.call("GET", "/accounts", token=token)
    assert_rejected(response, 401, "invalid_token")


@pytest.mark.anyio
async def test_hs256_rejected(env: Env) -> None:
    """RFC 8725 §3.1: an HMAC token keyed with the public key must not verify."""
    import hmac as hmac_mod

    header = b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": "as-1"}).encode())
    payload = b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "exp": T0 + 300,
                              "cnf": {"jkt": env.dpop_key.thumbprint()}}).encode())
    secret = json.dumps(env.as_key.as_dict(private=False)).encode()
    mac = hmac_mod.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    response = await env.call("GET", "/accounts", token=f"{header}.{payload}.{b64(mac)}")
    assert_rejected(response, 401, "invalid_token")


@pytest.mark.anyio
async def test_token_typ_checked(env: Env) -> None:
    """RFC 9068 §4 step 2: typ, when present, must be at+jwt."""
    ok = await env.call("GET", "/accounts", token=env.token(header={"typ": "application/at+jwt"}))
    assert ok.status_code == 200
    bad = await env.call("GET", "/accounts", token=env.token(header={"typ": "JWT"}))
    assert_rejected(bad, 401, "invalid_token")


@pytest.mark.anyio
async def test_unknown_signing_key_rejected(env: Env) -> None:
    """RFC 9068 §4 step 5: a token signed by a key not in the AS JWKS is refused."""
    rogue = ECKey.generate_key("P-256")
    response = await env.call("GET", "/accounts", token=env.token(key=rogue))
    assert_rejected(response, 401, "invalid_token")
    assert len(env.jwks_calls) == 1


@pytest.mark.anyio
async def test_unknown_kid_refetches_jwks_once(env: Env) -> None:
    """RFC 7517 §5 key rotation: an unknown kid refetches the JWKS, at most once per interval."""
    rogue = ECKey.generate_key("P-256")
    env.clock.now += 31
    for _ in range(3):
        response = await env.call("GET", "/accounts",
                                  token=env.token(key=rogue, header={"kid": "rogue"}))
        assert_rejected(response, 401, "invalid_token")
    assert len(env.jwks_calls) == 2


# --- DPoP proof ----------------------------------------------------------------------------


async def proof_response(env: Env, method: str = "GET", path: str = "/accounts",
                         **overrides: Any) -> httpx.Response:
    token = env.token()
    proof = env.proof(method, BASE + path, token, **overrides)
    return await env.call(method, path, token=token, proof=proof)


@pytest.mark.anyio
async def test_missing_proof(env: Env) -> None:
    """RFC 9449 §4.3 step 1: exactly one DPoP header is required."""
    token = env.token()
    response = await env.client.get("/accounts", headers={"authorization": f"DPoP {token}"})
    assert_rejected(response, 401, "invalid_dpop_proof")


@pytest.mark.anyio
async def test_proof_wrong_typ(env: Env) -> None:
    """RFC 9449 §4.3 step 4: typ must be dpop+jwt."""
    assert_rejected(await proof_response(env, header={"typ": "JWT"}), 401, "invalid_dpop_proof")


@pytest.mark.anyio
async def test_proof_with_private_key(env: Env) -> None:
    """RFC 9449 §4.3 step 7: the jwk header must not contain a private key."""
    private = env.dpop_key.as_dict(private=True)
    assert_rejected(await proof_response(env, header={"jwk": private}), 401,
                    "invalid_dpop_proof")


@pytest.mark.anyio
async def test_proof_htm_mismatch(env: Env) -> None:
    """RFC 9449 §4.3 step 8: htm must match the request method."""
    assert_rejected(await proof_response(env, htm="POST"), 401, "invalid_dpop_proof")


@pytest.mark.anyio
async def test_proof_htu_mismatch(env: Env) -> None:
    """RFC 9449 §4.3 step 9: htu must match the request URL."""
    assert_rejected(await proof_response(env, htu=BASE + "/payments"), 401, "invalid_dpop_proof")
    assert_rejected(await proof_response(env, htu="https://evil.example/accounts"), 401,
                    "invalid_dpop_proof")


@pytest.mark.anyio
async def test_proof_htu_ignores_query_and_normalises(env: Env) -> None:
    """RFC 9449 §4.3 step 9: query and fragment are ignored; scheme/host case and port too."""
    token = env.token()
    proof = env.proof("GET", "HTTPS://API.Example:443/accounts?x=1#f", token)
    response = await env.call("GET", "/accounts?x=2", token=token, proof=proof)
    assert response.status_code == 200, response.text


@pytest.mark.anyio
@pytest.mark.parametrize("offset", [-301, +61])
async def test_proof_iat_window(env: Env, offset: int) -> None:
    """RFC 9449 §4.3 step 11: iat must be recent and not in the future."""
    assert_rejected(await proof_response(env, iat=int(T0) + offset), 401, "invalid_dpop_proof")


@pytest.mark.anyio
async def test_proof_replay_rejected(env: Env) -> None:
    """RFC 9449 §11.1: a jti may be used once."""
    token = env.token()
    proof = env.proof("GET", BASE + "/accounts", token)
    first = await env.call("GET", "/accounts", token=token, proof=proof)
    assert first.status_code == 200
    again = await env.call("GET", "/accounts", token=token, proof=proof)
    assert_rejected(again, 401, "invalid_dpop_proof")


@pytest.mark.anyio
async def test_proof_wrong_ath(env: Env) -> None:
    """RFC 9449 §4.3 step 12: ath must match the presented access token."""
    assert_rejected(await proof_response(env, ath=b64(b"\0" * 32)), 401, "invalid_dpop_proof")


@pytest.mark.anyio
async def test_proof_key_not_bound(env: Env) -> None:
    """RFC 9449 §7.1 / §6.1: the proof key thumbprint must equal cnf.jkt."""
    other = ECKey.generate_key("P-256")
    assert_rejected(await proof_response(env, key=other), 401, "invalid_dpop_proof")


@pytest.mark.anyio
async def test_proof_bad_signature(env: Env) -> None:
    """RFC 9449 §4.3 step 6: the proof signature must verify with its jwk."""
    token = env.token()
    proof = env.proof("GET", BASE + "/accounts", token)
    head, body, _ = proof.split(".")
    forged = f"{head}.{body}.{b64(b'0' * 64)}"
    response = await env.call("GET", "/accounts", token=token, proof=forged)
    assert_rejected(response, 401, "invalid_dpop_proof")


@pytest.mark.anyio
async def test_invalid_nonce_challenged(env: Env) -> None:
    """RFC 9449 §9: a forged nonce is answered with a fresh use_dpop_nonce challenge."""
    response = await proof_response(env, nonce=b64(b"\1" * 24))
    assert response.status_code == 401
    assert response.json()["error"] == "use_dpop_nonce"
    assert response.headers["dpop-nonce"]


@pytest.mark.anyio
async def test_expired_nonce_challenged(env: Env) -> None:
    """RFC 9449 §9: a nonce older than its lifetime is no longer accepted."""
    env.clock.now += 301
    response = await proof_response(env)
    assert response.status_code == 401
    assert response.json()["error"] == "use_dpop_nonce"
    assert response.headers["dpop-nonce"] != env.nonce


# --- scopes --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_insufficient_scope(env: Env) -> None:
    """RFC 6750 §3.1: a token without the payments scope gets 403 insufficient_scope."""
    token = env.token(scope="openid accounts")
    proof = env.proof("POST", BASE + "/payments", token)
    response = await env.call("POST", "/payments", token=token, proof=proof, json={})
    assert_rejected(response, 403, "insufficient_scope")
    assert 'scope="payments"' in challenge(response)
