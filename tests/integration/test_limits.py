"""Hostile sizes and shapes over real sockets, against the BFF served as ``bff run`` serves it.

The BFF's issuer is the in-process hostile AS (real HTTP), which signs logout tokens with a key
the BFF trusts; no request here needs the dev AS.
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import ECKey
from starlette.types import ASGIApp, Receive, Scope, Send

from bff.crypto.seal import b64url_encode
from tests.support.hostile_as import HostileAS
from tests.support.servers import ThreadServer
from tests.support.stack import BFF, SPA, LogCapture, bff_config, running_bff

pytestmark = pytest.mark.integration

BACKCHANNEL = "/bff/backchannel-logout"
FORM = "application/x-www-form-urlencoded"


class CountingAS(HostileAS):
    """The hostile AS, counting the requests for each path."""

    def __init__(self) -> None:
        super().__init__(demand_nonce=False)
        self.requests: Counter[str] = Counter()

    def counting_app(self) -> ASGIApp:
        inner = self.app()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                self.requests[scope["path"]] += 1
            await inner(scope, receive, send)
        return app


@pytest.fixture(scope="module")
def hostile() -> Iterator[CountingAS]:
    hostile = CountingAS()
    with ThreadServer(hostile.counting_app()) as server:
        hostile.url = server.url
        yield hostile


def start_bff(hostile: HostileAS, workdir: Path, client_jwk: dict[str, Any],
              cookie_jwks: list[dict[str, Any]]) -> Any:
    return running_bff(bff_config(workdir, hostile.url, client_jwk, cookie_jwks))


@pytest.fixture(scope="module")
def bff(hostile: HostileAS, tmp_path_factory: pytest.TempPathFactory,
        client_jwk: dict[str, Any], cookie_jwks: list[dict[str, Any]]) -> Iterator[BFF]:
    with start_bff(hostile, tmp_path_factory.mktemp("limits"), client_jwk, cookie_jwks) as b:
        yield b


def logout_token(hostile: HostileAS, key: ECKey | None = None) -> str:
    now = int(time.time())
    key = key or hostile.key
    claims = {"iss": hostile.url, "aud": "bff", "iat": now, "exp": now + 120,
              "jti": b64url_encode(json.dumps([now, time.perf_counter()]).encode()),
              "sid": "s-1", "events": {"http://schemas.openid.net/event/backchannel-logout": {}}}
    return jws.serialize_compact({"typ": "logout+jwt", "alg": "ES256", "kid": key.kid},
                                 json.dumps(claims).encode(), key, algorithms=["ES256"])


# -- raw HTTP/1.1 over a socket: to send what no well-behaved client would ---------------------


def connect(bff: BFF) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", int(bff.url.rsplit(":", 1)[1])), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def answered(sock: socket.socket, wait: float = 0.0) -> bool:
    return bool(select.select([sock], [], [], wait)[0])


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one response (``Content-Length`` framed)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed without a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the body"
        body += chunk
    return int(lines[0].split()[1]), headers, body[:length]


def send_until_answered(sock: socket.socket, pieces: Iterator[bytes], wait: float) -> int:
    """Send pieces until the server answers; the number of bytes sent by then."""
    sent = 0
    for piece in pieces:
        if answered(sock, wait):
            return sent
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            return sent
        sent += len(piece)
    assert answered(sock, 5), f"no answer after {sent} bytes"
    return sent


def assert_json_error(status: int, headers: dict[str, str], body: bytes, expected: int,
                      code: str) -> None:
    assert status == expected, body
    assert headers["content-type"].startswith("application/json")
    assert headers["x-content-type-options"] == "nosniff"
    assert set(json.loads(body)) == {"error", "error_description"}
    assert json.loads(body)["error"] == code


# -- item 6: the back-channel body -------------------------------------------------------------


@pytest.mark.spec("RFC 9110 §15.5.14")
def test_backchannel_refuses_a_declared_huge_body_before_reading_it(bff: BFF) -> None:
    """A 300 MB Content-Length gets 413 at once: the BFF does not wait for (or read) the body."""
    with connect(bff) as sock:
        sock.sendall(f"POST {BACKCHANNEL} HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\n"
                     f"Content-Length: {300 * 1024 * 1024}\r\n\r\n".encode())
        sock.sendall(b"logout_token=" + b"A" * 1024)
        assert answered(sock, 5), "no answer before the body was sent"
        status, headers, body = read_response(sock)
    assert_json_error(status, headers, body, 413, "payload_too_large")
    assert headers["connection"] == "close"


@pytest.mark.spec("RFC 9110 §15.5.14")
def test_backchannel_stops_reading_a_streamed_body_at_the_limit(bff: BFF) -> None:
    """A chunked body without a length is read only up to 32 KiB, then refused with 413."""
    piece = 16 * 1024

    def chunks() -> Iterator[bytes]:
        yield b"%x\r\nlogout_token=%s\r\n" % (piece, b"A" * (piece - 13))
        for _ in range(64):  # 1 MiB: far past the limit, and enough to show today's full read
            yield b"%x\r\n%s\r\n" % (piece, b"A" * piece)

    with connect(bff) as sock:
        sock.sendall(f"POST {BACKCHANNEL} HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n".encode())
        sent = send_until_answered(sock, chunks(), wait=0.05)
        status, headers, body = read_response(sock)
    assert_json_error(status, headers, body, 413, "payload_too_large")
    assert sent <= 4 * (piece + 16), sent


# -- item 7: request heads ---------------------------------------------------------------------


@pytest.mark.spec("RFC 6585 §5")
def test_a_huge_header_is_refused_while_it_arrives(bff: BFF) -> None:
    """A header that keeps growing gets 431 within a few kilobytes past the limit.

    8 MiB at most are sent: enough to tell "refused while arriving" from "buffered, then
    refused" (the 150 MiB of the report only make the second slower).
    """
    limit = bff.config.settings.server.max_header_bytes

    def pieces() -> Iterator[bytes]:
        yield b"GET /bff/session HTTP/1.1\r\nHost: x\r\nX-Big: "
        for _ in range(8 * 16):
            yield b"a" * 65536

    with connect(bff) as sock:
        sent = send_until_answered(sock, pieces(), wait=0.02)
        status, headers, body = read_response(sock)
    assert_json_error(status, headers, body, 431, "headers_too_large")
    assert sent < limit + 1024 * 1024, sent


@pytest.mark.spec("RFC 6585 §5")
@pytest.mark.parametrize("count", [101, 100_000])
def test_too_many_headers_are_refused(bff: BFF, count: int) -> None:
    """More header fields than ``server.max_header_count`` (100): 431 with the JSON error."""
    fields = "".join(f"X-H{i}: 1\r\n" for i in range(count - 1))
    with connect(bff) as sock:
        sent = send_until_answered(sock, iter([
            f"GET /bff/session HTTP/1.1\r\nHost: x\r\n{fields}\r\n".encode()]), wait=0)
        status, headers, body = read_response(sock)
    assert sent > 0
    assert_json_error(status, headers, body, 431, "headers_too_large")


def test_heads_within_the_limits_are_served(bff: BFF) -> None:
    """100 fields and a 60 KiB cookie (a ten-chunk session fits) are still answered."""
    fields = "".join(f"X-H{i}: 1\r\n" for i in range(98))
    cookie = "a=" + "b" * 60 * 1024
    with connect(bff) as sock:
        sock.sendall(f"GET /bff/session HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n"
                     f"{fields}\r\n".encode())
        status, _, body = read_response(sock)
    assert status == 200, body


def test_keep_alive_requests_each_get_the_full_budget(bff: BFF) -> None:
    """The head budget is per request: many requests on one connection are all answered."""
    request = ("GET /bff/session HTTP/1.1\r\nHost: x\r\nCookie: a=" + "b" * 20000
               + "\r\n\r\n").encode()
    with connect(bff) as sock:
        for _ in range(5):
            sock.sendall(request)
            assert read_response(sock)[0] == 200


# -- item 9: deeply nested JSON ----------------------------------------------------------------

NESTED = "[" * 5000 + "]" * 5000


@pytest.mark.spec("RFC 8259 §9")
@pytest.mark.parametrize("path", ["/bff/login/start", "/bff/login/end"])
def test_deeply_nested_json_body_is_a_400(bff: BFF, path: str,
                                         captured_logs: LogCapture) -> None:
    with bff.client() as http:
        r = http.post(path, content=NESTED, headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["error"]) == (400, "malformed_body")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "unhandled error" not in captured_logs.text()
    assert "RecursionError" in captured_logs.text()


@pytest.mark.spec("OpenID Connect Back-Channel Logout 1.0 §2.6")
def test_logout_token_with_a_deeply_nested_header_is_a_400(bff: BFF,
                                                           captured_logs: LogCapture) -> None:
    header = b64url_encode(NESTED.encode())
    r = httpx.post(bff.url + BACKCHANNEL, data={"logout_token": f"{header}.e30.c2ln"})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_logout_token")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "unhandled error" not in captured_logs.text()


# -- item 18: one logout_token ---------------------------------------------------------------


@pytest.mark.spec("RFC 6749 §3.1")
@pytest.mark.parametrize("order", ["valid last", "valid first", "both valid"])
def test_two_logout_tokens_are_refused(bff: BFF, hostile: HostileAS, order: str) -> None:
    """Parameters must not repeat: two ``logout_token`` values are refused, not "last wins"."""
    valid = logout_token(hostile)
    tokens = {"valid last": ["x.y.z", valid], "valid first": [valid, "x.y.z"],
              "both valid": [valid, logout_token(hostile)]}[order]
    body = "&".join(f"logout_token={t}" for t in tokens)
    r = httpx.post(bff.url + BACKCHANNEL, content=body, headers={"Content-Type": FORM})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_logout_token")
    once = httpx.post(bff.url + BACKCHANNEL, content=f"logout_token={valid}",
                      headers={"Content-Type": FORM})
    assert once.status_code == 200, once.text


# -- item 10: unknown kids ---------------------------------------------------------------------


@pytest.mark.spec("OpenID Connect Core §10.1.1")
def test_a_burst_of_unknown_kids_fetches_the_key_set_once(
        hostile: CountingAS, tmp_path: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]]) -> None:
    """200 concurrent logout tokens signed by unknown keys: one JWKS request at the AS."""
    tokens = [logout_token(hostile, ECKey.generate_key("P-256", private=True, auto_kid=True))
              for _ in range(200)]

    async def post_all(url: str) -> list[int]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(limits=limits, timeout=30) as http:
            responses = await asyncio.gather(*(http.post(url + BACKCHANNEL,
                                                         data={"logout_token": t})
                                               for t in tokens))
        return [r.status_code for r in responses]

    with start_bff(hostile, tmp_path, client_jwk, cookie_jwks) as fresh:
        before = hostile.requests["/jwks"]
        statuses = asyncio.run(post_all(fresh.url))
    assert statuses == [400] * 200
    assert hostile.requests["/jwks"] - before == 1


# -- item 8: forged login-transaction cookies ----------------------------------------------------


def test_forged_login_cookies_get_a_bounded_number_of_set_cookies(bff: BFF) -> None:
    """2,000 fake transaction cookies: login/start answers with at most 2 x 3 + 1 Set-Cookies."""
    prefix = bff.parts.names.login_prefix
    cookie = "; ".join(f"{prefix}{i}=v1.x" for i in range(2000))
    with bff.client() as http:
        r = http.post("/bff/login/start", json={}, headers={"Cookie": cookie})
    assert r.status_code == 200, r.text
    assert 1 < len(r.headers.get_list("set-cookie")) <= 7


# -- nosniff on the BFF's own errors -----------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/bff/nothing-here", 404), ("GET", "/bff/login/start", 405),
    ("GET", "/bff/userinfo", 401), ("POST", BACKCHANNEL, 400)])
def test_error_answers_carry_nosniff(bff: BFF, method: str, path: str, status: int) -> None:
    with httpx.Client(base_url=bff.url, headers={"Origin": SPA}) as http:
        r = http.request(method, path)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-content-type-options"] == "nosniff"
