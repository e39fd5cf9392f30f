"""JWK handling: RFC 7638 thumbprints, the FAPI algorithm rules, generation, cookie keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey, RSAKey

from bff.crypto.keys import (
    FAPI_ALGORITHMS,
    alg_for_key,
    generate_seal_jwk,
    generate_signing_jwk,
    import_private_jwk,
    public_jwk,
    seal_key_from_jwk,
    thumbprint,
)
from bff.crypto.seal import b64url_decode, b64url_encode

VECTORS = Path(__file__).parents[2] / "vectors"
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def rsa_modulus(bits: int, pad: int = 0) -> str:
    """A base64url modulus of exactly ``bits`` bits, optionally with leading zero bytes."""
    n = (1 << (bits - 1)) | 1
    return b64url_encode(b"\x00" * pad + n.to_bytes((bits + 7) // 8, "big"))


@pytest.fixture(scope="module")
def rsa_jwk() -> dict[str, Any]:
    return generate_signing_jwk("PS256")


@pytest.mark.spec("RFC 7638 §3.1")
def test_thumbprint_vector() -> None:
    """The RFC 7638 §3.1 example key has the published thumbprint."""
    vector = json.loads((VECTORS / "rfc7638_thumbprint.json").read_text())
    assert thumbprint(vector["jwk"]) == vector["thumbprint"]


def test_thumbprint_ignores_optional_and_private_members() -> None:
    jwk = generate_signing_jwk("ES256")
    assert thumbprint(jwk) == thumbprint(public_jwk(jwk))
    assert thumbprint(jwk) == thumbprint({**jwk, "kid": "other", "use": "enc"})


def test_thumbprint_of_each_key_type() -> None:
    for alg in FAPI_ALGORITHMS:
        jwk = generate_signing_jwk(alg)
        assert len(thumbprint(jwk)) == 43


def test_thumbprint_refuses_unknown_key_type() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        thumbprint({"kty": "oct", "k": "AAAA"})


@pytest.mark.parametrize("alg", FAPI_ALGORITHMS)
def test_alg_for_generated_keys(alg: str) -> None:
    assert alg_for_key(generate_signing_jwk(alg)) == alg


def test_alg_for_key_without_alg_member() -> None:
    jwk = generate_signing_jwk("EdDSA")
    del jwk["alg"]
    assert alg_for_key(jwk) == "EdDSA"


@pytest.mark.spec("FAPI 2.0 Security Profile §5.4")
@pytest.mark.parametrize("bits", [1024, 2047])
def test_rsa_below_2048_bits_refused(bits: int) -> None:
    """FAPI 2.0 Security Profile §5.4: RSA keys shorter than 2048 bits are refused."""
    with pytest.raises(ValueError, match="2048"):
        alg_for_key({"kty": "RSA", "n": rsa_modulus(bits), "e": "AQAB"})


@pytest.mark.spec("FAPI 2.0 Security Profile §5.4")
def test_rsa_short_modulus_padded_with_zero_bytes_refused() -> None:
    """FAPI 2.0 Security Profile §5.4: zero-byte padding does not lengthen a 1024-bit modulus."""
    with pytest.raises(ValueError, match="2048"):
        alg_for_key({"kty": "RSA", "n": rsa_modulus(1024, pad=200), "e": "AQAB"})


def test_rsa_2048_bits_accepted() -> None:
    assert alg_for_key({"kty": "RSA", "n": rsa_modulus(2048), "e": "AQAB"}) == "PS256"


@pytest.mark.spec("FAPI 2.0 Security Profile §5.4")
def test_ec_p384_refused() -> None:
    """FAPI 2.0 Security Profile §5.4: only P-256 is allowed for EC keys."""
    jwk = dict(ECKey.generate_key("P-384", private=True).as_dict(private=True))
    with pytest.raises(ValueError, match="P-256"):
        alg_for_key(jwk)


@pytest.mark.spec("FAPI 2.0 Security Profile §5.4")
@pytest.mark.parametrize(("alg", "wrong"), [
    ("ES256", "ES384"), ("ES256", "RS256"), ("PS256", "RS256"), ("PS256", "PS512"),
    ("EdDSA", "ES256"),
])
def test_wrong_alg_member_refused(alg: str, wrong: str) -> None:
    """FAPI 2.0 Security Profile §5.4: a key must not announce an algorithm outside the FAPI set."""
    jwk = generate_signing_jwk(alg) if alg != "PS256" else {
        "kty": "RSA", "n": rsa_modulus(2048), "e": "AQAB"}
    with pytest.raises(ValueError):
        alg_for_key({**jwk, "alg": wrong})


@pytest.mark.parametrize("jwk", [
    {"kty": "oct", "k": "AAAA"}, {}, {"kty": "OKP", "crv": "X25519", "x": "AAAA"},
    {"kty": "OKP", "crv": "Ed448", "x": "AAAA"},
])
def test_other_key_kinds_refused(jwk: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        alg_for_key(jwk)


@pytest.mark.parametrize("alg", FAPI_ALGORITHMS)
def test_generate_signing_jwk(alg: str) -> None:
    jwk = generate_signing_jwk(alg)
    assert jwk["alg"] == alg
    assert jwk["use"] == "sig"
    assert jwk["kid"] == thumbprint(jwk)[:16]
    assert "d" in jwk
    assert import_private_jwk(jwk).as_dict(private=False)["kty"] == jwk["kty"]


def test_generate_signing_jwk_kinds(rsa_jwk: dict[str, Any]) -> None:
    assert generate_signing_jwk("ES256")["crv"] == "P-256"
    assert generate_signing_jwk("EdDSA")["crv"] == "Ed25519"
    assert int.from_bytes(b64url_decode(rsa_jwk["n"]), "big").bit_length() >= 2048


def test_generate_signing_jwk_explicit_kid() -> None:
    assert generate_signing_jwk("ES256", kid="mine")["kid"] == "mine"


@pytest.mark.parametrize("alg", ["RS256", "HS256", "none", "ES384"])
def test_generate_signing_jwk_refuses_other_algs(alg: str) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        generate_signing_jwk(alg)


def test_generated_keys_differ() -> None:
    assert generate_signing_jwk("ES256")["d"] != generate_signing_jwk("ES256")["d"]


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_public_jwk_drops_private_members(alg: str) -> None:
    jwk = generate_signing_jwk(alg)
    pub = public_jwk(jwk)
    assert not PRIVATE_MEMBERS & set(pub)
    assert pub["kid"] == jwk["kid"]
    assert thumbprint(pub) == thumbprint(jwk)


def test_public_jwk_drops_rsa_private_members(rsa_jwk: dict[str, Any]) -> None:
    assert PRIVATE_MEMBERS & set(rsa_jwk) >= {"d", "p", "q", "dp", "dq", "qi"}
    pub = public_jwk(rsa_jwk)
    assert not PRIVATE_MEMBERS & set(pub)
    assert set(pub) == {"kty", "n", "e", "kid", "alg", "use"}
    RSAKey.import_key(pub)


def test_public_jwk_drops_unknown_members() -> None:
    jwk = {**generate_signing_jwk("ES256"), "x5c": ["..."], "secret_extra": "s"}
    assert "secret_extra" not in public_jwk(jwk)
    assert "x5c" not in public_jwk(jwk)


def test_import_private_jwk_refuses_public_key() -> None:
    with pytest.raises(ValueError, match="private"):
        import_private_jwk(public_jwk(generate_signing_jwk("ES256")))


def test_generate_seal_jwk() -> None:
    jwk = generate_seal_jwk("k1")
    assert jwk["kty"] == "oct"
    assert jwk["kid"] == "k1"
    assert jwk["alg"] == "A256GCM"
    assert len(b64url_decode(jwk["k"])) == 32
    assert generate_seal_jwk()["kid"] != generate_seal_jwk()["kid"]


def test_seal_key_from_jwk() -> None:
    jwk = generate_seal_jwk("k1")
    key = seal_key_from_jwk(jwk)
    assert key.kid == "k1"
    assert key.key == b64url_decode(jwk["k"])


@pytest.mark.parametrize("jwk", [
    {"kty": "RSA", "kid": "k1", "k": b64url_encode(b"\x00" * 32)},
    {"kty": "oct", "kid": "k1"},
    {"kty": "oct", "k": b64url_encode(b"\x00" * 32)},
    {"kty": "oct", "kid": "k1", "k": b64url_encode(b"\x00" * 16)},
    {"kty": "oct", "kid": "bad kid", "k": b64url_encode(b"\x00" * 32)},
    {"kty": "oct", "kid": "k1", "k": "not base64url!"},
])
def test_seal_key_from_jwk_refusals(jwk: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        seal_key_from_jwk(jwk)
