"""JWS verification and JWK thumbprints used by the guard (RFC 7515, RFC 7518, RFC 7638)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from example_api.jose import (
    JoseError,
    b64url_encode,
    check_algorithms,
    check_signature,
    jwk_thumbprint,
    parse_compact,
    public_key_from_jwk,
)
from joserfc import jws
from joserfc.jwk import ECKey, OKPKey, RSAKey

# RFC 7638 §3.1: the worked example key and its thumbprint.
RFC7638_JWK = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
    "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0"
    "_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI"
    "4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}


def test_rfc7638_thumbprint_vector() -> None:
    """RFC 7638 §3.1: the example thumbprint."""
    assert jwk_thumbprint(RFC7638_JWK) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize(
    ("key", "alg"),
    [
        (ECKey.generate_key("P-256"), "ES256"),
        (RSAKey.generate_key(2048), "PS256"),
        pytest.param(OKPKey.generate_key("Ed25519"), "EdDSA",
                     marks=pytest.mark.filterwarnings("ignore:EdDSA is deprecated")),
        (OKPKey.generate_key("Ed25519"), "Ed25519"),
    ],
)
def test_signatures_round_trip(key: ECKey | RSAKey | OKPKey, alg: str) -> None:
    """RFC 7518 §3.4-3.5, RFC 8037 §3.1: signatures made by joserfc verify; tampering fails."""
    token = jws.serialize_compact({"alg": alg}, b'{"a":1}', key, algorithms=[alg])
    parsed = parse_compact(token)
    public = public_key_from_jwk(key.as_dict(private=False))
    check_signature(public, alg, parsed.signing_input, parsed.signature)
    assert jwk_thumbprint(key.as_dict(private=False)) == key.thumbprint()
    with pytest.raises(JoseError):
        check_signature(public, alg, parsed.signing_input + b"x", parsed.signature)


def test_key_must_fit_algorithm() -> None:
    """RFC 7518 §3.1: an EC key cannot verify a PS256 signature."""
    key = ECKey.generate_key("P-256")
    public = public_key_from_jwk(key.as_dict(private=False))
    with pytest.raises(JoseError):
        check_signature(public, "PS256", b"x", b"y" * 256)


@pytest.mark.parametrize("algs", [["none"], ["HS256"], ["RS256"], []])
def test_allowlist_refuses_non_fapi_algorithms(algs: list[str]) -> None:
    """RFC 8725 §3.1: only asymmetric algorithms may be configured."""
    with pytest.raises(ValueError):
        check_algorithms(algs)


def test_private_and_small_keys_refused() -> None:
    """RFC 9449 §4.2: private members are refused; FAPI 2.0 §5.4: RSA below 2048 bits too."""
    with pytest.raises(JoseError):
        public_key_from_jwk(ECKey.generate_key("P-256").as_dict(private=True))
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    numbers = small.public_numbers()
    jwk = {"kty": "RSA", "n": b64url_encode(numbers.n.to_bytes(128, "big")), "e": "AQAB"}
    with pytest.raises(JoseError):
        public_key_from_jwk(jwk)


@pytest.mark.parametrize("token", ["a.b", "e30.e30.", "!!.e30.AA", "WzFd.e30.AA"])
def test_malformed_compact_refused(token: str) -> None:
    """RFC 7515 §5.2: malformed compact serialisations are refused."""
    with pytest.raises(JoseError):
        parse_compact(token)
