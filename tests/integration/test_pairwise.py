"""Pairwise subject identifiers from the real dev AS (OpenID Connect Core §8.1): two BFFs,
clients of different sectors, one user; the BFF works unchanged, back-channel logout included."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.as_login import ASBrowser
from tests.support.cookies import Jar
from tests.support.flows import call, login
from tests.support.stack import (
    BFF,
    REDIRECT_URI,
    SPA,
    Stack,
    bff_config,
    running_bff,
    running_stack,
)

pytestmark = pytest.mark.integration

# the sector of a client is the host of its redirect URI (no sector_identifier_uri here)
OTHER_SPA = "http://localhost:5174"
OTHER_REDIRECT = f"{OTHER_SPA}/"


@pytest.fixture(scope="module")
def sockets() -> Iterator[tuple[socket.socket, socket.socket]]:
    """Both BFFs' listening sockets, bound before the AS learns their back-channel URIs."""
    with socket.socket() as a, socket.socket() as b:
        for sock in (a, b):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
        yield a, b


def backchannel(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}/bff/backchannel-logout"


@pytest.fixture(scope="module")
def pairwise_stack(tmp_path_factory: pytest.TempPathFactory, client_jwk: dict[str, Any],
                   sockets: tuple[socket.socket, socket.socket]) -> Iterator[Stack]:
    from bff.crypto.keys import public_jwk

    jwks = {"keys": [public_jwk(client_jwk)]}
    clients = [
        {"client_id": "bank-a", "jwks": jwks, "subject_type": "pairwise",
         "redirect_uris": [REDIRECT_URI], "post_logout_redirect_uris": [REDIRECT_URI],
         "backchannel_logout_uri": backchannel(sockets[0])},
        {"client_id": "bank-b", "jwks": jwks, "subject_type": "pairwise",
         "redirect_uris": [OTHER_REDIRECT], "post_logout_redirect_uris": [OTHER_REDIRECT],
         "backchannel_logout_uri": backchannel(sockets[1])},
    ]
    with running_stack(tmp_path_factory.mktemp("pairwise"), client_jwk,
                       as_options={"clients": clients}) as stack:
        yield stack


@pytest.fixture(params=["cookie", "server"])
def bffs(request: pytest.FixtureRequest, pairwise_stack: Stack,
         sockets: tuple[socket.socket, socket.socket], tmp_path: Path,
         client_jwk: dict[str, Any], cookie_jwks: list[dict[str, Any]]) -> Iterator[list[BFF]]:
    store = {"store": request.param}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    config_a = bff_config(tmp_path / "a", pairwise_stack.issuer, client_jwk, cookie_jwks,
                          oauth={"client_id": "bank-a"}, session=store)
    config_b = bff_config(tmp_path / "b", pairwise_stack.issuer, client_jwk, cookie_jwks,
                          server={"public_url": OTHER_SPA},
                          oauth={"client_id": "bank-b", "redirect_uri": OTHER_REDIRECT,
                                 "post_logout_redirect_uri": OTHER_REDIRECT},
                          session=store)
    with ExitStack() as running:
        yield [running.enter_context(running_bff(config_a, sock=sockets[0].dup())),
               running.enter_context(running_bff(config_b, sock=sockets[1].dup()))]


def client_of(bff: BFF, origin: str) -> httpx.Client:
    return httpx.Client(base_url=bff.url, timeout=30, headers={"Origin": origin})


def signed_in(http: httpx.Client, jar: Jar) -> bool:
    return bool(call(http, jar, "GET", "/bff/session").json()["isLoggedIn"])


@pytest.mark.spec("OpenID Connect Core §8.1")
def test_pairwise_subjects_differ_per_sector_and_back_channel_logout_finds_both_sessions(
        bffs: list[BFF], pairwise_stack: Stack) -> None:
    bff_a, bff_b = bffs
    jar_a, jar_b = Jar(), Jar()
    # one browser: one AS session for both apps
    with ASBrowser() as browser, client_of(bff_a, SPA) as http_a, \
            client_of(bff_b, OTHER_SPA) as http_b:
        login(http_a, jar_a, browser, user="alice")
        login(http_b, jar_b, browser, user="alice", redirect_uri=OTHER_REDIRECT)
        session_a = bff_a.run(bff_a.parts.sessions.load(jar_a.cookies))
        session_b = bff_b.run(bff_b.parts.sessions.load(jar_b.cookies))
        assert session_a.sub != session_b.sub, "two sectors, two subjects"
        assert "alice" not in (session_a.sub, session_b.sub), "not the account name"
        # the app is shown the subject of its own sector
        shown = call(http_a, jar_a, "GET", "/bff/session").json()
        assert shown["claims"]["sub"] == session_a.sub
        # the same user in the same sector keeps the subject
        again = Jar()
        login(http_a, again, browser, user="alice")
        assert bff_a.run(bff_a.parts.sessions.load(again.cookies)).sub == session_a.sub

        # the user signs out at the AS itself: it sends each client a logout token with that
        # client's own pairwise sub and sid, and each BFF finds its sessions by them
        metadata = httpx.get(f"{pairwise_stack.issuer}/.well-known/openid-configuration").json()
        sent = pairwise_stack.stats()["backchannel"]["sent"]
        response = browser.end_session(metadata["end_session_endpoint"])
        assert response.status_code in (200, 302, 303), response.text[:300]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
                signed_in(http_a, jar_a) or signed_in(http_b, jar_b)):
            time.sleep(0.1)
        assert pairwise_stack.stats()["backchannel"]["sent"] >= sent + 2
        assert not signed_in(http_a, jar_a)
        assert not signed_in(http_b, jar_b)
        assert not signed_in(http_a, again)
