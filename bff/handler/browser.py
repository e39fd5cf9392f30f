"""The browser flows of DESIGN §3: login start/end, session, userinfo, refresh, logout.

Framework-free: inputs are plain mappings (JSON body, cookies, one header), outputs are a JSON
body plus the cookies to set. The web layer only translates.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from bff.config.model import Settings
from bff.errors import (
    AuthorizationServerError,
    BFFError,
    CSRFFailed,
    IDTokenInvalid,
    InvalidRequest,
    InvalidReturnTo,
    InvalidSeal,
    LoginFailed,
    MalformedBody,
    ParameterNotAllowed,
    SessionExpired,
    SessionRequired,
    StoreUnavailable,
)
from bff.handler.backchannel import SessionRevocations
from bff.handler.refresh import SingleFlightRefresher
from bff.oauth.authorization_response import (
    check_authorization_response,
    parse_authorization_response,
)
from bff.oauth.client import AuthorizationRequest, FapiClient
from bff.oauth.clock import Clock
from bff.oauth.dpop import DPoPKey
from bff.oauth.id_token import check_refreshed_id_token
from bff.sessions.cookies import CookieNames, SetCookie, clear_session
from bff.sessions.model import AccessToken, LoginTransaction, Session
from bff.sessions.stores import SessionStore
from bff.sessions.transactions import LoginTransactions
from bff.telemetry.metrics import METRICS

log = logging.getLogger("bff.handler")

DEFAULT_RESOURCE = ""
# refresh results a stale cookie may walk through before giving up (each one after the first
# stored result costs a refresh at the AS)
MAX_REFRESH_STEPS = 3


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
# logout waits at most this long for the AS to revoke the refresh token
REVOCATION_WAIT = 3.0


@dataclass
class Outcome:
    """A JSON body and the cookies to set."""

    body: dict[str, Any]
    cookies: list[SetCookie] = field(default_factory=list)


@dataclass
class ActiveSession:
    """A loaded, valid session and any cookies that saving it produced."""

    session: Session
    cookies: list[SetCookie] = field(default_factory=list)


_MAX_DECODINGS = 4


def _is_local_path(text: str) -> bool:
    """One reading of ``returnTo``: a path on this origin, with nothing a parser could bend."""
    if not text.startswith("/") or text.startswith("//") or "\\" in text:
        return False
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text):
        return False
    parts = urlsplit(text)
    return not parts.scheme and not parts.netloc


def check_return_to(value: Any) -> str:
    """``returnTo`` must be a path on this site, however often it is percent-decoded.

    Invariant: every percent-decoding of an accepted value (until decoding changes nothing),
    with backslashes read as slashes, starts with one ``/``, has no scheme, no host and no
    control character; so ``/%2F%2Fevil``, ``/%5Cevil`` and encoded CR/LF are refused too
    (RFC 9700 §4.11: a later decoding step in the SPA or a proxy must not turn it into a URL).
    """
    if value is None:
        return "/"
    if not isinstance(value, str) or len(value) > 2048:
        raise InvalidReturnTo("returnTo is not a string")
    reading = value
    for _ in range(_MAX_DECODINGS + 1):
        if not _is_local_path(reading):
            raise InvalidReturnTo("returnTo is not a relative path")
        decoded = unquote(reading, errors="replace") if "%" in reading else reading
        if decoded == reading:
            return value
        reading = decoded
    raise InvalidReturnTo("returnTo is encoded too many times")


class BrowserHandler:
    """The token-handler flows for browser sessions."""

    def __init__(self, settings: Settings, client: FapiClient, sessions: SessionStore,
                 transactions: LoginTransactions, refresher: SingleFlightRefresher,
                 clock: Clock, names: CookieNames, revocations: SessionRevocations) -> None:
        self.settings = settings
        self.client = client
        self.sessions = sessions
        self.transactions = transactions
        self.refresher = refresher
        self.clock = clock
        self.names = names
        self.revocations = revocations
        self._keys: dict[str, DPoPKey] = {}
        self._idle = settings.session.idle_timeout
        self._absolute = settings.session.absolute_timeout

    # -- session loading -------------------------------------------------------------------------

    async def load(self, cookies: Mapping[str, str], *, csrf: str | None = None,
                   require_csrf: bool = False) -> ActiveSession:
        """The caller's valid session; raises 401 without one and 403 on a CSRF failure."""
        try:
            session = await self.sessions.load(cookies)
        except InvalidSeal as exc:
            raise SessionRequired("session cookie rejected") from exc
        if session is None:
            if self.names.session in cookies:
                raise SessionExpired("the session is no longer in the store")
            raise SessionRequired("no session cookie")
        now = self.clock()
        if now > session.expires_at(self._idle, self._absolute):
            raise SessionExpired("idle or absolute lifetime exceeded")
        presented = session
        session = await self.revocations.check(session)
        if require_csrf and (csrf is None or not hmac.compare_digest(
                csrf.encode(), session.csrf_token.encode())):
            raise CSRFFailed("CSRF header missing or wrong")
        active = ActiveSession(session)
        if session is not presented:
            # a copy that fell behind (a late response re-sealed an older generation): send
            # the newest one back, so its rotated-out refresh token is never presented
            await self.save(active, session.with_changes(last_seen=max(now, session.last_seen)),
                            cookies)
        elif now - session.last_seen > 60:
            await self.save(active, session.with_changes(last_seen=now), cookies)
        return active

    def _ttl(self, session: Session) -> float:
        return max(1.0, session.expires_at(self._idle, self._absolute) - self.clock())

    async def save(self, active: ActiveSession, session: Session,
                   cookies: Mapping[str, str]) -> None:
        """Store a changed session and remember the cookies to send."""
        active.session = session
        active.cookies = await self.sessions.save(session, cookies, self._ttl(session))

    # -- login -----------------------------------------------------------------------------------

    async def login_start(self, body: Mapping[str, Any],
                          cookies: Mapping[str, str]) -> Outcome:
        """PAR at the AS and a sealed login-transaction cookie (DESIGN §3 ``login/start``)."""
        return_to = check_return_to(body.get("returnTo"))
        extra = body.get("extraParams") or {}
        if not isinstance(extra, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and len(v) <= 4096
                for k, v in extra.items()):
            raise MalformedBody("extraParams must be an object of strings")
        allowed = set(self.settings.oauth.extra_params_allowlist)
        refused = sorted(k for k in extra if k not in allowed)
        if refused:
            raise ParameterNotAllowed(f"extraParams not allowed: {', '.join(refused)[:200]}")
        max_age = requested_max_age({**self.settings.oauth.authorization_params, **extra})
        dpop_key = DPoPKey.generate(self.settings.oauth.dpop_algorithm, self.clock)
        txn = LoginTransaction(transaction_id=secrets.token_urlsafe(16),
                               state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32),
                               code_verifier=secrets.token_urlsafe(48),
                               dpop_jwk=dpop_key.private_jwk, return_to=return_to,
                               created_at=self.clock(), max_age=max_age)
        url = await self.client.push_authorization(AuthorizationRequest(
            state=txn.state, nonce=txn.nonce, code_verifier=txn.code_verifier, dpop_key=dpop_key,
            resource=tuple(self.settings.oauth.resources), extra_params=extra))
        return Outcome({"authorizationUrl": url}, self.transactions.begin(txn, cookies))

    async def login_end(self, body: Mapping[str, Any], cookies: Mapping[str, str]) -> Outcome:
        """Finish a login when ``pageUrl`` carries an authorization response (DESIGN §3)."""
        page_url = body.get("pageUrl")
        if not isinstance(page_url, str) or len(page_url) > 8192:
            raise MalformedBody("pageUrl must be a string")
        params = parse_authorization_response(urlsplit(page_url).query)
        if "response" in params:
            if self.settings.oauth.response_mode not in ("jwt", "query.jwt"):
                raise InvalidRequest("JWT-secured authorization responses are not enabled")
            params = await self.client.read_jarm_response(params["response"])
        elif self.settings.oauth.response_mode and "state" in params:
            # JARM configured: a plain response is a downgrade (FAPI JARM §4.4)
            raise InvalidRequest("a plain authorization response where JARM is required")
        if "state" not in params or not ({"code", "error"} & params.keys()):
            return await self._not_handled(cookies)
        txn, cleared = await self.transactions.finish(params["state"], cookies, self.clock())
        code = check_authorization_response(params, expected_state=txn.state,
                                            issuer=self.settings.oauth.issuer)
        dpop_key = DPoPKey(txn.dpop_jwk, self.clock)
        try:
            tokens = await self.client.exchange_code(code.code, txn.code_verifier, dpop_key)
        except AuthorizationServerError as exc:
            if exc.oauth_error in ("invalid_grant", "access_denied"):
                raise LoginFailed(f"code exchange refused: {exc.oauth_error}") from exc
            raise
        if not tokens.id_token:
            raise AuthorizationServerError("token response without id_token")
        claims = await self.client.validate_id_token(
            tokens.id_token, txn.nonce, access_token=tokens.access_token,
            requested_max_age=txn.max_age)
        profile = await self._userinfo_claims(tokens.access_token, dpop_key, str(claims["sub"]))
        now = self.clock()
        merged = {**profile, **claims}
        kept = {k: merged[k] for k in self.settings.oauth.claims if k in merged}
        session = Session(
            session_id=secrets.token_urlsafe(32), sub=str(claims["sub"]), claims=kept,
            dpop_jwk=txn.dpop_jwk, csrf_token=secrets.token_urlsafe(32), created_at=now,
            last_seen=now, refresh_token=tokens.refresh_token,
            tokens={DEFAULT_RESOURCE: AccessToken(tokens.access_token, tokens.expires_at)},
            as_sid=claims.get("sid") if isinstance(claims.get("sid"), str) else None,
            id_token=tokens.id_token if self.settings.oauth.id_token_hint_in_logout else None)
        await self._end_replaced_session(cookies)
        saved = await self.sessions.save(session, cookies, self._ttl(session))
        log.info("login completed", extra={"event": "login", "sub": session.sub})
        METRICS.events.inc(event="login")
        return Outcome({"isLoggedIn": True, "handled": True, "returnTo": txn.return_to,
                        "csrfToken": session.csrf_token}, cleared + saved)

    async def _end_replaced_session(self, cookies: Mapping[str, str]) -> None:
        """A new login replaces an existing session: end it everywhere, drop it from the store.

        Its refresh token is not revoked: the AS may have issued both logins from one grant
        (same browser, same AS session), and revoking one refresh token revokes the grant.
        """
        try:
            old = await self.sessions.load(cookies)
            if old is not None:
                await self.revocations.end_session(old)
                await self.sessions.delete(old, cookies)
        except BFFError as exc:
            # best effort: the new login must not fail because the old session is unreadable
            # or the store is briefly down (the login itself just used the store)
            log.warning("replaced session not ended", extra={"code": exc.code})
            METRICS.events.inc(event="replaced_session_not_ended")

    async def _userinfo_claims(self, access_token: str, dpop_key: DPoPKey,
                               sub: str) -> dict[str, Any]:
        """Profile claims for the session; the AS may keep them out of the ID token."""
        if not self.settings.oauth.fetch_userinfo_at_login:
            return {}
        return check_userinfo_sub(await self.client.userinfo(access_token, dpop_key), sub)

    async def _not_handled(self, cookies: Mapping[str, str]) -> Outcome:
        try:
            active = await self.load(cookies)
        except (SessionRequired, SessionExpired):
            return Outcome({"isLoggedIn": False, "handled": False})
        return Outcome({"isLoggedIn": True, "handled": False,
                        "csrfToken": active.session.csrf_token}, active.cookies)

    # -- session ---------------------------------------------------------------------------------

    async def session_info(self, cookies: Mapping[str, str]) -> Outcome:
        """``{isLoggedIn, claims, expiresAt, csrfToken}``; logged-out is not an error here."""
        try:
            active = await self.load(cookies)
        except (SessionRequired, SessionExpired):
            return Outcome({"isLoggedIn": False},
                           await self.sessions.delete(None, cookies)
                           if self._has_session_cookie(cookies) else [])
        s = active.session
        return Outcome({"isLoggedIn": True, "claims": s.claims,
                        "expiresAt": int(s.expires_at(self._idle, self._absolute)),
                        "csrfToken": s.csrf_token}, active.cookies)

    def _has_session_cookie(self, cookies: Mapping[str, str]) -> bool:
        return any(n.startswith(self.names.session) for n in cookies)

    def dpop_key(self, session: Session) -> DPoPKey:
        """The session's DPoP key, parsed once per process (the proxy signs with it per call)."""
        cache_key = str(session.dpop_jwk.get("x", "")) + str(session.dpop_jwk.get("n", ""))[:64]
        key = self._keys.get(cache_key)
        if key is None:
            if len(self._keys) >= 10_000:
                self._keys.pop(next(iter(self._keys)))
            key = self._keys[cache_key] = DPoPKey(session.dpop_jwk, self.clock)
        return key

    async def userinfo(self, cookies: Mapping[str, str]) -> Outcome:
        """The AS userinfo for the session's subject, fetched with its DPoP-bound token.

        A 401 ``invalid_token`` (revoked or expired early at the AS) refreshes once and
        retries, as the proxy does (RFC 6750 §3.1).
        """
        active = await self.load(cookies)
        token = await self.access_token(active, cookies, DEFAULT_RESOURCE)
        try:
            claims = await self.client.userinfo(token.token, self.dpop_key(active.session))
        except AuthorizationServerError as exc:
            if exc.oauth_error != "invalid_token":
                raise
            token = await self.access_token(active, cookies, DEFAULT_RESOURCE, force=True)
            claims = await self.client.userinfo(token.token, self.dpop_key(active.session))
        return Outcome(check_userinfo_sub(claims, active.session.sub), active.cookies)

    # -- tokens ----------------------------------------------------------------------------------

    async def access_token(self, active: ActiveSession, cookies: Mapping[str, str],
                           resource: str, *, force: bool = False) -> AccessToken:
        """A valid access token for a token key (see ``token_key``), refreshing when needed.

        A cookie several generations old walks the stored refresh results (free) up to
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
            await self.save(active, fresh, cookies)
        raise SessionExpired("could not obtain a fresh access token")

    async def _refresh_tokens(self, session: Session, key: str) -> Session:
        if not session.refresh_token:
            raise SessionExpired("no refresh token")
        resource, scope = split_token_key(key)
        dpop_key = self.dpop_key(session)
        try:
            tokens = await self.client.refresh(session.refresh_token, dpop_key,
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
            claims = await self.client.validate_id_token(tokens.id_token, None,
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

    async def refresh(self, cookies: Mapping[str, str], csrf: str | None) -> Outcome:
        """Refresh now (``POST /bff/refresh``)."""
        active = await self.load(cookies, csrf=csrf, require_csrf=True)
        await self.access_token(active, cookies, DEFAULT_RESOURCE, force=True)
        s = active.session
        return Outcome({"isLoggedIn": True,
                        "expiresAt": int(s.expires_at(self._idle, self._absolute)),
                        "csrfToken": s.csrf_token}, active.cookies)

    # -- logout ----------------------------------------------------------------------------------

    async def logout(self, cookies: Mapping[str, str], csrf: str | None) -> Outcome:
        """End the session everywhere, revoke the refresh token (best effort), ``{logoutUrl}``.

        The "ended" marker is written first: when the store cannot take it, the answer is 503
        and nothing changed, so the user knows the logout did not happen (a cookie copy would
        otherwise stay valid). A failing AS never keeps the user signed in (RFC 7009 §2.2.1:
        the client cannot do more than try).
        """
        active = await self.load(cookies, csrf=csrf, require_csrf=True)
        s = active.session
        await self.revocations.end_session(s)
        if s.refresh_token:
            await self._revoke_best_effort(s.refresh_token)
        try:
            cleared = await self.sessions.delete(s, cookies)
        except StoreUnavailable as exc:
            # the marker already ends every copy; the record itself expires with its TTL
            log.warning("ended session not deleted", extra={"code": exc.code})
            cleared = clear_session(self.names, cookies)
        try:
            url = await self.client.logout_url(s.id_token)
        except BFFError as exc:
            log.warning("logout URL unavailable", extra={"code": exc.code})
            url = None
        log.info("logout", extra={"event": "logout", "sub": s.sub})
        METRICS.events.inc(event="logout")
        return Outcome({"logoutUrl": url}, cleared)

    async def _revoke_best_effort(self, refresh_token: str) -> None:
        """Revoke within a bounded wait; a failure is logged and counted, never fatal."""
        try:
            await asyncio.wait_for(self.client.revoke(refresh_token, "refresh_token"),
                                   min(self.settings.oauth.http_timeout, REVOCATION_WAIT))
        except (BFFError, TimeoutError) as exc:
            code = exc.code if isinstance(exc, BFFError) else "timeout"
            log.warning("refresh token revocation failed", extra={
                "event": "revocation_failed", "code": code})
            METRICS.events.inc(event="revocation_failed")
