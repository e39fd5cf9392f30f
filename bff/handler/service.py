"""The session and token service: what every front door shares (DESIGN §2).

It loads nothing from a request: a front door (browser cookies, mobile instance proofs) finds
the session and hands it over as an ``ActiveSession`` that knows how to persist itself. The
service checks lifetimes and revocations, gives the access token for a resource with a
single-flight refresh, the session's DPoP key, and ends sessions. No cookie, no CSRF here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from bff.config.model import Settings
from bff.errors import (
    AuthorizationServerError,
    BFFError,
    IDTokenInvalid,
    MalformedBody,
    SessionExpired,
)
from bff.handler.backchannel import SessionRevocations
from bff.handler.refresh import SingleFlightRefresher
from bff.oauth.client import FapiClient
from bff.oauth.clock import Clock
from bff.oauth.dpop import DPoPKey
from bff.oauth.id_token import check_refreshed_id_token
from bff.sessions.model import AccessToken, Session
from bff.telemetry.metrics import METRICS

log = logging.getLogger("bff.handler")

DEFAULT_RESOURCE = ""
# refresh results a stale session copy may walk through before giving up (each one after the
# first stored result costs a refresh at the AS)
MAX_REFRESH_STEPS = 3
# logout waits at most this long for the AS to revoke the refresh token
REVOCATION_WAIT = 3.0


def token_key(resource: str, scopes: Collection[str] = ()) -> str:
    """The session's key for the access token of ``resource`` with exactly ``scopes``.

    A resource is a URI, which holds no space (RFC 3986 §2), so a space separates the scope.
    """
    scope = " ".join(sorted(set(scopes)))
    return f"{resource} {scope}" if scope else resource


def split_token_key(key: str) -> tuple[str, str]:
    """``(resource, scope)`` of a ``token_key``."""
    resource, _, scope = key.partition(" ")
    return resource, scope


def requested_max_age(params: Mapping[str, str]) -> int | None:
    """The ``max_age`` a login asks for (OIDC Core §3.1.2.1), or None."""
    raw = params.get("max_age")
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise MalformedBody("max_age must be a non-negative integer")
    return int(raw)


def check_userinfo_sub(claims: dict[str, Any], sub: str) -> dict[str, Any]:
    """OIDC Core §5.3.2: a userinfo response about another subject must not be used."""
    if claims.get("sub") != sub:
        raise IDTokenInvalid("userinfo sub differs from the session sub")
    return claims


class ActiveSession:
    """A loaded, valid session as a front door holds it; ``persist`` stores a changed one."""

    def __init__(self, session: Session) -> None:
        self.session = session

    async def persist(self, session: Session, ttl: float) -> None:
        """Store ``session`` (the front door decides where and how) and make it current."""
        raise NotImplementedError

    def answer_headers(self) -> list[tuple[bytes, bytes]]:
        """Headers the front door adds to the answer of this call (e.g. Set-Cookie)."""
        return []


@dataclass(frozen=True)
class Call:
    """What a front door needs to authenticate a proxied call: no framework types."""

    method: str
    path: str
    headers: Mapping[str, str]
    raw_headers: tuple[tuple[bytes, bytes], ...] = ()


Authenticator = Callable[[Call], Awaitable[ActiveSession]]
# the AS client a session's tokens belong to (a mobile instance has its own client id)
ClientResolver = Callable[[Session], Awaitable[FapiClient]]


class SessionService:
    """Lifetimes, revocations, access tokens with single-flight refresh, DPoP keys, ending."""

    def __init__(self, settings: Settings, client: FapiClient,
                 refresher: SingleFlightRefresher, clock: Clock,
                 revocations: SessionRevocations) -> None:
        self.settings = settings
        self.client = client
        self.refresher = refresher
        self.clock = clock
        self.revocations = revocations
        self._keys: dict[str, DPoPKey] = {}
        self.idle = settings.session.idle_timeout
        self.absolute = settings.session.absolute_timeout
        self.resolver: ClientResolver | None = None

    async def client_for(self, session: Session) -> FapiClient:
        """The AS client of the session: the BFF's own, or its app instance's."""
        if session.client_id is None or self.resolver is None:
            return self.client
        return await self.resolver(session)

    # -- lifetimes ---------------------------------------------------------------------------

    def expires_at(self, session: Session) -> float:
        """When the session ends unless used again."""
        return session.expires_at(self.idle, self.absolute)

    def ttl(self, session: Session) -> float:
        """Seconds the stored session must live."""
        return max(1.0, self.expires_at(session) - self.clock())

    async def check(self, session: Session) -> Session:
        """The newest valid copy of ``session``; raises ``SessionExpired`` when it ended."""
        if self.clock() > self.expires_at(session):
            raise SessionExpired("idle or absolute lifetime exceeded")
        return await self.revocations.check(session)

    async def touch(self, active: ActiveSession, presented: Session) -> None:
        """Persist a copy that fell behind, or a last-seen time older than a minute."""
        now = self.clock()
        session = active.session
        if session is not presented:
            # a copy that fell behind (a late response re-sealed an older generation): send
            # the newest one back, so its rotated-out refresh token is never presented
            fresh = session.with_changes(last_seen=max(now, session.last_seen))
            await active.persist(fresh, self.ttl(fresh))
        elif now - session.last_seen > 60:
            fresh = session.with_changes(last_seen=now)
            await active.persist(fresh, self.ttl(fresh))

    # -- keys and tokens ---------------------------------------------------------------------

    def dpop_key(self, session: Session) -> DPoPKey:
        """The session's DPoP key, parsed once per process (the proxy signs with it per call)."""
        cache_key = str(session.dpop_jwk.get("x", "")) + str(session.dpop_jwk.get("n", ""))[:64]
        key = self._keys.get(cache_key)
        if key is None:
            if len(self._keys) >= 10_000:
                self._keys.pop(next(iter(self._keys)))
            key = self._keys[cache_key] = DPoPKey(session.dpop_jwk, self.clock)
        return key

    async def access_token(self, active: ActiveSession, resource: str, *,
                           force: bool = False) -> AccessToken:
        """A valid access token for a token key (see ``token_key``), refreshing when needed.

        A copy several generations old walks the stored refresh results (free) up to
        MAX_REFRESH_STEPS times; the token each step yields is looked at before another step,
        so a refresh paid for at the AS is always used.
        """
        margin = self.settings.oauth.refresh_margin
        stale_generation = active.session.generation if force else -1
        for step in range(MAX_REFRESH_STEPS + 1):
            s = active.session
            token = s.tokens.get(resource)
            if token is not None and token.expires_at - margin > self.clock() and (
                    s.generation != stale_generation):
                return token
            if step == MAX_REFRESH_STEPS:
                break
            fresh = await self.refresher.refresh(
                s, lambda old: self._refresh_tokens(old, resource))
            await active.persist(fresh, self.ttl(fresh))
        raise SessionExpired("could not obtain a fresh access token")

    async def _refresh_tokens(self, session: Session, key: str) -> Session:
        if not session.refresh_token:
            raise SessionExpired("no refresh token")
        resource, scope = split_token_key(key)
        dpop_key = self.dpop_key(session)
        client = await self.client_for(session)
        try:
            tokens = await client.refresh(session.refresh_token, dpop_key,
                                               resource or None, scope or None)
        except AuthorizationServerError as exc:
            if exc.oauth_error == "invalid_grant":
                raise SessionExpired("refresh token refused") from exc
            raise
        id_token = session.id_token
        if tokens.id_token:
            # OIDC Core §12.2: validated as at login, then same iss (the configured issuer,
            # checked above), same sub, aud with the client; otherwise the refresh is refused
            # and the session stays as it was
            claims = await client.validate_id_token(tokens.id_token, None,
                                                         access_token=tokens.access_token)
            check_refreshed_id_token(claims, sub=session.sub,
                                     auth_time=session.claims.get("auth_time"))
            if id_token is not None:
                id_token = tokens.id_token
        updated = dict(session.tokens)
        updated[key] = AccessToken(tokens.access_token, tokens.expires_at)
        log.info("tokens refreshed", extra={"event": "refresh", "sub": session.sub})
        METRICS.events.inc(event="refresh")
        return session.with_changes(tokens=updated, generation=session.generation + 1,
                                    refresh_token=tokens.refresh_token or session.refresh_token,
                                    id_token=id_token)

    async def userinfo(self, active: ActiveSession) -> dict[str, Any]:
        """The AS userinfo for the session's subject, fetched with its DPoP-bound token.

        A 401 ``invalid_token`` (revoked or expired early at the AS) refreshes once and
        retries, as the proxy does (RFC 6750 §3.1).
        """
        token = await self.access_token(active, DEFAULT_RESOURCE)
        client = await self.client_for(active.session)
        try:
            claims = await client.userinfo(token.token, self.dpop_key(active.session))
        except AuthorizationServerError as exc:
            if exc.oauth_error != "invalid_token":
                raise
            token = await self.access_token(active, DEFAULT_RESOURCE, force=True)
            claims = await client.userinfo(token.token, self.dpop_key(active.session))
        return check_userinfo_sub(claims, active.session.sub)

    # -- ending ------------------------------------------------------------------------------

    async def end(self, session: Session) -> None:
        """End the session everywhere, then revoke its refresh token (best effort).

        The "ended" marker is written first: when the store cannot take it, this raises and
        nothing changed. A failing AS never keeps the user signed in (RFC 7009 §2.2.1).
        """
        await self.revocations.end_session(session)
        if session.refresh_token:
            await self._revoke_best_effort(session, session.refresh_token)

    async def _revoke_best_effort(self, session: Session, refresh_token: str) -> None:
        """Revoke within a bounded wait; a failure is logged and counted, never fatal."""
        try:
            client = await self.client_for(session)
        except BFFError as exc:
            log.warning("refresh token revocation failed", extra={
                "event": "revocation_failed", "code": exc.code})
            METRICS.events.inc(event="revocation_failed")
            return
        await self.revoke_with(client, refresh_token)

    async def revoke_with(self, client: FapiClient, refresh_token: str) -> None:
        """Revoke ``refresh_token`` with ``client`` (RFC 7009) best effort, in bounded time."""
        try:
            await asyncio.wait_for(client.revoke(refresh_token, "refresh_token"),
                                   min(self.settings.oauth.http_timeout, REVOCATION_WAIT))
        except (BFFError, TimeoutError) as exc:
            code = exc.code if isinstance(exc, BFFError) else "timeout"
            log.warning("refresh token revocation failed", extra={
                "event": "revocation_failed", "code": code})
            METRICS.events.inc(event="revocation_failed")

    async def logout_url(self, session: Session) -> str | None:
        """The AS's end-session URL for the session, or None when it cannot be built."""
        try:
            return await (await self.client_for(session)).logout_url(session.id_token)
        except BFFError as exc:
            log.warning("logout URL unavailable", extra={"code": exc.code})
            return None
