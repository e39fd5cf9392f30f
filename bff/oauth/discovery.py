"""Authorization server metadata and JWKS, cached, refreshed on an unknown ``kid`` (RFC 8414).

The metadata's ``issuer`` must equal the configured issuer exactly (RFC 8414 §3.3), which is
also what defeats mix-up attacks together with RFC 9207.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from bff.errors import BFFError, InvalidMetadata
from bff.oauth.clock import Clock, system_clock
from bff.oauth.http import json_body, send

_REQUIRED = ("authorization_endpoint", "token_endpoint", "jwks_uri",
             "pushed_authorization_request_endpoint")


@dataclass(frozen=True)
class Metadata:
    """The endpoints and capabilities the BFF uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    pushed_authorization_request_endpoint: str
    userinfo_endpoint: str | None = None
    revocation_endpoint: str | None = None
    introspection_endpoint: str | None = None
    end_session_endpoint: str | None = None
    registration_endpoint: str | None = None


def process_metadata_response(response: httpx.Response, issuer: str) -> Metadata:
    """Validate a discovery document (RFC 8414 §3.2, §3.3)."""
    if response.status_code != 200:
        raise InvalidMetadata(f"discovery answered HTTP {response.status_code}")
    doc = json_body(response)
    if doc.get("issuer") != issuer:
        raise InvalidMetadata("issuer in metadata differs from the configured issuer")
    missing = [k for k in _REQUIRED if not isinstance(doc.get(k), str)]
    if missing:
        raise InvalidMetadata(f"metadata lacks {', '.join(missing)}")

    def opt(name: str) -> str | None:
        value = doc.get(name)
        return value if isinstance(value, str) else None

    return Metadata(issuer=issuer, authorization_endpoint=doc["authorization_endpoint"],
                    token_endpoint=doc["token_endpoint"], jwks_uri=doc["jwks_uri"],
                    pushed_authorization_request_endpoint=doc[
                        "pushed_authorization_request_endpoint"],
                    userinfo_endpoint=opt("userinfo_endpoint"),
                    revocation_endpoint=opt("revocation_endpoint"),
                    introspection_endpoint=opt("introspection_endpoint"),
                    end_session_endpoint=opt("end_session_endpoint"),
                    registration_endpoint=opt("registration_endpoint"))


def process_jwks_response(response: httpx.Response) -> KeySet:
    """Parse a JWKS, keeping only public signing keys."""
    if response.status_code != 200:
        raise InvalidMetadata(f"jwks answered HTTP {response.status_code}")
    doc = json_body(response)
    keys: list[dict[str, Any]] = [k for k in doc.get("keys", []) if isinstance(k, dict)
                                  and k.get("use", "sig") == "sig" and "d" not in k]
    try:
        return KeySet.import_key_set({"keys": keys})
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidMetadata("jwks is malformed") from exc


class Discovery:
    """Fetches and caches the AS metadata and JWKS."""

    def __init__(self, issuer: str, http: httpx.AsyncClient, clock: Clock = system_clock,
                 ttl: float = 3600.0, jwks_min_refresh: float = 30.0) -> None:
        self.issuer = issuer
        self._http = http
        self._clock = clock
        self._ttl = ttl
        self._jwks_min_refresh = jwks_min_refresh
        self._metadata: Metadata | None = None
        self._metadata_at = 0.0
        self._jwks: KeySet | None = None
        self._jwks_at = 0.0
        self._lock = asyncio.Lock()

    async def metadata(self) -> Metadata:
        """The cached metadata, fetched when absent or stale."""
        now = self._clock()
        if self._metadata is None or now - self._metadata_at > self._ttl:
            async with self._lock:
                if self._metadata is None or now - self._metadata_at > self._ttl:
                    url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
                    response = await send(self._http, self._http.build_request("GET", url))
                    self._metadata = process_metadata_response(response, self.issuer)
                    self._metadata_at = now
        return self._metadata

    async def jwks(self, kid: str | None = None) -> KeySet:
        """The AS signing keys; refetched (rate-limited) when ``kid`` is unknown."""
        now = self._clock()
        stale = self._jwks is None or now - self._jwks_at > self._ttl
        unknown = (kid is not None and self._jwks is not None
                   and all(k.kid != kid for k in self._jwks.keys)
                   and now - self._jwks_at > self._jwks_min_refresh)
        if stale or unknown:
            meta = await self.metadata()
            response = await send(self._http, self._http.build_request("GET", meta.jwks_uri))
            self._jwks = process_jwks_response(response)
            self._jwks_at = now
        assert self._jwks is not None
        return self._jwks

    # -- readiness: did the AS answer recently? ------------------------------------------------
    # Class defaults, so the probe adds nothing to __init__; probe() sets them per instance.
    # Operational time (monotonic), not the injected protocol clock a test may freeze.
    _probe_at: float | None = None
    _probe_failure: BFFError | None = None
    _probe_lock: asyncio.Lock | None = None

    async def probe(self, max_age: float = 3.0, request_timeout: float = 2.0) -> None:
        """Raise unless the AS served valid metadata within the last ``max_age`` seconds.

        At most one bounded request per ``max_age``, however often readiness is asked.
        """
        if self._probe_lock is None:
            self._probe_lock = asyncio.Lock()
        async with self._probe_lock:
            at = self._probe_at
            if at is None or time.monotonic() - at >= max_age:
                url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
                try:
                    request = self._http.build_request("GET", url, timeout=request_timeout)
                    process_metadata_response(await send(self._http, request), self.issuer)
                    self._probe_failure = None
                except BFFError as exc:
                    self._probe_failure = exc
                self._probe_at = time.monotonic()
        if self._probe_failure is not None:
            # the cached failure, without the tracebacks of earlier raises piling up
            raise self._probe_failure.with_traceback(None)
