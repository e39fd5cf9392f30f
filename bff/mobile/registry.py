"""Per-instance OAuth clients: one dynamic registration per attested app instance (RFC 7591/7592).

The registration (client id, registration access token, the client key the BFF made for the
instance) lives sealed in the shared store, keyed by the instance key's thumbprint.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from bff.config.model import Settings
from bff.crypto.keys import alg_for_key, generate_signing_jwk, public_jwk
from bff.crypto.seal import Sealer
from bff.errors import InvalidMetadata, InvalidSeal, RegistrationRateLimited
from bff.mobile.attestation import Attested
from bff.oauth.client import ClientSettings, FapiClient
from bff.oauth.clock import Clock
from bff.oauth.discovery import Discovery
from bff.oauth.jws import JWSSigner
from bff.oauth.registration import (
    Registration,
    delete_client,
    instance_metadata,
    register_client,
)
from bff.store import keys
from bff.store.base import Store
from bff.telemetry.metrics import METRICS

log = logging.getLogger("bff.mobile")

# how long an idle registration is kept (renewed by every sign-in)
INSTANCE_TTL = 400 * 24 * 3600
RATE_WINDOW = 3600


@dataclass(frozen=True)
class Instance:
    """One registered app instance."""

    instance_id: str
    app: str
    instance_jwk: dict[str, Any]
    client_id: str
    client_jwk: dict[str, Any]
    registration_access_token: str
    registration_client_uri: str
    created_at: float

    def __repr__(self) -> str:
        return f"Instance(instance_id={self.instance_id!r}, client_id={self.client_id!r})"

    @property
    def registration(self) -> Registration:
        return Registration(self.client_id, self.registration_access_token,
                            self.registration_client_uri)


class InstanceRegistry:
    """Registers, finds and deletes app instances and gives each its own FAPI client."""

    def __init__(self, settings: Settings, store: Store, sealer: Sealer, http: httpx.AsyncClient,
                 discovery: Discovery, clock: Clock, initial_access_token: str,
                 backchannel_base: str = "") -> None:
        self._settings = settings
        self._store = store
        self._sealer = sealer
        self._http = http
        self._discovery = discovery
        self._clock = clock
        self._iat = initial_access_token
        self._clients: dict[str, FapiClient] = {}
        # where the AS posts an instance's logout tokens: <base>/<instance id>
        self._backchannel_base = backchannel_base

    def backchannel_uri(self, instance_id: str) -> str | None:
        """The instance's back-channel logout URI (None when not configured)."""
        return f"{self._backchannel_base}/{instance_id}" if self._backchannel_base else None

    async def _check_rate(self, app: str) -> None:
        window = int(self._clock()) // RATE_WINDOW
        count = await self._store.incr(keys.mobile_registrations(app, window), RATE_WINDOW)
        if count > self._settings.mobile.registrations_per_hour:
            METRICS.events.inc(event="mobile_registration_rate_limited")
            raise RegistrationRateLimited("registrations per hour exceeded for this app")

    async def register(self, attested: Attested) -> Instance:
        """A new client at the AS for this instance (replacing an older one of the same key)."""
        await self._check_rate(attested.app)
        metadata = await self._discovery.metadata()
        if not metadata.registration_endpoint:
            raise InvalidMetadata("the AS offers no registration endpoint")
        old = await self.load(attested.jkt)
        alg = self._settings.oauth.dpop_algorithm
        client_jwk = generate_signing_jwk(alg)
        registration = await register_client(self._http, metadata.registration_endpoint, self._iat,
                                             instance_metadata(
                                                 public_jwk(client_jwk),
                                                 self._settings.mobile.redirect_uri,
                                                 self._settings.oauth.scope,
                                                 alg_for_key(client_jwk), attested.app,
                                                 self.backchannel_uri(attested.jkt)
                                                 if metadata.backchannel_logout_supported
                                                 else None))
        instance = Instance(attested.jkt, attested.app, attested.instance_jwk,
                            registration.client_id, client_jwk,
                            registration.registration_access_token,
                            registration.registration_client_uri, self._clock())
        await self._save(instance)
        if old is not None:
            await self._delete_at_as(old)
        log.info("app instance registered", extra={"event": "mobile_register",
                                                    "app": attested.app,
                                                    "client_id": instance.client_id})
        METRICS.events.inc(event="mobile_register")
        return instance

    async def _save(self, instance: Instance) -> None:
        key = keys.mobile_instance(instance.instance_id)
        sealed = self._sealer.seal(json.dumps(asdict(instance)).encode(), key)
        await self._store.set(key, sealed.encode("ascii"), INSTANCE_TTL)

    async def load(self, jkt: str) -> Instance | None:
        """The registration of an instance key, or None."""
        key = keys.mobile_instance(jkt)
        raw = await self._store.get(key)
        if raw is None:
            return None
        try:
            return Instance(**json.loads(self._sealer.open(raw.decode("ascii"), key)))
        except (InvalidSeal, ValueError, TypeError) as exc:
            raise InvalidSeal("instance record unreadable") from exc

    async def forget(self, instance: Instance) -> None:
        """Delete the instance's record here: its sessions stop at once."""
        await self._store.delete(keys.mobile_instance(instance.instance_id))

    async def delete(self, instance: Instance) -> None:
        """Forget the instance here first (its sessions stop at once), then at the AS."""
        await self.forget(instance)
        self._clients.pop(instance.client_id, None)
        await self._delete_at_as(instance)
        log.info("app instance deleted", extra={"event": "mobile_unregister",
                                                 "client_id": instance.client_id})
        METRICS.events.inc(event="mobile_unregister")

    async def _delete_at_as(self, instance: Instance) -> None:
        await delete_client(self._http, instance.registration)

    def client(self, instance: Instance) -> FapiClient:
        """The instance's own FAPI client (its client id and key), sharing discovery."""
        client = self._clients.get(instance.client_id)
        if client is None:
            s = self._settings
            if len(self._clients) >= 10_000:
                self._clients.pop(next(iter(self._clients)))
            client = FapiClient(ClientSettings(
                issuer=s.oauth.issuer, client_id=instance.client_id,
                signer=JWSSigner(instance.client_jwk), redirect_uri=s.mobile.redirect_uri,
                scope=s.oauth.scope, post_logout_redirect_uri=None,
                algorithms=tuple(s.oauth.algorithms), clock_skew=s.oauth.clock_skew,
                authorization_params=dict(s.oauth.authorization_params),
                loopback_endpoints=s.insecure.loopback_endpoints), self._http, self._clock)
            client.discovery = self._discovery
            self._clients[instance.client_id] = client
        return client
