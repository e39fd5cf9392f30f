"""Instance proofs and attestation checks, in process (the end-to-end versions run against
the real AS in tests/integration/mobile)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from bff.crypto.keys import generate_seal_jwk, seal_key_from_jwk, thumbprint
from bff.crypto.seal import Sealer
from bff.errors import (
    AttestationChallengeInvalid,
    AttestationChallengeUsed,
    AttestationKeyMissing,
    AttestationUntrusted,
    BFFError,
    ProofInvalid,
    ProofNonceRequired,
    ProofReplayed,
    ProofRequired,
)
from bff.mobile.attestation import AttestationVerifier, Challenges, public_instance_jwk
from bff.mobile.proofs import InstanceProofs, ProofNonces
from bff.store.memory import MemoryStore

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "mobile-example"))
from app_instance import AppInstance
from attester import LocalAttester

PUBLIC = "https://bff.example"
NOW = 1_800_000_000.0


def clock() -> float:
    return NOW


@pytest.fixture
def app() -> AppInstance:
    instance = AppInstance(PUBLIC)
    yield instance
    instance.close()


def proofs(require_nonce: bool = True) -> tuple[InstanceProofs, ProofNonces]:
    sealer = Sealer([seal_key_from_jwk(generate_seal_jwk("k"))])
    nonces = ProofNonces(sealer, clock, 300)
    return InstanceProofs(MemoryStore(clock), nonces, clock, 60, require_nonce), nonces


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


@pytest.mark.spec("RFC 9449 §4.3")
def test_valid_proof_gives_the_key_thumbprint_once(app: AppInstance) -> None:
    verifier, nonces = proofs()
    proof = app.proof("GET", "/bff/mobile/session", handle="h" * 43, nonce=nonces.issue(),
                      iat=NOW)
    assert run(verifier.verify(proof, "GET", PUBLIC + "/bff/mobile/session", "h" * 43)) == (
        thumbprint(app.public_jwk))
    with pytest.raises(ProofReplayed):
        run(verifier.verify(proof, "GET", PUBLIC + "/bff/mobile/session", "h" * 43))


@pytest.mark.spec("RFC 9449 §4.3")
@pytest.mark.parametrize(("method", "path", "handle"), [
    ("POST", "/bff/mobile/session", "h" * 43),   # htm
    ("GET", "/bff/mobile/refresh", "h" * 43),    # htu
    ("GET", "/bff/mobile/session", "g" * 43),    # ath of another handle
    ("GET", "/bff/mobile/session", None),        # ath without a handle
])
def test_proof_for_another_call_is_refused(app: AppInstance, method: str, path: str,
                                           handle: str | None) -> None:
    verifier, nonces = proofs()
    proof = app.proof("GET", "/bff/mobile/session", handle="h" * 43, nonce=nonces.issue(),
                      iat=NOW)
    with pytest.raises(ProofInvalid):
        run(verifier.verify(proof, method, PUBLIC + path, handle))


def test_missing_foreign_and_expired_nonces(app: AppInstance) -> None:
    verifier, _ = proofs()
    with pytest.raises(ProofRequired):
        run(verifier.verify(None, "GET", PUBLIC + "/x"))
    foreign = ProofNonces(Sealer([seal_key_from_jwk(generate_seal_jwk("k"))]), clock, 300)
    for nonce in (None, foreign.issue(), "not-a-nonce"):
        with pytest.raises(ProofNonceRequired):
            run(verifier.verify(app.proof("GET", "/x", nonce=nonce or "", iat=NOW), "GET",
                                PUBLIC + "/x"))
    sealer = Sealer([seal_key_from_jwk(generate_seal_jwk("k"))])
    old = ProofNonces(sealer, lambda: NOW - 301, 300).issue()
    assert not ProofNonces(sealer, clock, 300).valid(old)


def test_tampered_and_private_key_proofs(app: AppInstance) -> None:
    verifier, nonces = proofs()
    proof = app.proof("GET", "/x", nonce=nonces.issue(), iat=NOW)
    head, body, sig = proof.split(".")
    with pytest.raises(ProofInvalid):
        run(verifier.verify(f"{head}.{body}.{sig[:-4]}AAAA", "GET", PUBLIC + "/x"))
    with pytest.raises(ProofInvalid):
        run(verifier.verify("a.b", "GET", PUBLIC + "/x"))


def test_attestation_checks_in_process(app: AppInstance) -> None:
    attester = LocalAttester()
    store = MemoryStore(clock)
    challenges = Challenges(store, 300)
    verifier = AttestationVerifier({attester.kid: attester.public_jwk}, ["com.example.bank"],
                                   PUBLIC, store, challenges, clock, 60)
    challenge = run(challenges.issue())
    attested = run(verifier.verify(attester.attest("com.example.bank", app.public_jwk, now=NOW),
                                   app.attestation_pop(str(challenge), iat=NOW)))
    assert attested.jkt == thumbprint(app.public_jwk)  # type: ignore[attr-defined]
    with pytest.raises(AttestationChallengeUsed):
        run(challenges.spend(challenge))
    with pytest.raises(AttestationChallengeInvalid):
        run(challenges.spend(None))
    with pytest.raises(AttestationUntrusted):
        verifier.check_attestation(LocalAttester(kid="x").attest("com.example.bank",
                                                                 app.public_jwk, now=NOW))


@pytest.mark.parametrize("jwk", [None, {}, {"kty": "oct", "k": "AAAA"},
                                 {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"}])
def test_cnf_must_be_a_public_asymmetric_key(jwk: object) -> None:
    with pytest.raises(AttestationKeyMissing):
        public_instance_jwk(jwk)


def test_every_refusal_is_a_bff_error_with_a_fixed_sentence() -> None:
    for cls in (ProofInvalid, ProofReplayed, AttestationUntrusted):
        exc = cls("internal detail")
        assert isinstance(exc, BFFError) and "internal" not in cls.description
