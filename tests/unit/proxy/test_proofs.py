"""Proxied calls' DPoP proofs, signed together per event-loop iteration (RFC 9449 §4.2)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from bff.oauth.dpop import DPoPKey, access_token_hash
from bff.proxy.proofs import ProofBatcher


class CountingKey(DPoPKey):
    """A real key that records the URL of each proof it signs."""

    def __init__(self, signed: list[str], fail_for: str = "") -> None:
        super().__init__(DPoPKey.generate().private_jwk)
        self.signed = signed
        self.fail_for = fail_for

    def proof(self, htm: str, url: str, *, access_token: str | None = None,
              nonce: str | None = None) -> str:
        if url == self.fail_for:
            raise ValueError("this key cannot sign that")
        self.signed.append(url)
        return super().proof(htm, url, access_token=access_token, nonce=nonce)


class RecordingBatcher(ProofBatcher):
    """Records how many proofs each signing run made."""

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[int] = []
        self._key: CountingKey | None = None

    def _sign_all(self, loop: asyncio.AbstractEventLoop) -> None:
        before = len(self._key.signed) if self._key else 0
        super()._sign_all(loop)
        self.runs.append((len(self._key.signed) if self._key else 0) - before)


def claims_of(proof: str, key: DPoPKey) -> dict[str, Any]:
    public = ECKey.import_key(key.public_jwk)
    token = jwt.decode(proof, public, algorithms=["ES256"])
    assert token.header["typ"] == "dpop+jwt"
    return dict(token.claims)


@pytest.mark.spec("RFC 9449 §4.2")
def test_the_proofs_of_one_iteration_are_signed_together_each_for_its_own_request() -> None:
    key = CountingKey([])
    batcher = RecordingBatcher()
    batcher._key = key
    urls = [f"https://api.test/items/{i}" for i in range(6)]

    async def scenario() -> list[str]:
        return await asyncio.gather(*(batcher.proof(key, "GET", u, access_token="at-1",
                                                    nonce="n-1") for u in urls))

    proofs = asyncio.run(scenario())
    assert batcher.runs == [6], "one signing run for the six calls of the iteration"
    claims = [claims_of(p, key) for p in proofs]
    assert [c["htu"] for c in claims] == urls
    assert len({c["jti"] for c in claims}) == 6
    assert {(c["htm"], c["ath"], c["nonce"]) for c in claims} == {
        ("GET", access_token_hash("at-1"), "n-1")}


def test_a_lone_call_gets_its_proof_in_the_next_iteration() -> None:
    key = CountingKey([])
    batcher = ProofBatcher()

    async def scenario() -> tuple[str, bool]:
        task = asyncio.ensure_future(batcher.proof(key, "POST", "https://api.test/pay",
                                                   access_token="at", nonce=None))
        await asyncio.sleep(0)
        waited = not task.done()
        return await task, waited

    proof, waited = asyncio.run(scenario())
    assert waited and claims_of(proof, key)["htm"] == "POST"


def test_a_failure_or_a_cancelled_caller_touches_no_other_call() -> None:
    key = CountingKey([], fail_for="https://api.test/broken")
    batcher = ProofBatcher()

    async def scenario() -> list[Any]:
        gone = asyncio.ensure_future(batcher.proof(key, "GET", "https://api.test/gone",
                                                   access_token="at", nonce=None))
        broken = batcher.proof(key, "GET", "https://api.test/broken", access_token="at",
                               nonce=None)
        fine = batcher.proof(key, "GET", "https://api.test/fine", access_token="at",
                             nonce=None)
        await asyncio.sleep(0)
        gone.cancel()
        return await asyncio.gather(broken, fine, return_exceptions=True)

    broken, fine = asyncio.run(scenario())
    assert isinstance(broken, ValueError)
    assert claims_of(fine, key)["htu"] == "https://api.test/fine"
    assert key.signed == ["https://api.test/fine"]  # the cancelled call was never signed


def test_each_event_loop_has_its_own_batch() -> None:
    """One app served by loops in several threads: a proof is signed on its caller's loop."""
    batcher = ProofBatcher()
    results: list[str] = []
    errors: list[BaseException] = []

    def serve(i: int) -> None:
        key = CountingKey([])

        async def calls() -> list[str]:
            return await asyncio.gather(*(batcher.proof(
                key, "GET", f"https://api.test/{i}/{n}", access_token="at", nonce=None)
                for n in range(50)))
        try:
            results.extend(asyncio.run(calls()))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=serve, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and len(results) == 200 and len(set(results)) == 200


def test_the_serving_loop_of_bff_run_uvloop_batches_too() -> None:
    """``bff run`` serves on uvloop: its loops key the batches as asyncio's do."""
    import uvloop

    key = CountingKey([])
    batcher = RecordingBatcher()
    batcher._key = key

    async def scenario() -> list[str]:
        return await asyncio.gather(*(batcher.proof(key, "GET", f"https://api.test/{n}",
                                                    access_token="at", nonce=None)
                                      for n in range(3)))

    proofs = uvloop.run(scenario())
    assert batcher.runs == [3] and len(set(proofs)) == 3
