"""Client-side DPoP proofs (RFC 9449 §4, §8) and the per-origin nonce cache."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import JWKRegistry

from bff.crypto.keys import FAPI_ALGORITHMS, generate_signing_jwk, thumbprint
from bff.crypto.seal import b64url_decode, b64url_encode
from bff.oauth.clock import FrozenClock
from bff.oauth.dpop import DPoPKey, NonceCache, access_token_hash, htu_of

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def decode(proof: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = proof.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(payload))


def verify_with_public_jwk(proof: str, key: DPoPKey) -> dict[str, Any]:
    """Verify the signature with joserfc against the key in the proof header."""
    header, _ = decode(proof)
    assert header["jwk"] == key.public_jwk
    public = JWKRegistry.import_key(header["jwk"])
    registry = jws.JWSRegistry(algorithms=[header["alg"]])
    registry.max_header_length = 2048  # an embedded 3072-bit RSA jwk exceeds joserfc's 512
    obj = jws.deserialize_compact(proof, public, registry=registry)
    claims: dict[str, Any] = json.loads(obj.payload)
    return claims


@pytest.fixture
def key(clock: FrozenClock) -> DPoPKey:
    return DPoPKey(generate_signing_jwk("ES256"), clock)


@pytest.mark.spec("RFC 9449 §4.2")
@pytest.mark.parametrize("alg", FAPI_ALGORITHMS)
def test_header_typ_alg_and_public_jwk(alg: str, clock: FrozenClock) -> None:
    """RFC 9449 §4.2: header typ dpop+jwt, the key's alg and a public jwk only."""
    key = DPoPKey(generate_signing_jwk(alg), clock)
    header, _ = decode(key.proof("POST", "https://as.example/token"))
    assert header["typ"] == "dpop+jwt"
    assert header["alg"] == alg
    assert not PRIVATE_MEMBERS & set(header["jwk"])
    assert not {"kid", "use", "alg"} & set(header["jwk"])
    assert set(header) == {"typ", "alg", "jwk"}
    assert thumbprint(header["jwk"]) == key.jkt


@pytest.mark.spec("RFC 9449 §4.2")
@pytest.mark.parametrize("alg", FAPI_ALGORITHMS)
def test_signature_verifies_with_the_public_jwk(alg: str, clock: FrozenClock) -> None:
    """RFC 9449 §4.2: the proof is a JWS signed by the private key matching the header jwk."""
    key = DPoPKey(generate_signing_jwk(alg), clock)
    claims = verify_with_public_jwk(key.proof("GET", "https://rs.example/api"), key)
    assert claims["htm"] == "GET"


@pytest.mark.spec("RFC 9449 §4.2")
def test_htm_and_htu_without_query_and_fragment(key: DPoPKey) -> None:
    """RFC 9449 §4.2: htu is the target URI without query and fragment."""
    proof = key.proof("POST", "HTTPS://AS.Example:8443/token/x?client=1&b=2#frag")
    claims = verify_with_public_jwk(proof, key)
    assert claims["htm"] == "POST"
    assert claims["htu"] == "https://as.example:8443/token/x"


@pytest.mark.parametrize(("url", "htu"), [
    ("https://as.example", "https://as.example/"),
    ("https://as.example/?q", "https://as.example/"),
    ("https://as.example/a/b;p?q#f", "https://as.example/a/b;p"),
])
def test_htu_of(url: str, htu: str) -> None:
    assert htu_of(url) == htu


@pytest.mark.spec("RFC 9449 §4.2")
def test_iat_comes_from_the_clock(key: DPoPKey, clock: FrozenClock) -> None:
    """RFC 9449 §4.2: iat is the injected clock's time, in whole seconds."""
    clock.now = 1_700_000_123.9
    _, claims = decode(key.proof("GET", "https://rs.example/"))
    assert claims["iat"] == 1_700_000_123
    clock.advance(100)
    _, claims = decode(key.proof("GET", "https://rs.example/"))
    assert claims["iat"] == 1_700_000_223


@pytest.mark.spec("RFC 9449 §4.2")
def test_jti_is_unique(key: DPoPKey) -> None:
    """RFC 9449 §4.2: every proof has a fresh jti."""
    jtis = {decode(key.proof("GET", "https://rs.example/"))[1]["jti"] for _ in range(100)}
    assert len(jtis) == 100
    assert all(len(j) >= 16 for j in jtis)


@pytest.mark.spec("RFC 9449 §4.2")
def test_ath_is_base64url_sha256_of_the_token(key: DPoPKey) -> None:
    """RFC 9449 §4.2: ath is the base64url SHA-256 of the access token."""
    token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
    expected = b64url_encode(hashlib.sha256(token.encode()).digest())
    claims = verify_with_public_jwk(key.proof("GET", "https://rs.example/", access_token=token),
                                    key)
    assert claims["ath"] == expected == access_token_hash(token)


@pytest.mark.spec("RFC 9449 §4.2")
def test_ath_published_example() -> None:
    """RFC 9449 §4.2: the RFC 9449 §7.1 example access token has the published ath."""
    assert access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU") == (
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo")


def test_no_ath_without_token(key: DPoPKey) -> None:
    _, claims = decode(key.proof("POST", "https://as.example/token"))
    assert set(claims) == {"htm", "htu", "iat", "jti"}


@pytest.mark.spec("RFC 9449 §8")
def test_nonce_included_only_when_given(key: DPoPKey) -> None:
    """RFC 9449 §8: the server's nonce is echoed when there is one, and absent otherwise."""
    _, with_nonce = decode(key.proof("POST", "https://as.example/token", nonce="n-1"))
    assert with_nonce["nonce"] == "n-1"
    for nonce in (None, ""):
        _, without = decode(key.proof("POST", "https://as.example/token", nonce=nonce))
        assert "nonce" not in without


def test_generate_and_private_jwk_roundtrip(clock: FrozenClock) -> None:
    key = DPoPKey.generate("EdDSA", clock)
    again = DPoPKey(key.private_jwk, clock)
    assert again.jkt == key.jkt
    assert "d" in key.private_jwk
    assert key.jkt in repr(key)
    assert key.private_jwk["d"] not in repr(key)


def test_private_jwk_is_a_copy(key: DPoPKey) -> None:
    key.private_jwk["d"] = "changed"
    assert key.private_jwk["d"] != "changed"


def test_nonce_cache_is_per_origin() -> None:
    cache = NonceCache()
    cache.remember("https://as.example/token", "n1")
    assert cache.get("https://as.example/par?x=1") == "n1"
    assert cache.get("HTTPS://AS.EXAMPLE/other") == "n1"
    assert cache.get("https://as.example:8443/token") is None
    assert cache.get("http://as.example/token") is None
    assert cache.get("https://rs.example/token") is None
    cache.remember("https://rs.example/api", "r1")
    cache.remember("https://as.example/token", "n2")
    assert cache.get("https://as.example/token") == "n2"
    assert cache.get("https://rs.example/") == "r1"


@pytest.mark.parametrize("nonce", [None, "", "x" * 512])
def test_nonce_cache_ignores_absent_or_oversized(nonce: str | None) -> None:
    cache = NonceCache()
    cache.remember("https://as.example/", "kept")
    cache.remember("https://as.example/", nonce)
    assert cache.get("https://as.example/") == "kept"


def test_nonce_cache_origin_is_case_insensitive_and_pathless() -> None:
    cache = NonceCache()
    cache.remember("HTTP://Api.Example:8443/a/b?q=1", "n1")
    assert cache.get("http://api.example:8443/other") == "n1"
    assert cache.get("http://api.example:8444/a") is None
    assert cache.get("http://api.example:8443") == "n1"


def test_ath_follows_the_token(clock: FrozenClock) -> None:
    """RFC 9449 §4.2: each proof's ath is the hash of the token it accompanies."""
    key = DPoPKey.generate("ES256", clock)
    for token in ("t1", "t2", "t1"):
        claims = json.loads(b64url_decode(key.proof("GET", "https://a/x",
                                                    access_token=token).split(".")[1]))
        assert claims["ath"] == access_token_hash(token)
