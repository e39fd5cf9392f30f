"""Authorization server metadata and JWKS, cached, refreshed on an unknown ``kid`` (RFC 8414).

The metadata's ``issuer`` must equal the configured issuer exactly (RFC 8414 §3.3), which is
also what defeats mix-up attacks together with RFC 9207.
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from bff.crypto.seal import b64url_decode
from bff.errors import BFFError, InvalidMetadata
from bff.oauth.clock import Clock, system_clock
from bff.oauth.http import json_body, send

log = logging.getLogger("bff.oauth.discovery")

_REQUIRED = ("authorization_endpoint", "token_endpoint", "jwks_uri",
             "pushed_authorization_request_endpoint")
# every endpoint the BFF calls or sends a browser to; each must be https (FAPI 2.0 §5.2.1)
_ENDPOINTS = (*_REQUIRED, "userinfo_endpoint", "revocation_endpoint", "introspection_endpoint",
              "end_session_endpoint", "registration_endpoint")
# RFC 7518 §3.3 and FAPI 2.0 §5.4: RSA keys shorter than this are not trusted
MIN_RSA_BITS = 2048


def is_loopback_url(url: str) -> bool:
    """The URL's host is a loopback address or ``localhost``."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint_allowed(url: str, *, allow_loopback_http: bool) -> bool:
    """``https``, or plain ``http`` to a loopback host when that is allowed."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return False
    if not parts.hostname or parts.username is not None or parts.fragment:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and allow_loopback_http and is_loopback_url(url)


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
    # OpenID Connect Back-Channel Logout 1.0 §2.1
    backchannel_logout_supported: bool = False
    # RFC 8705 §5: endpoints a client reaches with its certificate, by metadata field name
    mtls_endpoint_aliases: Mapping[str, str] = field(default_factory=dict)


def process_metadata_response(response: httpx.Response, issuer: str, *,
                              loopback_endpoints: bool = False) -> Metadata:
    """Validate a discovery document (RFC 8414 §3.2, §3.3); every endpoint must be https.

    Plain http is allowed only to loopback hosts, and only for a loopback issuer (a local
    development AS) or when ``loopback_endpoints`` (``[insecure]``) says so.
    """
    if response.status_code != 200:
        raise InvalidMetadata(f"discovery answered HTTP {response.status_code}")
    doc = json_body(response)
    if doc.get("issuer") != issuer:
        raise InvalidMetadata("issuer in metadata differs from the configured issuer")
    missing = [k for k in _REQUIRED if not isinstance(doc.get(k), str)]
    if missing:
        raise InvalidMetadata(f"metadata lacks {', '.join(missing)}")
    allow_http = loopback_endpoints or (issuer.startswith("http://") and is_loopback_url(issuer))
    for name in _ENDPOINTS:
        value = doc.get(name)
        if not isinstance(value, str):
            continue  # absent (a required one was checked above); a non-string is ignored
        if not endpoint_allowed(value, allow_loopback_http=allow_http):
            # the field name only: the URL is the AS's, but say exactly what was refused
            log.error("AS metadata refused: endpoint is not https",
                      extra={"event": "metadata_refused", "field": name})
            raise InvalidMetadata(f"metadata {name} is not an https URL")

    aliases = _mtls_aliases(doc.get("mtls_endpoint_aliases"))

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
                    registration_endpoint=opt("registration_endpoint"),
                    backchannel_logout_supported=doc.get("backchannel_logout_supported") is True,
                    mtls_endpoint_aliases=aliases)


def _mtls_aliases(value: object) -> dict[str, str]:
    """The ``mtls_endpoint_aliases`` the BFF may use: https endpoints only (RFC 8705 §5)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidMetadata("metadata mtls_endpoint_aliases is not an object")
    aliases: dict[str, str] = {}
    for name in _ENDPOINTS:
        url = value.get(name)
        if url is None:
            continue
        # mutual TLS is TLS: a plain-http alias is refused even for a loopback AS
        if not isinstance(url, str) or not endpoint_allowed(url, allow_loopback_http=False):
            log.error("AS metadata refused: mTLS alias is not https",
                      extra={"event": "metadata_refused", "field": name})
            raise InvalidMetadata(f"metadata mtls_endpoint_aliases.{name} is not an https URL")
        aliases[name] = url
    return aliases


def process_jwks_response(response: httpx.Response) -> KeySet:
    """Parse a JWKS, keeping only public signing keys."""
    if response.status_code != 200:
        raise InvalidMetadata(f"jwks answered HTTP {response.status_code}")
    doc = json_body(response)
    keys: list[dict[str, Any]] = [k for k in doc.get("keys", []) if isinstance(k, dict)
                                  and k.get("use", "sig") == "sig" and "d" not in k
                                  and not _weak_rsa(k)]
    try:
        return KeySet.import_key_set({"keys": keys})
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidMetadata("jwks is malformed") from exc


def _weak_rsa(jwk: dict[str, Any]) -> bool:
    """An RSA key whose modulus is shorter than MIN_RSA_BITS (logged, then left out)."""
    if jwk.get("kty") != "RSA":
        return False
    try:
        bits = int.from_bytes(b64url_decode(str(jwk.get("n", ""))), "big").bit_length()
    except ValueError:
        return True
    if bits < MIN_RSA_BITS:
        log.warning("AS signing key ignored: RSA modulus below 2048 bits",
                    extra={"event": "jwks_key_refused", "kid": str(jwk.get("kid", ""))[:64]})
        return True
    return False


class Discovery:
    """Fetches and caches the AS metadata and JWKS."""

    def __init__(self, issuer: str, http: httpx.AsyncClient, clock: Clock = system_clock,
                 ttl: float = 3600.0, jwks_min_refresh: float = 30.0,
                 jwks_failure_cooldown: float = 5.0, *,
                 loopback_endpoints: bool = False) -> None:
        self.issuer = issuer
        self.loopback_endpoints = loopback_endpoints
        self._http = http
        self._clock = clock
        self._ttl = ttl
        self._jwks_min_refresh = jwks_min_refresh
        self._failure_cooldown = min(jwks_failure_cooldown, jwks_min_refresh)
        self._metadata: Metadata | None = None
        self._metadata_at = 0.0
        self._jwks: KeySet | None = None
        self._jwks_at = 0.0
        self._jwks_tried_at: float | None = None
        self._jwks_error: BFFError | None = None
        self._jwks_fetch: asyncio.Future[KeySet] | None = None
        self._lock = asyncio.Lock()

    async def metadata(self) -> Metadata:
        """The cached metadata, fetched when absent or stale."""
        now = self._clock()
        if self._metadata is None or now - self._metadata_at > self._ttl:
            async with self._lock:
                if self._metadata is None or now - self._metadata_at > self._ttl:
                    url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
                    response = await send(self._http, self._http.build_request("GET", url))
                    self._metadata = process_metadata_response(
                        response, self.issuer, loopback_endpoints=self.loopback_endpoints)
                    self._metadata_at = now
        return self._metadata

    async def jwks(self, kid: str | None = None) -> KeySet:
        """The AS signing keys; refetched when stale or when ``kid`` is unknown.

        One fetch at a time is shared by every caller, and after any attempt, failed or not,
        no other starts for ``jwks_min_refresh`` seconds (a shorter ``jwks_failure_cooldown``
        after a failure): a burst of tokens with made-up ``kid`` values, or of tokens while the
        AS is down, costs the AS one request (OpenID Connect Core §10.1.1).
        """
        if self._jwks_fetch is None and self._jwks_due(kid):
            self._jwks_tried_at = self._clock()
            self._jwks_fetch = asyncio.ensure_future(self._fetch_jwks())
            self._jwks_fetch.add_done_callback(self._jwks_fetched)
        if self._jwks_fetch is not None:
            # shielded: a cancelled caller must not cancel the fetch the others wait for
            return await asyncio.shield(self._jwks_fetch)
        if self._jwks is None:
            assert self._jwks_error is not None  # _jwks_due is true without keys or an error
            raise copy.copy(self._jwks_error)  # a fresh instance: raisers would share a traceback
        return self._jwks

    def _jwks_due(self, kid: str | None) -> bool:
        now = self._clock()
        if self._jwks is None and self._jwks_error is None:
            return True
        cooldown = self._jwks_min_refresh if self._jwks_error is None else self._failure_cooldown
        if self._jwks_tried_at is not None and now - self._jwks_tried_at <= cooldown:
            return False
        if self._jwks is None or now - self._jwks_at > self._ttl:
            return True
        return kid is not None and all(k.kid != kid for k in self._jwks.keys)

    async def _fetch_jwks(self) -> KeySet:
        try:
            meta = await self.metadata()
            response = await send(self._http, self._http.build_request("GET", meta.jwks_uri))
            keys = process_jwks_response(response)
        except BFFError as exc:
            self._jwks_error = exc
            raise
        except BaseException:
            self._jwks_error = None  # unexpected or cancelled: no cool-down without an answer
            raise
        self._jwks, self._jwks_at, self._jwks_error = keys, self._clock(), None
        return keys

    def _jwks_fetched(self, task: asyncio.Future[KeySet]) -> None:
        self._jwks_fetch = None
        if not task.cancelled():
            task.exception()  # retrieved here, so an unawaited failure is not logged as lost

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
                    process_metadata_response(await send(self._http, request), self.issuer,
                                              loopback_endpoints=self.loopback_endpoints)
                    self._probe_failure = None
                except BFFError as exc:
                    self._probe_failure = exc
                self._probe_at = time.monotonic()
        if self._probe_failure is not None:
            # the cached failure, without the tracebacks of earlier raises piling up
            raise self._probe_failure.with_traceback(None)
