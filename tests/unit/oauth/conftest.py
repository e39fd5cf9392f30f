"""Signing keys for the oauth tests, one per FAPI algorithm, generated once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from joserfc.jwk import KeySet

from bff.crypto.keys import FAPI_ALGORITHMS, generate_signing_jwk, public_jwk
from bff.crypto.seal import b64url_decode
from bff.oauth.jws import JWSSigner


@pytest.fixture(scope="session")
def signers() -> dict[str, JWSSigner]:
    return {alg: JWSSigner(generate_signing_jwk(alg, kid=f"as-{alg}"))
            for alg in FAPI_ALGORITHMS}


@pytest.fixture(scope="session")
def as_keys(signers: dict[str, JWSSigner]) -> KeySet:
    """The public keys of every signer, as the AS would publish them."""
    return KeySet.import_key_set({"keys": [public_jwk(s.private_jwk) for s in signers.values()]})


def claims_of(token: str) -> dict[str, Any]:
    """The unverified payload of a compact JWS."""
    payload: dict[str, Any] = json.loads(b64url_decode(token.split(".")[1]))
    return payload
