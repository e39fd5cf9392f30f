"""The proxy route without sockets: a scripted upstream behind a fake pool, a real service."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from bff.config.model import RouteSettings
from bff.oauth.clock import FrozenClock
from bff.oauth.dpop import NonceCache
from bff.proxy.forwarder import (
    ProxyRoute,
    UpstreamDropped,
    UpstreamPool,
    _own_the_retry,
    call_of,
    dropped_before_an_answer,
)
from bff.proxy.tls import RouteTLS
from bff.sessions.model import AccessToken
from tests.unit.handler.test_service import T0, FakeAS, Held, make, session


class Content:
    def __init__(self, chunks: list[bytes], fail: bool = False) -> None:
        self.chunks, self.fail = chunks, fail

    async def iter_any(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        if self.fail:
            raise aiohttp.ClientPayloadError("cut")


class Answer:
    """One upstream answer, as much of aiohttp.ClientResponse as the proxy reads."""

    def __init__(self, status: int = 200, body: bytes = b'{"ok":true}',
                 headers: list[tuple[str, str]] | None = None, stream: bool = False,
                 fail: bool = False) -> None:
        self.status = status
        pairs = list(headers or [("Content-Type", "application/json")])
        if not stream:
            pairs.append(("Content-Length", str(len(body))))
        self.headers = CIMultiDictProxy(CIMultiDict(pairs))
        self.raw_headers = tuple((k.encode(), v.encode()) for k, v in pairs)
        self.content_length = None if stream else len(body)
        self.body = body
        self.content = Content([body[:3], body[3:]], fail)
        self.released = False

    async def read(self) -> bytes:
        return self.body

    def release(self) -> None:
        self.released = True


class Upstream:
    """Plays each scripted answer (or raises each scripted exception) in turn."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        self.closed = False

    async def request(self, method: str, url: Any, **kw: Any) -> Any:
        headers = dict(kw["headers"])
        body = kw["data"]
        if hasattr(body, "__aiter__"):
            body = b"".join([c async for c in body])
        self.requests.append({"method": method, "url": str(url), "headers": headers,
                              "body": body, "fresh": kw.get("fresh")})
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step


class Pool(UpstreamPool):
    def __init__(self, upstream: Upstream) -> None:
        super().__init__()
        self.upstream = upstream
        self.fresh: list[bool] = []

    def session(self, keepalive: float, *, fresh: bool = False) -> Any:
        self.fresh.append(fresh)
        return self.upstream


class Harness:
    def __init__(self, *script: Any, route: RouteSettings | None = None,
                 tls: RouteTLS | None = None, **session_changes: Any) -> None:
        self.clock = FrozenClock(T0)
        self.fake_as = FakeAS(self.clock)
        self.service = make(self.clock, self.fake_as)
        self.active = Held(session(self.clock, **session_changes))
        self.upstream = Upstream(*script)
        self.pool = Pool(self.upstream)

        async def authenticate(call: Any) -> Held:
            self.call = call
            return self.active

        self.route = ProxyRoute(authenticate, self.service,
                                route or RouteSettings(prefix="/api", upstream="https://api.test"),
                                NonceCache(), self.pool, tls)

    def run(self, path: str = "/api/accounts", method: str = "GET", body: list[bytes] = (),
            headers: list[tuple[bytes, bytes]] = (), raw_path: bytes | None = None,
            query: bytes = b"") -> tuple[int, dict[bytes, bytes], bytes]:
        messages = [{"type": "http.request", "body": c, "more_body": i < len(body) - 1}
                    for i, c in enumerate(body)] or [{"type": "http.request", "body": b""}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return messages.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": method, "path": path,
                 "raw_path": raw_path or path.encode(), "query_string": query,
                 "headers": [(b"host", b"bff.test"), *headers], "client": ("10.0.0.1", 1234),
                 "scheme": "https"}
        asyncio.run(self.route(scope, receive, send))
        start = sent[0]
        return (start["status"], dict(start["headers"]),
                b"".join(m.get("body", b"") for m in sent[1:]))


def error_of(body: bytes) -> str:
    return str(json.loads(body)["error"])


def test_a_call_goes_out_with_the_token_and_a_fresh_proof_and_comes_back() -> None:
    h = Harness(Answer(headers=[("Content-Type", "application/json"),
                                ("Cache-Control", "max-age=60")]))
    status, headers, body = h.run(query=b"a=1", headers=[(b"cookie", b"x=1")])
    assert (status, body) == (200, b'{"ok":true}')
    sent = h.upstream.requests[0]
    assert sent["url"] == "https://api.test/accounts?a=1"
    assert sent["headers"]["Authorization"] == "DPoP at-0"
    assert sent["headers"]["DPoP"].count(".") == 2 and "X-Request-Id" in sent["headers"]
    assert "cookie" not in {k.lower() for k in sent["headers"]}, "the BFF's cookies stay here"
    assert headers[b"x-content-type-options"] == b"nosniff"
    assert headers[b"content-length"] == b"11"
    assert h.route.stats["forwarded"] == 1 and h.call.path == "/api/accounts"


@pytest.mark.spec("RFC 9449 §9")
def test_use_dpop_nonce_is_retried_once_with_the_nonce() -> None:
    nonce_challenge = [("WWW-Authenticate", 'DPoP error="use_dpop_nonce"'), ("DPoP-Nonce", "n1")]
    h = Harness(Answer(401, b"", nonce_challenge), Answer())
    assert h.run()[0] == 200
    assert h.route.stats["nonce_retries"] == 1 and len(h.upstream.requests) == 2
    first, second = (r["headers"]["DPoP"] for r in h.upstream.requests)
    assert first != second, "a new proof for the retry"
    # a second nonce demand is answered as it is (one retry only)
    h = Harness(Answer(401, b"", nonce_challenge), Answer(401, b"", nonce_challenge))
    assert h.run()[0] == 401 and len(h.upstream.requests) == 2


@pytest.mark.spec("RFC 6750 §3.1")
def test_invalid_token_refreshes_once_and_retries() -> None:
    expired = [("WWW-Authenticate", 'DPoP error="invalid_token"')]
    h = Harness(Answer(401, b"", expired), Answer())
    assert h.run()[0] == 200
    assert h.fake_as.refreshes == 1 and h.route.stats["refresh_retries"] == 1
    assert h.upstream.requests[1]["headers"]["Authorization"] == "DPoP bff-at-1"


@pytest.mark.spec("RFC 9470 §3")
def test_insufficient_user_authentication_becomes_step_up_required() -> None:
    challenge = ('DPoP error="insufficient_user_authentication", '
                 'acr_values="urn:bff:acr:mfa", max_age=60')
    h = Harness(Answer(401, b"", [("WWW-Authenticate", challenge)]))
    status, _, body = h.run()
    assert (status, error_of(body)) == (403, "step_up_required")
    assert h.fake_as.refreshes == 0 and len(h.upstream.requests) == 1


@pytest.mark.spec("RFC 9112 §9.3.1")
def test_a_dropped_pooled_connection_is_retried_on_a_fresh_one() -> None:
    h = Harness(UpstreamDropped(OSError("reset"), answered=False), Answer())
    assert h.run()[0] == 200
    assert h.pool.fresh == [False, True] and h.route.stats["dropped_connection_retries"] == 1


@pytest.mark.spec("RFC 9110 §9.2.2")
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_dropped_non_idempotent_call_is_never_repeated(method: str) -> None:
    h = Harness(UpstreamDropped(OSError("reset"), answered=False), Answer())
    status, _, body = h.run(method=method, body=[b"{}"],
                            headers=[(b"content-length", b"2"), (b"x-csrf-token", b"c")])
    assert (status, error_of(body)) == (502, "api_unreachable")
    assert len(h.upstream.requests) == 1 and h.route.stats["dropped_connection_retries"] == 0


def test_a_dropped_connection_that_answered_or_a_fresh_one_is_a_502() -> None:
    dropped = UpstreamDropped(OSError("reset"), answered=True)
    h = Harness(dropped)
    status, _, body = h.run()
    assert (status, error_of(body)) == (502, "api_unreachable")
    twice = [UpstreamDropped(OSError("a"), answered=False),
             UpstreamDropped(OSError("b"), answered=False)]
    h = Harness(*twice)
    assert h.run()[0] == 502 and h.pool.fresh == [False, True]


@pytest.mark.parametrize(("failure", "status"), [
    (aiohttp.ClientConnectionError("refused"), 502),
    (aiohttp.ServerTimeoutError("slow"), 504),
    (TimeoutError(), 504),
])
def test_upstream_failures_answer_with_their_status(failure: BaseException,
                                                    status: int) -> None:
    assert Harness(failure).run()[0] == status


def test_an_encoded_route_prefix_is_refused() -> None:
    status, _, body = Harness().run(path="/api/x", raw_path=b"/%61pi/x")
    assert (status, error_of(body)) == (400, "path_not_allowed")


def test_a_body_above_the_route_limit_is_refused_before_it_is_sent() -> None:
    route = RouteSettings(prefix="/api", upstream="https://api.test", max_body_bytes=10)
    h = Harness(route=route)
    status, _, body = h.run(method="POST", body=[b"x" * 11],
                            headers=[(b"content-length", b"11")])
    assert (status, error_of(body)) == (413, "payload_too_large")
    lying = Harness(route=route)
    assert lying.run(method="POST", body=[b"x" * 8, b"x" * 8],
                     headers=[(b"content-length", b"5")])[0] == 413
    assert Harness(route=route).run(method="POST", headers=[(b"content-length", b"x")])[0] == 413
    assert not h.upstream.requests


def test_a_streamed_body_learns_the_nonce_first_and_is_never_replayed() -> None:
    route = RouteSettings(prefix="/api", upstream="https://api.test", max_body_bytes=100)
    h = Harness(Answer(200, b"", [("DPoP-Nonce", "n1")]),
                Answer(401, b"", [("WWW-Authenticate", 'DPoP error="invalid_token"')]),
                route=route)
    status, _, _ = h.run(method="POST", body=[b"ab", b"cd"],
                         headers=[(b"transfer-encoding", b"chunked")])
    assert status == 401, "a streamed body is not sent twice"
    assert [r["method"] for r in h.upstream.requests] == ["HEAD", "POST"]
    assert h.upstream.requests[1]["body"] == b"abcd"
    too_long = Harness(Answer(200, b""), route=route)
    assert too_long.run(method="POST", body=[b"x" * 60, b"x" * 60],
                        headers=[(b"transfer-encoding", b"chunked")])[0] in (413, 502)


def test_a_large_answer_streams_and_an_interrupted_one_ends_cleanly() -> None:
    h = Harness(Answer(body=b"0123456789", stream=True))
    status, headers, body = h.run()
    assert (status, body) == (200, b"0123456789") and b"content-length" not in headers
    cut = Harness(Answer(body=b"0123456789", stream=True, fail=True))
    assert cut.run()[2] == b"0123456789"


def test_x_forwarded_headers_only_when_the_route_asks() -> None:
    route = RouteSettings(prefix="/api", upstream="https://api.test", x_forwarded=True)
    h = Harness(Answer(), route=route)
    h.run()
    sent = h.upstream.requests[0]["headers"]
    assert (sent["X-Forwarded-For"], sent["X-Forwarded-Proto"], sent["X-Forwarded-Host"]) == (
        "10.0.0.1", "https", "bff.test")
    plain = Harness(Answer())
    plain.run()
    assert "X-Forwarded-For" not in plain.upstream.requests[0]["headers"]


@pytest.mark.spec("RFC 8705 §3")
def test_certificate_bound_tokens_go_as_bearer_without_a_proof() -> None:
    h = Harness(Answer(), tls=RouteTLS(certificate_bound=True))
    h.run()
    sent = h.upstream.requests[0]["headers"]
    assert sent["Authorization"] == "Bearer at-0" and "DPoP" not in sent


def test_a_purpose_token_is_used_once_and_never_refreshed() -> None:
    from bff.handler.purpose import purpose_key

    key = purpose_key("p" * 22)
    h = Harness(Answer(401, b"", [("WWW-Authenticate", 'DPoP error="invalid_token"')]))
    h.active.session = h.active.session.with_changes(
        tokens={**h.active.session.tokens, key: AccessToken("pay-1", T0 + 300)})
    status, _, _ = h.run(headers=[(b"x-bff-purpose", b"p" * 22)])
    assert status == 401 and h.fake_as.refreshes == 0
    assert h.upstream.requests[0]["headers"]["Authorization"] == "DPoP pay-1"
    assert key not in h.active.session.tokens


def test_call_of_keeps_the_last_header_value_lower_cased() -> None:
    call = call_of({"method": "GET", "path": "/api", "headers": [(b"X-A", b"1"), (b"x-a", b"2")]})
    assert call.headers == {"x-a": "2"} and call.raw_headers[0] == (b"X-A", b"1")


def test_the_pool_makes_one_session_per_lifetime_and_closes_them() -> None:
    async def scenario() -> None:
        pool = UpstreamPool()
        await pool.open()
        pooled, again = pool.session(4.0), pool.session(4.0)
        fresh = pool.session(4.0, fresh=True)
        assert pooled is again and fresh is not pooled
        await pool.close()
        assert pooled.closed and fresh.closed

    asyncio.run(scenario())


def test_own_the_retry_turns_a_drop_into_upstream_dropped() -> None:
    async def dropped(request: Any) -> Any:
        raise aiohttp.ServerDisconnectedError()

    async def reset(request: Any) -> Any:
        raise aiohttp.ClientOSError(104, "reset")

    async def refused(request: Any) -> Any:
        raise aiohttp.ClientConnectorError(None, OSError(111, "refused"))  # type: ignore[arg-type]

    for handler, answered in ((dropped, False), (reset, False)):
        with pytest.raises(UpstreamDropped) as caught:
            asyncio.run(_own_the_retry(None, handler))  # type: ignore[arg-type]
        assert caught.value.answered is answered
    with pytest.raises(aiohttp.ClientConnectorError):
        asyncio.run(_own_the_retry(None, refused))  # type: ignore[arg-type]


@pytest.mark.spec("RFC 9112 §9.3.1")
def test_a_drop_is_told_from_other_failures_and_from_a_drop_mid_answer() -> None:
    partial = aiohttp.ServerDisconnectedError(message=object())  # aiohttp's parsed answer
    cases: list[tuple[aiohttp.ClientError, bool | None]] = [
        (aiohttp.ServerDisconnectedError(), True),
        (partial, False),
        (aiohttp.ClientOSError(104, "reset"), True),
        (UpstreamDropped(OSError("reset"), answered=True), False),
        (aiohttp.ClientConnectorError(None, OSError(111, "refused")), None),  # type: ignore[arg-type]
        (aiohttp.ClientPayloadError("cut"), None),
    ]
    for exc, verdict in cases:
        assert dropped_before_an_answer(exc) is verdict, exc


@pytest.mark.spec("RFC 9449 §11.1")
def test_the_pools_sessions_never_resend_by_themselves() -> None:
    """aiohttp would resend an idempotent request with the same DPoP proof on a dropped pooled
    connection; the proxy switches that off (and decides itself, with a new proof)."""
    async def scenario() -> list[bool]:
        pool = UpstreamPool()
        sessions = [pool.session(4.0), pool.session(4.0, fresh=True)]
        switched = [s._retry_connection for s in sessions]
        await pool.close()
        return switched

    assert asyncio.run(scenario()) == [False, False]


def test_an_aiohttp_drop_without_the_middleware_is_retried_on_a_fresh_connection() -> None:
    h = Harness(aiohttp.ServerDisconnectedError(), Answer())
    assert h.run()[0] == 200
    assert h.pool.fresh == [False, True] and h.route.stats["dropped_connection_retries"] == 1
    h = Harness(aiohttp.ServerDisconnectedError(), Answer())
    status, _, body = h.run(method="POST", body=[b"{}"],
                            headers=[(b"content-length", b"2"), (b"x-csrf-token", b"c")])
    assert (status, error_of(body)) == (502, "api_unreachable") and h.pool.fresh == [False]
