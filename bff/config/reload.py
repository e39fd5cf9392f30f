"""Rotated keys reach a running BFF: on SIGHUP and every ``server.key_reload_interval`` seconds.

Both, because each covers what the other cannot: a signal is immediate and explicit, while a
Kubernetes Secret updates its files with no signal at all, and a key written with a future
``bff_not_before`` must start signing on time with nobody there to send one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

from bff.config.loader import LoadedConfig
from bff.crypto.rotation import published
from bff.crypto.seal import Sealer
from bff.errors import ConfigError
from bff.oauth.jws import JWSSigner

log = logging.getLogger("bff.keys")


class KeyRing:
    """The keys in use: the client signer, the cookie sealer and the published client keys."""

    def __init__(self, config: LoadedConfig, signer: JWSSigner | None, sealer: Sealer) -> None:
        self.config = config
        self.signer = signer
        self.sealer = sealer
        self.jwks = published([k for k in config.client_jwks or [config.client_jwk] if k])

    def reload(self) -> bool:
        """Read the key files again and use what they hold now; keep the old keys on a problem."""
        try:
            fresh = self.config.reload()
        except ConfigError as exc:
            log.error("keys not reloaded: the configuration has problems",
                      extra={"event": "keys_reload_failed",
                             "problems": [p.key for p in exc.problems]})
            return False
        client_kid = self.signer.kid if self.signer is not None else None
        before = (client_kid, self.sealer.sealing_kid, self.jwks)
        if self.signer is not None and fresh.client_jwk:
            self.signer.replace_key(fresh.client_jwk)
            client_kid = self.signer.kid
        self.sealer.replace_keys(fresh.seal_keys)
        self.jwks = published([k for k in fresh.client_jwks or [fresh.client_jwk] if k])
        if before != (client_kid, self.sealer.sealing_kid, self.jwks):
            log.info("keys reloaded", extra={
                "event": "keys_reloaded", "client_kid": client_kid,
                "cookie_kid": self.sealer.sealing_kid,
                "published_kids": [k.get("kid") for k in self.jwks["keys"]]})
        return True

    @contextlib.asynccontextmanager
    async def watching(self, interval: float,
                       also_on_signal: Callable[[], None] | None = None) -> AsyncIterator[None]:
        """While open: reload on SIGHUP (main thread only) and every ``interval`` seconds.

        A process has one SIGHUP handler: ``also_on_signal`` (e.g. re-reading the TLS client
        certificates) runs in the same one.
        """
        loop = asyncio.get_running_loop()
        hup = False

        def on_signal() -> None:
            self.reload()
            if also_on_signal is not None:
                also_on_signal()

        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError, AttributeError):
            loop.add_signal_handler(signal.SIGHUP, on_signal)
            hup = True
        task: asyncio.Task[Any] | None = None
        if interval > 0:
            task = asyncio.create_task(self._every(interval))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if hup:
                loop.remove_signal_handler(signal.SIGHUP)

    async def _every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            # on the loop: the files are small and read without the system CA store (< 1 ms)
            self.reload()
