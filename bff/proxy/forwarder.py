"""Forward one browser call to its upstream with a DPoP-bound token and a fresh proof.

Retries are explicit and bounded: once on ``use_dpop_nonce`` (RFC 9449 §9) and once after a
refresh on ``invalid_token`` or an expired token. Bodies stream both ways; a request body is kept
in memory for a retry only while it is small.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from starlette.types import Receive, Scope, Send
from yarl import URL

from bff.config.model import RouteSettings
from bff.errors import (
    BFFError,
    PayloadTooLarge,
    ResourceServerTimeout,
    ResourceServerUnavailable,
)
from bff.handler.browser import ActiveSession, BrowserHandler, token_key
from bff.oauth.dpop import NonceCache
from bff.proxy.headers import RESPONSE_DROP, request_headers
from bff.proxy.paths import check_tail
from bff.web.security import SAFE_METHODS, header, send_error

log = logging.getLogger("bff.proxy")

REPLAYABLE_BODY = 1024 * 1024
SMALL_BODY = 64 * 1024
_sessions: dict[int, aiohttp.ClientSession] = {}


def client_session() -> aiohttp.ClientSession:
    """One pooled aiohttp session per event loop."""
    loop_id = id(asyncio.get_running_loop())
    session = _sessions.get(loop_id)
    if session is None or session.closed:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30,
                                         enable_cleanup_closed=True)
        session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                        skip_auto_headers=("User-Agent", "Accept-Encoding"),
                                        cookie_jar=aiohttp.DummyCookieJar())
        _sessions[loop_id] = session
    return session


async def close_sessions() -> None:
    """Close this event loop's pooled session (at shutdown)."""
    session = _sessions.pop(id(asyncio.get_running_loop()), None)
    if session is not None:
        await session.close()


def parse_cookies(raw: str | None) -> dict[str, str]:
    """Request cookies as a dict (first value of a name wins, like browsers send them)."""
    out: dict[str, str] = {}
    if not raw:
        return out
    for part in raw.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in out:
            out[name] = value
    return out


@dataclass
class _Upstream:
    status: int
    response: aiohttp.ClientResponse


class ProxyRoute:
    """One configured route: path prefix → upstream base URL."""

    def __init__(self, handler: BrowserHandler, route: RouteSettings, nonces: NonceCache) -> None:
        self.handler = handler
        self.route = route
        self.prefix = route.prefix
        self.base = route.upstream.rstrip("/")
        self.origin = NonceCache.origin(self.base)
        self.resource = token_key(route.resource or "", route.scopes)
        self.nonces = nonces
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=route.connect_timeout,
                                             sock_read=route.read_timeout)
        self.stats = {"forwarded": 0, "nonce_retries": 0, "refresh_retries": 0}

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
        tail = check_tail(raw_path[len(self.prefix.encode()):].split(b"?", 1)[0])
        query: bytes = scope.get("query_string", b"")
        url = self.base + (tail or "")
        if query:
            url += "?" + query.decode("latin-1")
        cookies = parse_cookies(header(scope, b"cookie"))
        active = await self.handler.load(cookies, csrf=header(scope, b"x-csrf-token"),
                                         require_csrf=method not in SAFE_METHODS)
        body = await self._body(scope, receive)
        headers = request_headers(scope["headers"])
        if self.route.x_forwarded:
            client = scope.get("client")
            headers += [("X-Forwarded-Proto", scope.get("scheme", "http")),
                        ("X-Forwarded-Host", header(scope, b"host") or "")]
            if client:
                headers.append(("X-Forwarded-For", str(client[0])))
        upstream = await self._send_with_retries(method, url, headers, body, active, cookies)
        await self._relay(upstream.response, active, send)

    async def _body(self, scope: Scope, receive: Receive) -> bytes | AsyncIterator[bytes] | None:
        limit = self.route.max_body_bytes
        length = header(scope, b"content-length")
        chunked = header(scope, b"transfer-encoding") is not None
        if length is None and not chunked:
            return None
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
                                 active: ActiveSession, cookies: dict[str, str]) -> _Upstream:
        replayable = not hasattr(body, "__aiter__")
        nonce_retried = refreshed = False
        token = await self.handler.access_token(active, cookies, self.resource)
        if not replayable and self.nonces.get_for_origin(self.origin) is None:
            # a streamed body cannot be sent twice: learn the upstream's nonce first (§9)
            key = self.handler.dpop_key(active.session)
            probe = await self._send("HEAD", url, [
                ("Authorization", f"DPoP {token.token}"),
                ("DPoP", key.proof("HEAD", url, access_token=token.token))], None)
            self.nonces.remember_for_origin(self.origin, probe.headers.get("DPoP-Nonce"))
            probe.release()
        while True:
            key = self.handler.dpop_key(active.session)
            proof = key.proof(method, url, access_token=token.token,
                              nonce=self.nonces.get_for_origin(self.origin))
            response = await self._send(method, url, [
                *headers, ("Authorization", f"DPoP {token.token}"), ("DPoP", proof)], body)
            self.nonces.remember_for_origin(self.origin, response.headers.get("DPoP-Nonce"))
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
                token = await self.handler.access_token(active, cookies, self.resource,
                                                        force=True)
                continue
            self.stats["forwarded"] += 1
            return _Upstream(response.status, response)

    async def _send(self, method: str, url: str, headers: list[tuple[str, str]],
                    body: bytes | AsyncIterator[bytes] | None) -> aiohttp.ClientResponse:
        try:
            return await client_session().request(
                method, URL(url, encoded=True), headers=headers, data=body,
                timeout=self.timeout, allow_redirects=False)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise ResourceServerTimeout(f"{self.prefix}: upstream timeout") from exc
        except aiohttp.ClientError as exc:
            raise ResourceServerUnavailable(
                f"{self.prefix}: {type(exc).__name__}") from exc

    async def _relay(self, response: aiohttp.ClientResponse, active: ActiveSession,
                     send: Send) -> None:
        headers: list[tuple[bytes, bytes]] = [
            (k.lower(), v) for k, v in response.raw_headers if k.lower() not in RESPONSE_DROP]
        if response.headers.get("Content-Length") and not response.headers.get(
                "Transfer-Encoding"):
            headers.append((b"content-length", response.headers["Content-Length"].encode()))
        headers += [(b"set-cookie", c.header().encode("latin-1")) for c in active.cookies]
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
