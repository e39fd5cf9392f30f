"""Compact JWS: signing with FAPI algorithms, verification with an explicit allowlist."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from joserfc import jws
from joserfc.jwk import KeySet, OctKey, RSAKey

from bff.crypto.keys import FAPI_ALGORITHMS, generate_signing_jwk
from bff.crypto.seal import b64url_encode
from bff.errors import IDTokenInvalid, ProtocolViolation
from bff.oauth.jws import JWSSigner, encode_segment, peek_header, verify

CLAIMS = {"iss": "https://as.example", "sub": "alice"}


def unsigned(claims: dict[str, str], alg: str = "none") -> str:
    return f"{encode_segment({'alg': alg})}.{encode_segment(claims)}."


@pytest.mark.parametrize("alg", FAPI_ALGORITHMS)
def test_sign_and_verify(alg: str, signers: dict[str, JWSSigner], as_keys: KeySet) -> None:
    token = signers[alg].sign({"typ": "JWT", "kid": f"as-{alg}"}, CLAIMS)
    header, claims = verify(token, as_keys)
    assert header["alg"] == alg
    assert header["typ"] == "JWT"
    assert claims == CLAIMS


@pytest.mark.parametrize("alg", FAPI_ALGORITHMS)
def test_signature_verifies_with_joserfc_directly(alg: str, signers: dict[str, JWSSigner],
                                                  as_keys: KeySet) -> None:
    token = signers[alg].sign({"kid": f"as-{alg}"}, CLAIMS)
    obj = jws.deserialize_compact(token, as_keys, algorithms=[alg])
    assert json.loads(obj.payload) == CLAIMS


def test_header_alg_is_set_from_the_key(signers: dict[str, JWSSigner], as_keys: KeySet) -> None:
    token = signers["ES256"].sign({"alg": "none", "kid": "as-ES256"}, CLAIMS)
    header, _ = verify(token, as_keys)
    assert header["alg"] == "ES256"


def test_signer_repr_hides_key(signers: dict[str, JWSSigner]) -> None:
    signer = signers["ES256"]
    assert signer.private_jwk["d"] not in repr(signer)
    assert "ES256" in repr(signer)
    assert "d" not in signer.public_jwk


@pytest.mark.parametrize("alg", FAPI_ALGORITHMS)
def test_signing_is_fresh_for_probabilistic_algorithms(alg: str,
                                                       signers: dict[str, JWSSigner]) -> None:
    a, b = (signers[alg].sign({}, CLAIMS) for _ in range(2))
    assert (a == b) is (alg == "EdDSA")


@pytest.mark.spec("RFC 8725 §3.1")
def test_verify_refuses_alg_none(as_keys: KeySet) -> None:
    """RFC 8725 §3.1: an unsigned token is never accepted."""
    with pytest.raises(ProtocolViolation):
        verify(unsigned(CLAIMS), as_keys)
    with pytest.raises(ProtocolViolation):
        verify(unsigned(CLAIMS, alg="ES256"), as_keys)


@pytest.mark.spec("RFC 8725 §3.1")
def test_verify_refuses_hs256() -> None:
    """RFC 8725 §3.1: an HMAC token is refused even when a matching symmetric key is present."""
    secret = b"s" * 32
    signing_input = f"{encode_segment({'alg': 'HS256', 'kid': 'h'})}.{encode_segment(CLAIMS)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64url_encode(mac)}"
    keys = KeySet([OctKey.import_key(secret, {"kid": "h"})])
    assert jws.deserialize_compact(token, keys, algorithms=["HS256"]).payload
    with pytest.raises(ProtocolViolation):
        verify(token, keys)


@pytest.mark.spec("FAPI 2.0 Security Profile §5.4")
def test_verify_refuses_rs256() -> None:
    """FAPI 2.0 Security Profile §5.4: RS256 is refused even with a valid signature."""
    rsa = RSAKey.generate_key(2048, private=True, parameters={"kid": "r"})
    token = jws.serialize_compact({"alg": "RS256", "kid": "r"}, json.dumps(CLAIMS), rsa,
                                  algorithms=["RS256"])
    public = KeySet.import_key_set({"keys": [rsa.as_dict(private=False)]})
    with pytest.raises(ProtocolViolation):
        verify(token, public)


@pytest.mark.spec("FAPI 2.0 Security Profile §5.4")
def test_verify_refuses_algorithms_outside_the_given_allowlist(
        signers: dict[str, JWSSigner], as_keys: KeySet) -> None:
    """FAPI 2.0 Security Profile §5.4: the caller's allowlist narrows what is accepted."""
    token = signers["ES256"].sign({"kid": "as-ES256"}, CLAIMS)
    with pytest.raises(ProtocolViolation):
        verify(token, as_keys, algorithms=["PS256", "EdDSA"])


def test_verify_refuses_a_foreign_key(signers: dict[str, JWSSigner]) -> None:
    other = KeySet.import_key_set({"keys": [JWSSigner(generate_signing_jwk(
        "ES256", kid="as-ES256")).public_jwk]})
    with pytest.raises(ProtocolViolation):
        verify(signers["ES256"].sign({"kid": "as-ES256"}, CLAIMS), other)


def test_verify_refuses_tampered_payload(signers: dict[str, JWSSigner], as_keys: KeySet) -> None:
    header, _, sig = signers["ES256"].sign({"kid": "as-ES256"}, CLAIMS).split(".")
    forged = f"{header}.{encode_segment({**CLAIMS, 'sub': 'mallory'})}.{sig}"
    with pytest.raises(ProtocolViolation):
        verify(forged, as_keys)


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c", "...", "not a jws"])
def test_verify_refuses_malformed(token: str, as_keys: KeySet) -> None:
    with pytest.raises(ProtocolViolation):
        verify(token, as_keys)


def test_verify_refuses_non_object_payload(signers: dict[str, JWSSigner],
                                           as_keys: KeySet) -> None:
    signer = signers["ES256"]
    signing_input = f"{encode_segment({'alg': 'ES256', 'kid': 'as-ES256'})}.{b64url_encode(b'[1]')}"
    token = f"{signing_input}.{b64url_encode(signer.sign_raw(signing_input.encode()))}"
    with pytest.raises(ProtocolViolation, match="not an object"):
        verify(token, as_keys)
    signing_input = f"{signing_input.split('.')[0]}.{b64url_encode(b'not json')}"
    token = f"{signing_input}.{b64url_encode(signer.sign_raw(signing_input.encode()))}"
    with pytest.raises(ProtocolViolation, match="not JSON"):
        verify(token, as_keys)


def test_verify_raises_the_requested_error(as_keys: KeySet) -> None:
    with pytest.raises(IDTokenInvalid):
        verify(unsigned(CLAIMS), as_keys, error=IDTokenInvalid)


def test_peek_header(signers: dict[str, JWSSigner]) -> None:
    token = signers["PS256"].sign({"kid": "as-PS256"}, CLAIMS)
    assert peek_header(token) == {"kid": "as-PS256", "alg": "PS256"}
    for bad in ("!!.x.y", b64url_encode(b"[1]") + ".x.y", b64url_encode(b"{") + ".x.y"):
        with pytest.raises(ProtocolViolation, match="malformed"):
            peek_header(bad)


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.spec("RFC 7515 §5.2")
@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_deeply_nested_header_is_a_malformed_jws_not_a_crash(depth: int,
                                                            as_keys: KeySet) -> None:
    """A header nested past the parser's recursion limit is refused like any bad header."""
    token = f"{b64url_encode(nested(depth).encode())}.{encode_segment(CLAIMS)}.c2ln"
    with pytest.raises(IDTokenInvalid, match="malformed JWS header"):
        peek_header(token, IDTokenInvalid)
    with pytest.raises(IDTokenInvalid, match="JWS rejected"):
        verify(token, as_keys, error=IDTokenInvalid)


@pytest.mark.spec("RFC 7515 §5.2")
def test_deeply_nested_payload_is_refused(signers: dict[str, JWSSigner],
                                          as_keys: KeySet) -> None:
    signer = signers["ES256"]
    header = encode_segment({"alg": "ES256", "kid": "as-ES256"})
    payload = b64url_encode(nested(5_000).encode())
    signing_input = f"{header}.{payload}"
    token = f"{signing_input}.{b64url_encode(signer.sign_raw(signing_input.encode()))}"
    with pytest.raises(IDTokenInvalid, match="payload is not JSON"):
        verify(token, as_keys, error=IDTokenInvalid)
