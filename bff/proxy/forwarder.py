"""Forward one browser call to its upstream with a DPoP-bound token and a fresh proof.

Retries are explicit and bounded: once on ``use_dpop_nonce`` (RFC 9449 §9), once after a
refresh on ``invalid_token`` or an expired token, and once on a fresh connection when a pooled
keep-alive connection turns out closed before any byte of the answer (RFC 9112 §9.3.1). Bodies
stream both ways; a request body is kept in memory for a retry only while it is small.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass

import aiohttp
from starlette.types import Receive, Scope, Send
from yarl import URL

from bff.config.model import RouteSettings
from bff.errors import (
    BFFError,
    PathNotAllowed,
    PayloadTooLarge,
    ResourceServerTimeout,
    ResourceServerUnavailable,
    StepUpRequired,
)
from bff.handler.purpose import take_purpose_token
from bff.handler.service import ActiveSession, Authenticator, Call, SessionService, token_key
from bff.oauth.dpop import NonceCache
from bff.proxy.headers import (
    allowed_request_headers,
    cache_control,
    request_headers,
    response_headers,
)
from bff.proxy.paths import check_tail
from bff.proxy.proofs import ProofBatcher
from bff.proxy.step_up import step_up_of
from bff.proxy.tls import RouteTLS
from bff.sessions.model import AccessToken
from bff.telemetry.request_id import current_request_id, new_request_id
from bff.web.errors import send_error
from bff.web.security import header

log = logging.getLogger("bff.proxy")

REPLAYABLE_BODY = 1024 * 1024
SMALL_BODY = 64 * 1024
# RFC 9110 §9.2.2: a client may repeat these automatically
# names the one-purpose token (a payment approval) a call must use instead of the session's
PURPOSE_HEADER = b"x-bff-purpose"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


class UpstreamDropped(aiohttp.ClientConnectionError):
    """The upstream closed the connection before answering (instead of aiohttp's own retry)."""

    def __init__(self, cause: BaseException, answered: bool) -> None:
        super().__init__(type(cause).__name__)
        self.answered = answered


async def _own_the_retry(request: aiohttp.ClientRequest,
                         handler: aiohttp.ClientHandlerType) -> aiohttp.ClientResponse:
    """Turn a dropped connection into UpstreamDropped, so aiohttp does not resend by itself.

    Its built-in retry would resend the same DPoP proof (a replay to the upstream, RFC 9449
    §11.1) and could take another stale connection from the pool. Only used with an aiohttp
    whose session cannot be told not to retry (``_CAN_SWITCH_OFF_RETRY``): a middleware layer
    costs every call a few microseconds.
    """
    try:
        return await handler(request)
    except aiohttp.ClientError as exc:
        before = dropped_before_an_answer(exc)
        if before is None:  # not a dropped connection: aiohttp never resends those
            raise
        raise UpstreamDropped(exc, answered=not before) from exc


# aiohttp (3.12+) resends an idempotent request once by itself when a pooled connection turns
# out dropped; the session attribute that allows it is the only switch it has
_RETRY_SWITCH = "_retry_connection"
_CAN_SWITCH_OFF_RETRY = _RETRY_SWITCH in getattr(aiohttp.ClientSession, "ATTRS", ())


def dropped_before_an_answer(exc: aiohttp.ClientError) -> bool | None:
    """For a connection the upstream dropped: whether none of its answer had arrived (RFC 9112
    §9.3.1); None when ``exc`` is not a dropped connection (a refused connect, a bad answer)."""
    if isinstance(exc, UpstreamDropped):
        return not exc.answered
    if isinstance(exc, aiohttp.ClientConnectorError):
        return None
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        # aiohttp puts the partly parsed answer in ``message``, else a plain text
        return isinstance(exc.message, str)
    if isinstance(exc, aiohttp.ClientOSError):
        return True
    return None


class _ProxiedRequest(aiohttp.ClientRequest):
    """A request that carries the browser's allowed headers and the BFF's, nothing of aiohttp's
    own (no default Accept, Accept-Encoding or User-Agent; Host is set from the URL)."""

    def update_auto_headers(self, skip_auto_headers: Iterable[str] | None) -> None:
        # also spares the per-request copy and sort that ``skip_auto_headers`` costs aiohttp
        return


class UpstreamPool:
    """The proxy's pooled aiohttp sessions, one per idle lifetime (and one without pooling).

    Owned by the app: its lifespan opens and closes it, so the sessions belong to the serving
    event loop; tests hand the proxy a pool of their own. A session asked for before ``open``
    (an app run without lifespan) is made on first use.
    """

    def __init__(self) -> None:
        self._sessions: dict[float, aiohttp.ClientSession] = {}

    async def open(self) -> None:
        """Nothing to make up front: sessions are made per idle lifetime on first use."""
        self._sessions.clear()

    def session(self, keepalive: float, *, fresh: bool = False) -> aiohttp.ClientSession:
        """The pooled session for ``keepalive`` (``fresh``: one that never reuses connections)."""
        key = -1.0 if fresh else keepalive
        session = self._sessions.get(key)
        if session is None or session.closed:
            # pooled connections close after ``keepalive`` idle seconds, below the upstream's
            # own keep-alive, so the upstream rarely closes one just as a request goes out on it
            if fresh:
                connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, force_close=True,
                                                 enable_cleanup_closed=True)
            else:
                connector = aiohttp.TCPConnector(limit=0, limit_per_host=0,
                                                 keepalive_timeout=keepalive,
                                                 enable_cleanup_closed=True)
            session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, request_class=_ProxiedRequest,
                cookie_jar=aiohttp.DummyCookieJar(),
                middlewares=() if _CAN_SWITCH_OFF_RETRY else (_own_the_retry,))
            if _CAN_SWITCH_OFF_RETRY:
                setattr(session, _RETRY_SWITCH, False)
            self._sessions[key] = session
        return session

    async def close(self) -> None:
        """Close every session (at shutdown)."""
        sessions, self._sessions = self._sessions, {}
        for session in sessions.values():
            await session.close()


class _LastValues(Mapping[str, str]):
    """The request headers by lower-cased name, last value wins; decoded on first look only
    (a browser call with a safe method never looks)."""

    __slots__ = ("_map", "_raw")

    def __init__(self, raw: tuple[tuple[bytes, bytes], ...]) -> None:
        self._raw = raw
        self._map: dict[str, str] | None = None

    def _decoded(self) -> dict[str, str]:
        if self._map is None:
            self._map = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self._raw}
        return self._map

    def __getitem__(self, name: str) -> str:
        return self._decoded()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())


def call_of(scope: Scope) -> Call:
    """The proxied call as a front door sees it (headers: the last value of each name)."""
    raw = tuple(scope["headers"])
    return Call(method=scope["method"], path=scope["path"], headers=_LastValues(raw),
                raw_headers=raw)


@dataclass
class _Upstream:
    status: int
    response: aiohttp.ClientResponse


class ProxyRoute:
    """One configured route: path prefix → upstream base URL."""

    def __init__(self, authenticate: Authenticator, service: SessionService,
                 route: RouteSettings, nonces: NonceCache, pool: UpstreamPool,
                 tls: RouteTLS | None = None, proofs: ProofBatcher | None = None) -> None:
        self.authenticate = authenticate
        self.tls = tls or RouteTLS()
        self.service = service
        self.pool = pool
        self.route = route
        self.prefix = route.prefix
        self._prefix_bytes = route.prefix.encode()
        self.base = route.upstream.rstrip("/")
        self.origin = NonceCache.origin(self.base)
        self.resource = token_key(route.resource or "", route.scopes)
        self.nonces = nonces
        self.proofs = proofs or ProofBatcher()
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=route.connect_timeout,
                                             sock_read=route.read_timeout)
        self.allowed_headers = allowed_request_headers(route.forward_headers)
        self.stats = {"forwarded": 0, "nonce_retries": 0, "refresh_retries": 0,
                      "dropped_connection_retries": 0}

    def matches(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._forward(scope, receive, send)
        except BFFError as exc:
            await send_error(send, exc, scope["path"])
        except TimeoutError as exc:
            await send_error(send, ResourceServerTimeout(f"{self.prefix}: timeout"), scope["path"])
            del exc

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        prefix = self._prefix_bytes
        if not raw_path.startswith(prefix):
            # an encoded prefix (/%61pi/...) would shift where the checked tail starts
            raise PathNotAllowed("route prefix is encoded")
        tail = check_tail(raw_path[len(prefix):].split(b"?", 1)[0])
        query: bytes = scope.get("query_string", b"")
        url = self.base + (tail or "")
        if query:
            url += "?" + query.decode("latin-1")
        active = await self.authenticate(call_of(scope))
        length = header(scope, b"content-length")
        chunked = header(scope, b"transfer-encoding") is not None
        # most calls carry no body: no coroutine for them
        body = await self._body(receive, length) if length is not None or chunked else None
        headers = request_headers(scope["headers"], self.allowed_headers)
        headers.append(("X-Request-Id", current_request_id() or new_request_id()))
        if self.route.x_forwarded:
            client = scope.get("client")
            headers += [("X-Forwarded-Proto", scope.get("scheme", "http")),
                        ("X-Forwarded-Host", header(scope, b"host") or "")]
            if client:
                headers.append(("X-Forwarded-For", str(client[0])))
        try:
            upstream = await self._send_with_retries(method, url, headers, body, active,
                                                     header(scope, PURPOSE_HEADER))
        except StepUpRequired as exc:
            # the session stays: its cookies (a used purpose token dropped) go with the answer
            await send_error(send, exc, scope["path"], active.answer_headers())
            return
        await self._relay(upstream.response, active, send)

    async def _body(self, receive: Receive, length: str | None) -> bytes | AsyncIterator[bytes]:
        """The request body (``length``: its declared Content-Length; None when chunked)."""
        limit = self.route.max_body_bytes
        if length is not None:
            if not length.isdigit():
                raise PayloadTooLarge("bad content-length")
            if int(length) > limit:
                raise PayloadTooLarge("declared body above the route limit")
        if length is not None and int(length) <= REPLAYABLE_BODY:
            data = bytearray()
            while True:
                message = await receive()
                data += message.get("body", b"")
                if len(data) > limit:
                    raise PayloadTooLarge("body above the route limit")
                if not message.get("more_body"):
                    return bytes(data)

        async def stream() -> AsyncIterator[bytes]:
            seen = 0
            while True:
                message = await receive()
                chunk = message.get("body", b"")
                seen += len(chunk)
                if seen > limit:
                    raise PayloadTooLarge("body above the route limit")
                if chunk:
                    yield chunk
                if not message.get("more_body"):
                    return

        return stream()

    async def _send_with_retries(self, method: str, url: str, headers: list[tuple[str, str]],
                                 body: bytes | AsyncIterator[bytes] | None,
                                 active: ActiveSession, purpose: str | None = None) -> _Upstream:
        replayable = not hasattr(body, "__aiter__")
        nonce_retried = refreshed = False
        if purpose is not None:
            # a one-purpose token (RFC 9396) is never refreshed: an expired one is refused
            refreshed = True
            token = await take_purpose_token(self.service, active, purpose)
        else:
            token = await self.service.access_token(active, self.resource)
        if (not replayable and not self.tls.certificate_bound
                and self.nonces.get_for_origin(self.origin) is None):
            # a streamed body cannot be sent twice: learn the upstream's nonce first (§9)
            probe = await self._send_authorized("HEAD", url, [], None, token, active)
            self.nonces.remember_for_origin(self.origin, probe.headers.get("DPoP-Nonce"))
            probe.release()
        while True:
            response = await self._send_authorized(method, url, headers, body, token, active)
            self.nonces.remember_for_origin(self.origin, response.headers.get("DPoP-Nonce"))
            if response.status == 401:
                # RFC 9470 §3: a refresh or a retry cannot raise the authentication level
                step_up = step_up_of(response.headers.getall("WWW-Authenticate", []))
                if step_up is not None:
                    response.release()
                    raise step_up
            if response.status != 401 or not replayable:
                self.stats["forwarded"] += 1
                return _Upstream(response.status, response)
            challenge = response.headers.get("WWW-Authenticate", "")
            if ('error="use_dpop_nonce"' in challenge and not nonce_retried
                    and response.headers.get("DPoP-Nonce")):
                nonce_retried = True
                self.stats["nonce_retries"] += 1
                response.release()
                continue
            if 'error="invalid_token"' in challenge and not refreshed:
                refreshed = True
                self.stats["refresh_retries"] += 1
                response.release()
                token = await self.service.access_token(active, self.resource, force=True)
                continue
            self.stats["forwarded"] += 1
            return _Upstream(response.status, response)

    async def _send_authorized(self, method: str, url: str, headers: list[tuple[str, str]],
                               body: bytes | AsyncIterator[bytes] | None, token: AccessToken,
                               active: ActiveSession) -> aiohttp.ClientResponse:
        """One exchange with a fresh proof, repeated once on a fresh connection when the
        upstream dropped the connection before any byte of an answer and the method is
        idempotent (RFC 9110 §9.2.2, RFC 9112 §9.3.1).

        A non-idempotent call is never repeated: once its head was written the upstream may
        have acted on it, and nothing tells a drop before from a drop after.
        """
        fresh = False
        while True:
            if self.tls.certificate_bound:
                # RFC 8705 §3: the connection's certificate is the proof; no DPoP header
                credentials = [("Authorization", f"Bearer {token.token}")]
            else:
                key = self.service.dpop_key(active.session)
                # a new proof (new jti) for every send: the upstream may have seen the first one
                proof = await self.proofs.proof(key, method, url, access_token=token.token,
                                                nonce=self.nonces.get_for_origin(self.origin))
                credentials = [("Authorization", f"DPoP {token.token}"), ("DPoP", proof)]
            try:
                return await self.pool.session(self.route.keepalive_timeout, fresh=fresh).request(
                    method, URL(url, encoded=True), headers=[*headers, *credentials], data=body,
                    timeout=self.timeout, allow_redirects=False, ssl=self.tls.current())
            except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
                raise ResourceServerTimeout(f"{self.prefix}: upstream timeout") from exc
            except aiohttp.ClientError as exc:
                cause = str(exc) if isinstance(exc, UpstreamDropped) else type(exc).__name__
                if (fresh or not dropped_before_an_answer(exc)
                        or method not in IDEMPOTENT_METHODS or hasattr(body, "__aiter__")):
                    raise ResourceServerUnavailable(f"{self.prefix}: {cause}") from exc
                fresh = True
                self.stats["dropped_connection_retries"] += 1
                log.info("upstream connection was dropped; retrying on a new one",
                         extra={"route": self.prefix, "cause": cause})

    async def _relay(self, response: aiohttp.ClientResponse, active: ActiveSession,
                     send: Send) -> None:
        extra = active.answer_headers()
        headers = response_headers(response.raw_headers)
        headers += [(b"cache-control", cache_control(response.headers.getall("Cache-Control", ()),
                                                     sets_cookie=bool(extra))),
                    (b"x-content-type-options", b"nosniff")]
        if response.headers.get("Content-Length") and not response.headers.get(
                "Transfer-Encoding"):
            headers.append((b"content-length", response.headers["Content-Length"].encode()))
        headers += extra
        small = response.content_length is not None and response.content_length <= SMALL_BODY
        try:
            await send({"type": "http.response.start", "status": response.status,
                        "headers": headers})
            try:
                if small:
                    # the common JSON answer: one body message instead of a streaming loop
                    await send({"type": "http.response.body", "body": await response.read()})
                    return
                async for chunk in response.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except (TimeoutError, aiohttp.ClientError) as exc:
                log.warning("upstream body interrupted",
                            extra={"route": self.prefix, "cause": type(exc).__name__})
            await send({"type": "http.response.body", "body": b""})
        finally:
            response.release()
