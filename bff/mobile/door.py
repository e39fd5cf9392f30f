"""The mobile front door (DESIGN §6): attested registration and instance-bound sessions.

A thin layer over the session and token service. Each call carries a proof signed by the
instance key (``DPoP`` header) and, once signed in, the session handle (``Authorization: DPoP
<handle>``, bound into the proof by ``ath``). No cookie and no CSRF token: a call carrying the
BFF's cookies is refused here, and a mobile session is refused on the browser door.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bff.config.model import Settings
from bff.crypto.seal import Sealer, b64url_encode
from bff.errors import (
    AuthorizationServerError,
    CookieOnMobileDoor,
    InstanceUnknown,
    InvalidLogoutToken,
    InvalidRequest,
    InvalidSeal,
    LoginFailed,
    LoginTransactionMissing,
    LoginTransactionUsed,
    MalformedBody,
    ParameterNotAllowed,
    ProofKeyMismatch,
    ProtocolViolation,
    SessionExpired,
    SessionRequired,
)
from bff.handler.service import (
    DEFAULT_RESOURCE,
    ActiveSession,
    Call,
    SessionService,
    check_userinfo_sub,
    requested_max_age,
)
from bff.mobile.attestation import Challenges
from bff.mobile.platform import RegistrationEvidence
from bff.mobile.proofs import InstanceProofs, ProofNonces
from bff.mobile.registry import Instance, InstanceRegistry
from bff.oauth.authorization_response import (
    check_authorization_response,
    parse_authorization_response,
)
from bff.oauth.client import AuthorizationRequest, FapiClient
from bff.oauth.dpop import DPoPKey
from bff.sessions.cookies import CookieNames, request_cookies
from bff.sessions.model import AccessToken, LoginTransaction, Session
from bff.sessions.stores import ServerSessionStore
from bff.store import keys
from bff.store.base import Store
from bff.telemetry.metrics import METRICS

log = logging.getLogger("bff.mobile")

ATTESTATION_HEADER = "oauth-client-attestation"
# sessions of one instance looked at on deletion (each sign-in on the device adds one)
MAX_INDEXED = 64
POP_HEADER = "oauth-client-attestation-pop"


@dataclass(frozen=True)
class MobileCall:
    """One call on the mobile door: method, path, headers (lower-case names), raw headers."""

    method: str
    path: str
    headers: Mapping[str, str]
    raw_headers: tuple[tuple[bytes, bytes], ...] = ()


def handle_of(headers: Mapping[str, str]) -> str | None:
    """The session handle of ``Authorization: DPoP <handle>`` (RFC 9449 §7.1 syntax)."""
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, handle = value.partition(" ")
    if scheme.lower() != "dpop" or not handle or len(handle) > 128 or " " in handle.strip():
        raise SessionRequired("Authorization is not a DPoP session handle")
    return handle.strip()


def has_mobile_credential(headers: Mapping[str, str]) -> bool:
    """Whether a call carries an instance proof or a session handle."""
    return "dpop" in headers or headers.get("authorization", "").lower().startswith("dpop ")


class MobileSession(ActiveSession):
    """A mobile session: persisted in the shared store, answered with a fresh proof nonce."""

    def __init__(self, session: Session, sessions: ServerSessionStore, nonces: ProofNonces,
                 names: CookieNames) -> None:
        super().__init__(session)
        self._sessions = sessions
        self._nonces = nonces
        self._names = names

    async def persist(self, session: Session, ttl: float) -> None:
        await self._sessions.save(session, {}, ttl)
        self.session = session

    def answer_headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"dpop-nonce", self._nonces.issue().encode("ascii"))]


class MobileDoor:
    """Challenge, register/unregister, login start/end, session, refresh, logout, API calls."""

    def __init__(self, settings: Settings, service: SessionService, store: Store,
                 sealer: Sealer, names: CookieNames, registry: InstanceRegistry,
                 challenges: Challenges, attestations: RegistrationEvidence,
                 proofs: InstanceProofs, nonces: ProofNonces) -> None:
        self.settings = settings
        self.service = service
        self.store = store
        self.sealer = sealer
        self.names = names
        self.registry = registry
        self.challenges = challenges
        self.attestations = attestations
        self.proofs = proofs
        self.nonces = nonces
        self.sessions = ServerSessionStore(sealer, names, store)
        self.public = settings.server.public_url.rstrip("/")
        self.login_ttl = settings.session.login_timeout

        async def resolve(session: Session) -> FapiClient:
            instance = await self.registry.load(session.instance or "")
            if instance is None or instance.client_id != session.client_id:
                raise SessionExpired("the session's app instance is no longer registered")
            return self.registry.client(instance)

        service.resolver = resolve

    # -- checks every call passes ----------------------------------------------------------

    def _no_cookies(self, call: MobileCall) -> None:
        cookies = request_cookies(call.raw_headers)
        if any(n == self.names.session or n.startswith(self.names.session + ".")
               or n.startswith(self.names.login_prefix) for n in cookies):
            raise CookieOnMobileDoor("a BFF cookie was sent to the mobile door")

    async def _instance(self, call: MobileCall, handle: str | None) -> Instance:
        self._no_cookies(call)
        jkt = await self.proofs.verify(call.headers.get("dpop"), call.method,
                                       self.public + call.path, handle)
        instance = await self.registry.load(jkt)
        if instance is None:
            raise InstanceUnknown("no registration for this instance key")
        return instance

    async def _session(self, call: MobileCall) -> tuple[Instance, MobileSession]:
        handle = handle_of(call.headers)
        if handle is None:
            self._no_cookies(call)
            raise SessionRequired("no session handle")
        instance = await self._instance(call, handle)
        try:
            session = await self.sessions.load({self.names.session: handle})
        except InvalidSeal as exc:
            raise SessionRequired("session handle rejected") from exc
        if session is None:
            raise SessionExpired("the session is no longer in the store")
        if session.instance != instance.instance_id:
            raise ProofKeyMismatch("the handle was issued to another instance key")
        if session.client_id != instance.client_id:
            raise SessionExpired("the session belongs to an earlier registration")
        presented = session
        active = MobileSession(await self.service.check(session), self.sessions, self.nonces,
                               self.names)
        await self.service.touch(active, presented)
        return instance, active

    async def authenticate(self, call: Call) -> ActiveSession:
        """The session of a proxied API call on the mobile door."""
        _, active = await self._session(MobileCall(call.method, call.path, call.headers,
                                                   call.raw_headers))
        return active

    # -- registration ----------------------------------------------------------------------

    async def challenge(self, call: MobileCall) -> dict[str, Any]:
        """``POST /mobile/challenge`` (draft §6): ``{attestation_challenge}``."""
        self._no_cookies(call)
        return {"attestation_challenge": await self.challenges.issue()}

    async def register(self, call: MobileCall,
                       body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``POST /mobile/register``: verify the attestation, register a client at the AS.

        ``body`` (optional JSON): ``{platform: {format, keyId, attestationObject},
        instanceJwk}`` for an app that registers with App Attest.
        """
        self._no_cookies(call)
        attested = await self.attestations.verify(call.headers.get(ATTESTATION_HEADER),
                                                   call.headers.get(POP_HEADER), body or {})
        instance = await self.registry.register(attested)
        return {"instanceId": instance.instance_id}

    async def unregister(self, call: MobileCall) -> dict[str, Any]:
        """``DELETE /mobile/register``: delete the client at the AS; every session ends.

        The registration goes first (every session stops at once), then each session's
        refresh token is revoked with the instance's client (best effort, RFC 7009) while
        that client still exists, then the client at the AS (RFC 7592).
        """
        instance = await self._instance(call, handle_of(call.headers))
        await self.registry.forget(instance)
        client = self.registry.client(instance)
        for session in await self._instance_sessions(instance):
            await self.sessions.delete(session, {})
            if session.refresh_token and session.client_id == instance.client_id:
                await self.service.revoke_with(client, session.refresh_token)
        await self.registry.delete(instance)
        return {"deleted": True}

    async def backchannel_client(self, instance_id: str) -> FapiClient:
        """The client whose logout tokens the instance's back-channel URI accepts."""
        instance = await self.registry.load(instance_id) if len(instance_id) <= 128 else None
        if instance is None:
            raise InvalidLogoutToken("no registration for this instance")
        return self.registry.client(instance)

    # -- login -----------------------------------------------------------------------------

    def _login_key(self, state: str) -> str:
        return keys.mobile_login(b64url_encode(hashlib.sha256(state.encode()).digest()))

    async def login_start(self, call: MobileCall, body: Mapping[str, Any]) -> dict[str, Any]:
        """PAR at the AS with the instance's client; the transaction stays in the store."""
        instance = await self._instance(call, handle_of(call.headers))
        extra = body.get("extraParams") or {}
        if not isinstance(extra, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and len(v) <= 4096
                for k, v in extra.items()):
            raise MalformedBody("extraParams must be an object of strings")
        refused = sorted(k for k in extra if k not in self.settings.oauth.extra_params_allowlist)
        if refused:
            raise ParameterNotAllowed(f"extraParams not allowed: {', '.join(refused)[:200]}")
        max_age = requested_max_age({**self.settings.oauth.authorization_params, **extra})
        clock = self.service.clock
        dpop_key = DPoPKey.generate(self.settings.oauth.dpop_algorithm, clock)
        txn = LoginTransaction(transaction_id=secrets.token_urlsafe(16),
                               state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32),
                               code_verifier=secrets.token_urlsafe(48),
                               dpop_jwk=dpop_key.private_jwk, return_to="/",
                               created_at=clock(), max_age=max_age)
        client = self.registry.client(instance)
        url = await client.push_authorization(AuthorizationRequest(
            state=txn.state, nonce=txn.nonce, code_verifier=txn.code_verifier, dpop_key=dpop_key,
            resource=tuple(self.settings.oauth.resources), extra_params=extra))
        key = self._login_key(txn.state)
        record = json.dumps({"txn": txn.to_bytes().decode(), "instance": instance.instance_id})
        await self.store.set(key, self.sealer.seal(record.encode(), key).encode("ascii"),
                             self.login_ttl)
        return {"authorizationUrl": url}

    async def login_end(self, call: MobileCall, body: Mapping[str, Any]) -> dict[str, Any]:
        """Finish the login from the claimed-link URL the app was opened with."""
        instance = await self._instance(call, handle_of(call.headers))
        page_url = body.get("pageUrl")
        if not isinstance(page_url, str) or len(page_url) > 8192:
            raise MalformedBody("pageUrl must be a string")
        redirect = urlsplit(self.settings.mobile.redirect_uri)
        opened = urlsplit(page_url)
        if (opened.scheme, opened.netloc, opened.path) != (redirect.scheme, redirect.netloc,
                                                           redirect.path):
            raise InvalidRequest("pageUrl is not the app's redirect URI")
        params = parse_authorization_response(opened.query)
        if "response" in params:
            raise InvalidRequest("JWT-secured responses are not used on the mobile door")
        if "state" not in params or not ({"code", "error"} & params.keys()):
            raise InvalidRequest("pageUrl carries no authorization response")
        txn = await self._finish(params["state"], instance)
        code = check_authorization_response(params, expected_state=txn.state,
                                            issuer=self.settings.oauth.issuer)
        client = self.registry.client(instance)
        dpop_key = DPoPKey(txn.dpop_jwk, self.service.clock)
        try:
            tokens = await client.exchange_code(code.code, txn.code_verifier, dpop_key)
        except AuthorizationServerError as exc:
            if exc.oauth_error in ("invalid_grant", "access_denied"):
                raise LoginFailed(f"code exchange refused: {exc.oauth_error}") from exc
            raise
        if not tokens.id_token:
            raise ProtocolViolation("token response without id_token")
        claims = await client.validate_id_token(tokens.id_token, txn.nonce,
                                                access_token=tokens.access_token,
                                                requested_max_age=txn.max_age)
        profile: dict[str, Any] = {}
        if self.settings.oauth.fetch_userinfo_at_login:
            profile = check_userinfo_sub(await client.userinfo(tokens.access_token, dpop_key),
                                         str(claims["sub"]))
        merged = {**profile, **claims}
        now = self.service.clock()
        session = Session(
            session_id=secrets.token_urlsafe(32), sub=str(claims["sub"]),
            claims={k: merged[k] for k in self.settings.oauth.claims if k in merged},
            dpop_jwk=txn.dpop_jwk, csrf_token="", created_at=now, last_seen=now,
            refresh_token=tokens.refresh_token,
            tokens={DEFAULT_RESOURCE: AccessToken(tokens.access_token, tokens.expires_at)},
            as_sid=claims.get("sid") if isinstance(claims.get("sid"), str) else None,
            instance=instance.instance_id, client_id=instance.client_id)
        await self.sessions.save(session, {}, self.service.ttl(session))
        await self._remember_session(instance, session)
        log.info("mobile login completed", extra={"event": "mobile_login", "sub": session.sub})
        METRICS.events.inc(event="mobile_login")
        return {"isLoggedIn": True, "session": session.session_id,
                "expiresAt": int(self.service.expires_at(session)), "claims": session.claims}

    async def _remember_session(self, instance: Instance, session: Session) -> None:
        """Index the session under its instance, so deleting the instance can end it."""
        lifetime = self.settings.session.absolute_timeout + 60
        slot = await self.store.incr(keys.mobile_instance_sessions(instance.instance_id),
                                     lifetime)
        sealed = self.sealer.seal(session.session_id.encode("ascii"),
                                  keys.mobile_instance_session(instance.instance_id, slot))
        await self.store.set(keys.mobile_instance_session(instance.instance_id, slot),
                             sealed.encode("ascii"), lifetime)

    async def _instance_sessions(self, instance: Instance) -> list[Session]:
        """The instance's sessions still in the store (the newest MAX_INDEXED of them)."""
        raw = await self.store.get(keys.mobile_instance_sessions(instance.instance_id))
        count = int(raw) if raw is not None and raw.isdigit() else 0
        slots = range(max(1, count - MAX_INDEXED + 1), count + 1)
        names = [keys.mobile_instance_session(instance.instance_id, n) for n in slots]
        found: list[Session] = []
        for name, sealed in zip(names, await self.store.get_many(names) if names else [],
                                strict=True):
            if sealed is None:
                continue
            try:
                handle = self.sealer.open(sealed.decode("ascii"), name).decode("ascii")
                session = await self.sessions.load({self.names.session: handle})
            except (InvalidSeal, ValueError):
                continue
            if session is not None and session.instance == instance.instance_id:
                found.append(session)
        return found

    async def _finish(self, state: str, instance: Instance) -> LoginTransaction:
        """The login transaction of ``state``, spent once, only by the instance that began it."""
        key = self._login_key(state)
        raw = await self.store.get(key)
        if raw is None:
            raise LoginTransactionMissing("no mobile login for this state")
        try:
            record = json.loads(self.sealer.open(raw.decode("ascii"), key))
            txn = LoginTransaction.from_bytes(record["txn"].encode())
        except (InvalidSeal, ValueError, TypeError, KeyError) as exc:
            raise LoginTransactionMissing("mobile login record unreadable") from exc
        if record.get("instance") != instance.instance_id:
            raise ProofKeyMismatch("the login was started by another instance")
        if not await self.store.set_if_absent(keys.login_used(txn.transaction_id), b"1",
                                              self.login_ttl + 60):
            raise LoginTransactionUsed("mobile login already finished")
        await self.store.delete(key)
        return txn

    # -- session ---------------------------------------------------------------------------

    async def session_info(self, call: MobileCall) -> dict[str, Any]:
        """``{isLoggedIn, claims, expiresAt}`` of the handle's session."""
        _, active = await self._session(call)
        s = active.session
        return {"isLoggedIn": True, "claims": s.claims,
                "expiresAt": int(self.service.expires_at(s))}

    async def refresh(self, call: MobileCall) -> dict[str, Any]:
        """Refresh the session's tokens now."""
        _, active = await self._session(call)
        await self.service.access_token(active, DEFAULT_RESOURCE, force=True)
        return {"isLoggedIn": True,
                "expiresAt": int(self.service.expires_at(active.session))}

    async def logout(self, call: MobileCall) -> dict[str, Any]:
        """End the session everywhere and revoke its refresh token (best effort)."""
        _, active = await self._session(call)
        s = active.session
        await self.service.end(s)
        await self.sessions.delete(s, {})
        url = await self.service.logout_url(s)
        METRICS.events.inc(event="mobile_logout")
        return {"logoutUrl": url}
