"""The browser front door (DESIGN §3): cookies, CSRF, login transactions in cookies.

A thin layer over the session and token service: it finds the session in the cookies, checks
the CSRF token, and runs login start/end, session, userinfo, refresh and logout. Framework-free:
inputs are plain mappings (JSON body, cookies, one header), outputs are a JSON body plus the
cookies to set. The web layer only translates.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from bff.config.model import Settings
from bff.errors import (
    AuthorizationServerError,
    BFFError,
    CSRFFailed,
    InvalidRequest,
    InvalidReturnTo,
    InvalidSeal,
    LoginFailed,
    MalformedBody,
    MobileCredentialOnBrowserDoor,
    ParameterNotAllowed,
    SessionExpired,
    SessionRequired,
    StoreUnavailable,
)
from bff.handler.login_tokens import code_exchange_resources, login_tokens, userinfo_at_login
from bff.handler.purpose import new_purpose_id
from bff.handler.service import (
    DEFAULT_RESOURCE,
    Call,
    SessionService,
    requested_max_age,
)
from bff.handler.service import ActiveSession as ServiceSession
from bff.handler.step_up import ID_TOKEN_ONLY, check_acr, continued, is_step_up, login_parameters
from bff.oauth.authorization_response import (
    check_authorization_response,
    parse_authorization_response,
)
from bff.oauth.client import AuthorizationRequest, FapiClient
from bff.oauth.dpop import DPoPKey
from bff.sessions.cookies import CookieNames, SetCookie, clear_session, request_cookies
from bff.sessions.model import AccessToken, LoginTransaction, Session
from bff.sessions.stores import SessionStore
from bff.sessions.transactions import LoginTransactions
from bff.telemetry.metrics import METRICS

log = logging.getLogger("bff.handler")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})






@dataclass
class Outcome:
    """A JSON body and the cookies to set."""

    body: dict[str, Any]
    cookies: list[SetCookie] = field(default_factory=list)


class ActiveSession(ServiceSession):
    """A session found in the browser's cookies; persisting it yields the cookies to set."""

    def __init__(self, session: Session, cookies: list[SetCookie] | None = None, *,
                 door: BrowserHandler | None = None,
                 request_cookies: Mapping[str, str] | None = None) -> None:
        super().__init__(session)
        self.cookies: list[SetCookie] = cookies or []
        self._door = door
        self._request_cookies: Mapping[str, str] = request_cookies or {}

    async def persist(self, session: Session, ttl: float) -> None:
        if self._door is None:
            raise RuntimeError("a browser session without its front door cannot be saved")
        await self._door.save(self, session, self._request_cookies)

    def answer_headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"set-cookie", c.header().encode("latin-1")) for c in self.cookies]


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
    """The browser front door over the session and token service."""

    def __init__(self, settings: Settings, client: FapiClient, sessions: SessionStore,
                 transactions: LoginTransactions, service: SessionService,
                 names: CookieNames) -> None:
        self.settings = settings
        self.client = client
        self.sessions = sessions
        self.transactions = transactions
        self.service = service
        self.clock = service.clock
        self.names = names
        self.revocations = service.revocations

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
        if session.instance is not None:
            # a mobile session's handle is worth nothing without the instance key's proof
            raise MobileCredentialOnBrowserDoor("a mobile session handle on the browser door")
        presented = session
        session = await self.service.check(session)
        if require_csrf and (csrf is None or not hmac.compare_digest(
                csrf.encode(), session.csrf_token.encode())):
            raise CSRFFailed("CSRF header missing or wrong")
        active = ActiveSession(session, door=self, request_cookies=cookies)
        await self.service.touch(active, presented)
        return active

    async def authenticate(self, call: Call) -> ActiveSession:
        """The session of a proxied call: cookies, plus the CSRF header on unsafe methods."""
        cookies = request_cookies(call.raw_headers)
        unsafe = call.method not in SAFE_METHODS
        return await self.load(cookies, csrf=call.headers.get("x-csrf-token") if unsafe else None,
                               require_csrf=unsafe)

    def _ttl(self, session: Session) -> float:
        return self.service.ttl(session)

    async def save(self, active: ActiveSession, session: Session,
                   cookies: Mapping[str, str]) -> None:
        """Store a changed session and remember the cookies to send."""
        active.session = session
        active.cookies = await self.sessions.save(session, cookies, self._ttl(session))

    def dpop_key(self, session: Session) -> DPoPKey:
        """The session's DPoP key (see ``SessionService.dpop_key``)."""
        return self.service.dpop_key(session)

    async def access_token(self, active: ActiveSession, cookies: Mapping[str, str],
                           resource: str, *, force: bool = False) -> AccessToken:
        """A valid access token for ``resource`` (see ``SessionService.access_token``)."""
        return await self.service.access_token(active, resource, force=force)

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
        extra = login_parameters(body, extra, self.settings.oauth)
        allowed = set(self.settings.oauth.extra_params_allowlist)
        refused = sorted(k for k in extra if k not in allowed)
        if refused:
            raise ParameterNotAllowed(f"extraParams not allowed: {', '.join(refused)[:200]}")
        max_age = requested_max_age({**self.settings.oauth.authorization_params, **extra})
        dpop_key = DPoPKey.generate(self.settings.oauth.dpop_algorithm, self.clock)
        current = await self._current_session(cookies) if is_step_up(extra) else None
        purpose_id = None
        if "authorization_details" in extra:
            # a payment approval belongs to a session, and its token to the session's key
            if current is None:
                raise SessionRequired("authorization_details need a session")
            dpop_key = DPoPKey(current.dpop_jwk, self.clock)
            purpose_id = new_purpose_id()
        txn = LoginTransaction(transaction_id=secrets.token_urlsafe(16),
                               state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32),
                               code_verifier=secrets.token_urlsafe(48),
                               dpop_jwk=dpop_key.private_jwk, return_to=return_to,
                               created_at=self.clock(), max_age=max_age,
                               session_id=current.session_id if current else None,
                               acr_values=extra.get("acr_values"), purpose_id=purpose_id)
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
            oauth = self.settings.oauth
            # a payment approval's token is for the API (the first configured resource): it
            # has no refresh token to get one later
            resources = ((tuple(oauth.resources[:1]) if oauth.resource_strategy != "none" else ())
                         if txn.purpose_id else code_exchange_resources(oauth))
            tokens = await self.client.exchange_code(
                code.code, txn.code_verifier, dpop_key, resources)
        except AuthorizationServerError as exc:
            if exc.oauth_error in ("invalid_grant", "access_denied"):
                raise LoginFailed(f"code exchange refused: {exc.oauth_error}") from exc
            raise
        if not tokens.id_token:
            raise AuthorizationServerError("token response without id_token")
        claims = await self.client.validate_id_token(
            tokens.id_token, txn.nonce, access_token=tokens.access_token,
            requested_max_age=txn.max_age)
        check_acr(txn, claims)
        profile = {} if txn.purpose_id else await userinfo_at_login(
            self.client, self.settings.oauth, tokens.access_token, dpop_key, str(claims["sub"]))
        now = self.clock()
        merged = {**{k: v for k, v in profile.items() if k not in ID_TOKEN_ONLY}, **claims}
        kept = {k: merged[k] for k in self.settings.oauth.claims if k in merged}
        if txn.session_id is not None:
            current = await self._current_session(cookies)
            if current is not None and current.session_id == txn.session_id:
                session = continued(current, txn, tokens, claims, kept, now)
                if tokens.id_token and self.settings.oauth.id_token_hint_in_logout and (
                        txn.purpose_id is None):
                    session = session.with_changes(id_token=tokens.id_token)
                saved = await self.sessions.save(session, cookies, self._ttl(session))
                log.info("session continued", extra={"event": "step_up", "sub": session.sub})
                METRICS.events.inc(event="payment_approval" if txn.purpose_id else "step_up")
                answer = {"isLoggedIn": True, "handled": True, "returnTo": txn.return_to,
                          "csrfToken": session.csrf_token}
                if txn.purpose_id:
                    answer["purposeId"] = txn.purpose_id
                return Outcome(answer, cleared + saved)
            if txn.purpose_id is not None:
                raise SessionRequired("the session of this approval has ended")
        session = Session(
            session_id=secrets.token_urlsafe(32), sub=str(claims["sub"]), claims=kept,
            dpop_jwk=txn.dpop_jwk, csrf_token=secrets.token_urlsafe(32), created_at=now,
            last_seen=now, refresh_token=tokens.refresh_token,
            tokens=login_tokens(self.settings.oauth,
                                AccessToken(tokens.access_token, tokens.expires_at)),
            as_sid=claims.get("sid") if isinstance(claims.get("sid"), str) else None,
            id_token=tokens.id_token if self.settings.oauth.id_token_hint_in_logout else None)
        await self._end_replaced_session(cookies)
        saved = await self.sessions.save(session, cookies, self._ttl(session))
        log.info("login completed", extra={"event": "login", "sub": session.sub})
        METRICS.events.inc(event="login")
        return Outcome({"isLoggedIn": True, "handled": True, "returnTo": txn.return_to,
                        "csrfToken": session.csrf_token}, cleared + saved)

    async def _current_session(self, cookies: Mapping[str, str]) -> Session | None:
        """The caller's valid session, or None."""
        try:
            return (await self.load(cookies)).session
        except (SessionRequired, SessionExpired):
            return None

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
                        "expiresAt": int(self.service.expires_at(s)),
                        "csrfToken": s.csrf_token}, active.cookies)

    def _has_session_cookie(self, cookies: Mapping[str, str]) -> bool:
        return any(n.startswith(self.names.session) for n in cookies)

    async def userinfo(self, cookies: Mapping[str, str]) -> Outcome:
        """The AS userinfo for the session's subject (see ``SessionService.userinfo``)."""
        active = await self.load(cookies)
        return Outcome(await self.service.userinfo(active), active.cookies)

    async def refresh(self, cookies: Mapping[str, str], csrf: str | None) -> Outcome:
        """Refresh now (``POST /bff/refresh``)."""
        active = await self.load(cookies, csrf=csrf, require_csrf=True)
        await self.service.access_token(active, DEFAULT_RESOURCE, force=True)
        s = active.session
        return Outcome({"isLoggedIn": True, "expiresAt": int(self.service.expires_at(s)),
                        "csrfToken": s.csrf_token}, active.cookies)

    # -- logout ----------------------------------------------------------------------------------

    async def logout(self, cookies: Mapping[str, str], csrf: str | None) -> Outcome:
        """End the session everywhere, revoke the refresh token (best effort), ``{logoutUrl}``.

        The "ended" marker is written first: when the store cannot take it, the answer is 503
        and nothing changed, so the user knows the logout did not happen (a cookie copy would
        otherwise stay valid).
        """
        active = await self.load(cookies, csrf=csrf, require_csrf=True)
        s = active.session
        await self.service.end(s)
        try:
            cleared = await self.sessions.delete(s, cookies)
        except StoreUnavailable as exc:
            # the marker already ends every copy; the record itself expires with its TTL
            log.warning("ended session not deleted", extra={"code": exc.code})
            cleared = clear_session(self.names, cookies)
        url = await self.service.logout_url(s)
        log.info("logout", extra={"event": "logout", "sub": s.sub})
        METRICS.events.inc(event="logout")
        return Outcome({"logoutUrl": url}, cleared)
