"""Sealed values: AES-256-GCM envelopes bound to a name, with key ids and rotation."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bff.crypto.seal import Sealer, SealKey, b64url_decode, b64url_encode
from bff.errors import InvalidSeal

VECTORS = Path(__file__).parents[2] / "vectors"
NAME = "__Host-bff-session"


def key(kid: str = "k1") -> SealKey:
    return SealKey(kid=kid, key=os.urandom(32))


@pytest.fixture
def sealer() -> Sealer:
    return Sealer([key()])


def retouch_body(value: str, index: int) -> str:
    """Flip one bit of the decoded nonce-ciphertext-tag body and re-encode it."""
    version, kid, body = value.split(".")
    raw = bytearray(b64url_decode(body))
    raw[index] ^= 0x01
    return f"{version}.{kid}.{b64url_encode(bytes(raw))}"


def test_roundtrip(sealer: Sealer) -> None:
    sealed = sealer.seal(b"hello", NAME)
    assert sealed.startswith("v1.k1.")
    assert b"hello" not in sealed.encode()
    assert sealer.open(sealed, NAME) == b"hello"


def test_roundtrip_empty_plaintext(sealer: Sealer) -> None:
    assert sealer.open(sealer.seal(b"", NAME), NAME) == b""


def test_each_seal_uses_a_fresh_nonce(sealer: Sealer) -> None:
    assert sealer.seal(b"same", NAME) != sealer.seal(b"same", NAME)


def test_first_key_seals_and_every_key_opens() -> None:
    old, new = key("old"), key("new")
    before = Sealer([old]).seal(b"issued before rotation", NAME)
    rotated = Sealer([new, old])
    assert rotated.open(before, NAME) == b"issued before rotation"
    after = rotated.seal(b"issued after", NAME)
    assert after.split(".")[1] == "new"
    assert Sealer([new]).open(after, NAME) == b"issued after"


@pytest.mark.spec("DESIGN §4")
def test_value_moved_to_another_name_fails(sealer: Sealer) -> None:
    """DESIGN §4: a sealed value is bound to its cookie name through the associated data."""
    sealed = sealer.seal(b"secret", NAME)
    with pytest.raises(InvalidSeal):
        sealer.open(sealed, "__Host-bff-login.abc")


@pytest.mark.spec("DESIGN §4")
@pytest.mark.parametrize("index", [0, 11, 12, -1])
def test_tampered_body_fails(sealer: Sealer, index: int) -> None:
    """DESIGN §4: any changed bit of nonce, ciphertext or tag fails the GCM tag check."""
    sealed = sealer.seal(b"secret value", NAME)
    with pytest.raises(InvalidSeal):
        sealer.open(retouch_body(sealed, index), NAME)


@pytest.mark.spec("DESIGN §4")
def test_tampered_kid_fails() -> None:
    """DESIGN §4: the key id is in the associated data, so a relabelled value fails."""
    a, b = SealKey("a", os.urandom(32)), SealKey("b", os.urandom(32))
    sealed = Sealer([a, b]).seal(b"secret", NAME)
    relabelled = sealed.replace("v1.a.", "v1.b.", 1)
    same_key_twice = Sealer([a, SealKey("b", a.key)])
    with pytest.raises(InvalidSeal):
        same_key_twice.open(relabelled, NAME)


@pytest.mark.spec("DESIGN §4")
@pytest.mark.parametrize("version", ["v0", "v2", "V1", ""])
def test_tampered_version_fails(sealer: Sealer, version: str) -> None:
    """DESIGN §4: only format v1 opens."""
    sealed = sealer.seal(b"secret", NAME)
    with pytest.raises(InvalidSeal):
        sealer.open(version + sealed[2:], NAME)


def test_unknown_kid_fails(sealer: Sealer) -> None:
    sealed = Sealer([key("other")]).seal(b"secret", NAME)
    with pytest.raises(InvalidSeal):
        sealer.open(sealed, NAME)


def test_same_kid_different_key_fails(sealer: Sealer) -> None:
    sealed = Sealer([key("k1")]).seal(b"secret", NAME)
    with pytest.raises(InvalidSeal):
        sealer.open(sealed, NAME)


@pytest.mark.parametrize("value", [
    "", "v1", "v1.k1", "v1.k1.", "v1.k1.AAAA", "v1.k1." + "A" * 37, "v1.k1.A",
    "v1.k1.!!!!", "v1.k1.AAAA.extra", "garbage", "chunks:2", "v1..AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
])
def test_short_or_garbage_values_fail(sealer: Sealer, value: str) -> None:
    with pytest.raises(InvalidSeal):
        sealer.open(value, NAME)


@pytest.mark.parametrize("value", [None, b"v1.k1.AAAA", 42])
def test_non_string_values_fail(sealer: Sealer, value: Any) -> None:
    with pytest.raises(InvalidSeal):
        sealer.open(value, NAME)


def test_invalid_seal_is_opaque(sealer: Sealer) -> None:
    with pytest.raises(InvalidSeal) as wrong_name:
        sealer.open(sealer.seal(b"x", NAME), "other")
    with pytest.raises(InvalidSeal) as garbage:
        sealer.open("garbage", NAME)
    assert str(wrong_name.value) == str(garbage.value)
    assert wrong_name.value.code == garbage.value.code == "invalid_seal"


@pytest.mark.parametrize("length", [0, 16, 24, 31, 33, 64])
def test_key_must_be_32_bytes(length: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SealKey("k1", b"\x00" * length)


@pytest.mark.parametrize("kid", ["", "a.b", "a b", "a/b", "é", "k" * 33, "a|b"])
def test_kid_charset_and_length(kid: str) -> None:
    with pytest.raises(ValueError, match="key id"):
        SealKey(kid, os.urandom(32))


@pytest.mark.parametrize("kid", ["a", "A-z_09", "k" * 32])
def test_valid_kids(kid: str) -> None:
    assert SealKey(kid, os.urandom(32)).kid == kid


def test_repr_hides_key() -> None:
    k = SealKey("k1", b"\x07" * 32)
    assert "redacted" in repr(k)
    assert "\\x07" not in repr(k)


def test_sealer_needs_keys() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Sealer([])


def test_sealer_refuses_duplicate_kids() -> None:
    with pytest.raises(ValueError, match="unique"):
        Sealer([key("k1"), key("k1")])


def test_b64url_roundtrip_and_refusals() -> None:
    assert b64url_encode(b"\xfb\xff") == "-_8"
    assert b64url_decode("-_8") == b"\xfb\xff"
    with pytest.raises(ValueError):
        b64url_decode("+/8=")


def test_committed_v1_vector_opens() -> None:
    vector: dict[str, str] = json.loads((VECTORS / "seal_v1.json").read_text())
    assert vector["format"] == "v1"
    sealer = Sealer([SealKey(vector["kid"], b64url_decode(vector["key"]))])
    assert sealer.open(vector["sealed"], vector["name"]) == vector["plaintext"].encode()
    with pytest.raises(InvalidSeal):
        sealer.open(vector["sealed"], vector["name"] + ".1")
