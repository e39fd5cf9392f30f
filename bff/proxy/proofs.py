"""DPoP proofs for proxied calls, signed together: the calls that need one during an
event-loop iteration wait, and the next iteration signs all of them back to back.

Why: under load, the signature dominated a proxied call's CPU, and the first ES256 signature
after other work cost about twice a second one right after it (OpenSSL's tables and code had
been evicted in between). Signing the iteration's proofs in one run keeps them warm, and the
calls then go on to aiohttp together, which batches their socket writes too: measured, about
a quarter less CPU per call and a third more calls per second at saturation
(bench/RESULTS.md). A lone call waits one loop iteration (microseconds).

Each proof is still made for its own request when it is signed (RFC 9449 §4.2: own ``jti``,
``iat`` at signing, the ``htm``/``htu``/``ath``/``nonce`` the call asked for).
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass

from bff.oauth.dpop import DPoPKey


@dataclass
class _Wanted:
    key: DPoPKey
    htm: str
    url: str
    access_token: str
    nonce: str | None
    future: asyncio.Future[str]


class ProofBatcher:
    """Collects the proofs asked for in one loop iteration and signs them in the next."""

    def __init__(self) -> None:
        # one queue per event loop: an app may be served by several loops (threads, tests)
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[_Wanted]] = (
            weakref.WeakKeyDictionary())

    async def proof(self, key: DPoPKey, htm: str, url: str, *, access_token: str,
                    nonce: str | None) -> str:
        """A fresh proof for one request, signed with the others of this loop iteration."""
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = []
        if not queue:
            loop.call_soon(self._sign_all, loop)
        future: asyncio.Future[str] = loop.create_future()
        queue.append(_Wanted(key, htm, url, access_token, nonce, future))
        return await future

    def _sign_all(self, loop: asyncio.AbstractEventLoop) -> None:
        wanted, self._queues[loop] = self._queues.get(loop, []), []
        try:
            for w in wanted:
                if w.future.cancelled():  # the caller went away (a client that disconnected)
                    continue
                try:
                    w.future.set_result(w.key.proof(w.htm, w.url, access_token=w.access_token,
                                                    nonce=w.nonce))
                except Exception as exc:  # it belongs to that one call alone
                    w.future.set_exception(exc)
        finally:
            # nobody waits forever, whatever escaped above
            for w in wanted:
                if not w.future.done():
                    w.future.cancel()
