"""Cached JSON Web Key Set of the authorization server (RFC 7517 §5, RFC 8414 §2 jwks_uri)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import anyio
import httpx

from example_api.jose import JoseError, PublicKey, public_key_from_jwk

_FETCH_TIMEOUT: Final = 5.0


class JWKSUnavailable(RuntimeError):
    """The key set could not be fetched and no cached copy exists."""


class JWKSCache:
    """Parses the AS key set once and hands out key objects by ``kid``."""

    def __init__(
        self,
        jwks_uri: str,
        *,
        http_client: httpx.AsyncClient | None = None,
        max_age: float = 3600.0,
        min_refresh_interval: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Remember where the keys live; nothing is fetched until first use."""
        self._clock = clock
        self._uri = jwks_uri
        self._client = http_client
        self._max_age = max_age
        self._min_refresh_interval = min_refresh_interval
        self._by_kid: dict[str, PublicKey] = {}
        self._without_kid: list[PublicKey] = []
        self._fetched_at: float | None = None
        self._lock = anyio.Lock()
        self.fetches = 0

    async def keys_for(self, kid: str | None) -> list[PublicKey]:
        """Return candidate keys for a JWS header, refetching once for an unknown ``kid``."""
        if self._is_stale():
            await self._refresh(self._is_stale)
        found = self._lookup(kid)
        if not found and self._may_refresh():
            # Key rotation at the AS: a new kid shows up before our cache expires.
            await self._refresh(self._may_refresh)
            found = self._lookup(kid)
        return found

    def _lookup(self, kid: str | None) -> list[PublicKey]:
        if kid is None:
            return [*self._by_kid.values(), *self._without_kid]
        key = self._by_kid.get(kid)
        return [key] if key is not None else []

    def _is_stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at > self._max_age

    def _may_refresh(self) -> bool:
        return (
            self._fetched_at is None
            or self._clock() - self._fetched_at >= self._min_refresh_interval
        )

    async def _refresh(self, still_needed: Callable[[], bool]) -> None:
        async with self._lock:
            # Another task may have refreshed while this one waited for the lock.
            if not still_needed():
                return
            try:
                document = await self._fetch()
            except (httpx.HTTPError, ValueError) as exc:
                if self._fetched_at is None:
                    raise JWKSUnavailable(str(exc)) from exc
                # Keep serving the keys we have; the rate limit spaces out retries.
                self._fetched_at = self._clock()
                return
            self._load(document)
            self._fetched_at = self._clock()

    async def _fetch(self) -> Mapping[str, Any]:
        self.fetches += 1
        if self._client is not None:
            response = await self._client.get(self._uri, timeout=_FETCH_TIMEOUT)
        else:
            async with httpx.AsyncClient(timeout=_FETCH_TIMEOUT) as client:
                response = await client.get(self._uri)
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("JWKS document has no keys array")
        return document

    def _load(self, document: Mapping[str, Any]) -> None:
        by_kid: dict[str, PublicKey] = {}
        without_kid: list[PublicKey] = []
        for jwk in document["keys"]:
            # RFC 7517 §4.2: keys published for encryption must not verify signatures.
            if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
                continue
            try:
                key = public_key_from_jwk(jwk)
            except JoseError:
                continue  # unsupported or symmetric keys are simply not usable here
            kid = jwk.get("kid")
            if isinstance(kid, str):
                by_kid[kid] = key
            else:
                without_kid.append(key)
        self._by_kid, self._without_kid = by_kid, without_kid
