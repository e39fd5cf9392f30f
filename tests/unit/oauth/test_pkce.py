"""PKCE with S256 only (RFC 7636)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bff.oauth.pkce import build_code_challenge, build_code_verifier

VECTORS = Path(__file__).parents[2] / "vectors"
UNRESERVED = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")


@pytest.mark.spec("RFC 7636 Appendix B")
def test_s256_vector() -> None:
    """The RFC 7636 Appendix B verifier gives the published S256 challenge."""
    vector = json.loads((VECTORS / "rfc7636_pkce.json").read_text())
    assert vector["code_challenge_method"] == "S256"
    assert build_code_challenge(vector["code_verifier"]) == vector["code_challenge"]


@pytest.mark.spec("RFC 7636 §4.1")
def test_verifier_length_and_charset() -> None:
    """RFC 7636 §4.1: a verifier is 43-128 unreserved characters with 256 bits of entropy."""
    for _ in range(50):
        verifier = build_code_verifier()
        assert len(verifier) == 43
        assert UNRESERVED.fullmatch(verifier)


def test_verifiers_are_unique() -> None:
    assert len({build_code_verifier() for _ in range(100)}) == 100


def test_challenge_is_unpadded_base64url_of_sha256() -> None:
    challenge = build_code_challenge(build_code_verifier())
    assert len(challenge) == 43
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", challenge)


def test_challenge_refuses_non_ascii_verifier() -> None:
    with pytest.raises(UnicodeEncodeError):
        build_code_challenge("é" * 43)
