"""The real stack for browser tests: dev AS, example API, two BFFs and two static sites.

Everything runs on loopback with fixed ports chosen up front, because the BFF's public URL,
its redirect URI and the AS's client registration must all name them before anything starts:

* ``http://localhost:P``  - BFF serving the example SPA itself (same-origin deployment);
* ``http://localhost:S``  - the example SPA on its own origin, talking to
* ``http://localhost:P2`` - a second BFF (cross-origin, same-site deployment, CORS);
* ``http://127.0.0.1:Q``  - a foreign site (not same-site with ``localhost``, not allowed).

``localhost`` and ``127.0.0.1`` are different sites to the browser, so the foreign page is
cross-site for the ``SameSite=Strict`` session cookie. Cookies ignore ports, so the two BFFs
would overwrite each other's ``__Host-bff-session`` in one browser context: every test gets
a fresh context.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, sync_playwright
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bff.app import Parts, build_app, build_parts
from bff.config.loader import LoadedConfig
from bff.crypto.keys import generate_seal_jwk, public_jwk
from bff.devstack import Child, start_authorization_server, start_example_api
from bff.sessions.model import Session
from tests.support.servers import ThreadServer, bound_socket, port_of
from tests.support.stack import bff_config
from tests.support.totp import PERIOD as TOTP_PERIOD

REPO = Path(__file__).resolve().parents[2]
SPA_DIR = REPO / "spa-example"
SCREENSHOTS = REPO / "test-output" / "screenshots"
DOCS_IMG = REPO / "docs" / "img"

# what the SPA's payment approvals send (RFC 9396), as the demo configures it
PAYMENT_DETAILS = {"payment_initiation": ["instructedAmount", "creditorName", "creditorAccount",
                                          "remittanceInformationUnstructured"]}

ACCESS_TTL = 4  # seconds: short, so a test can outlive an access token

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}


@dataclass
class RunningBFF:
    """A BFF served over real HTTP from a thread; ``url`` is its public (browser) URL."""

    url: str
    server: ThreadServer
    parts: Parts
    config: LoadedConfig

    def session_of(self, context: BrowserContext) -> Session | None:
        """The server-side session behind the browser's cookies (the browser cannot read it)."""
        cookies = {c["name"]: c["value"] for c in context.cookies(self.url)}
        return self.server.run_coro(self.parts.sessions.load(cookies))  # type: ignore[no-any-return]


@dataclass
class E2EStack:
    issuer: str
    api_url: str
    audience: str
    bff: RunningBFF          # same origin: serves the SPA
    cross_bff: RunningBFF    # cross origin: the SPA below calls it with CORS
    spa_url: str             # the SPA on its own origin, same site as cross_bff
    foreign_url: str         # a page on another site

    def as_stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.issuer}/__dev/stats", timeout=10).json())

    def refresh_grants(self) -> int:
        return int(self.as_stats()["grants"]["refresh_token"])

    def api_calls(self, path: str) -> int:
        calls = httpx.get(f"{self.api_url}/__stats", timeout=10).json()["calls"]
        return int(calls.get(path, 0))


def spa_with_bff(bff_url: str) -> Starlette:
    """The example SPA as static files, its index page pointing at a BFF on another origin."""
    index = (SPA_DIR / "index.html").read_text(encoding="utf-8")
    marker = '<meta name="bff-base-url" content="">'
    assert marker in index, "index.html no longer has an empty bff-base-url meta tag"
    page = index.replace(marker, f'<meta name="bff-base-url" content="{bff_url}">')

    async def index_page(request: Request) -> Response:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    return Starlette(routes=[Route("/", index_page), Route("/index.html", index_page),
                             Mount("/", StaticFiles(directory=SPA_DIR))])


FOREIGN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Totally legit prizes</title></head>
<body><h1>You won!</h1></body></html>
"""


def foreign_site() -> Starlette:
    async def page(request: Request) -> Response:
        return HTMLResponse(FOREIGN_PAGE)

    return Starlette(routes=[Route("/", page)])


def start_bff(workdir: Path, issuer: str, client_jwk: dict[str, Any], *, sock: socket.socket,
              redirect_uri: str, audience: str, api_url: str, static: bool,
              cors: list[str]) -> tuple[RunningBFF, ThreadServer]:
    workdir.mkdir(parents=True, exist_ok=True)
    public = f"http://localhost:{port_of(sock)}"
    server_table: dict[str, Any] = {"public_url": public}
    if static:
        server_table["static_dir"] = str(SPA_DIR)
    config = bff_config(
        workdir, issuer, client_jwk, [generate_seal_jwk("k1")],
        routes=[{"prefix": "/api", "upstream": api_url, "resource": audience}],
        server=server_table,
        oauth={"redirect_uri": redirect_uri, "post_logout_redirect_uri": redirect_uri,
               "resources": [audience], "refresh_margin": 0,
               "authorization_details_types": PAYMENT_DETAILS},
        cors={"allowed_origins": cors})
    parts = build_parts(config)
    app = build_app(config, parts=parts)
    server = ThreadServer(app, sock=sock).start()
    return RunningBFF(public, server, parts, config), server


@pytest.fixture(scope="session")
def e2e_stack(tmp_path_factory: pytest.TempPathFactory,
              client_jwk: dict[str, Any]) -> Iterator[E2EStack]:
    workdir = tmp_path_factory.mktemp("e2e")
    # held from here until served: the AS learns the origins before the servers exist
    bff_sock, cross_sock, spa_sock, foreign_sock = (bound_socket() for _ in range(4))
    same_origin = f"http://localhost:{port_of(bff_sock)}"
    spa_origin = f"http://localhost:{port_of(spa_sock)}"
    redirect_uris = [f"{same_origin}/", f"{spa_origin}/"]
    # a name, not the API's address: the API binds port 0 after the AS knows the audience
    audience = "http://127.0.0.1/example-api/"
    client = {"client_id": "bff", "client_name": "Northwind Bank",
              "jwks": {"keys": [public_jwk(client_jwk)]},
              "redirect_uris": redirect_uris, "post_logout_redirect_uris": redirect_uris}
    children: list[Child] = []
    servers: list[ThreadServer] = []
    try:
        authz = start_authorization_server(
            {"clients": [client], "resource": audience, "accessTokenTTL": ACCESS_TTL,
             "totpPeriod": TOTP_PERIOD},
            workdir, workdir / "as.log")
        children.append(authz)
        issuer = authz.ready["issuer"]
        api = start_example_api(issuer, audience, log_file=workdir / "api.log")
        children.append(api)
        api_url = api.ready["url"]
        bff, server = start_bff(workdir / "bff", issuer, client_jwk, sock=bff_sock,
                                redirect_uri=f"{same_origin}/", audience=audience,
                                api_url=api_url, static=True, cors=[])
        servers.append(server)
        cross_bff, server = start_bff(workdir / "cross-bff", issuer, client_jwk,
                                      sock=cross_sock, redirect_uri=f"{spa_origin}/",
                                      audience=audience, api_url=api_url, static=False,
                                      cors=[spa_origin])
        servers.append(server)
        servers.append(ThreadServer(spa_with_bff(cross_bff.url), sock=spa_sock).start())
        servers.append(ThreadServer(foreign_site(), sock=foreign_sock).start())
        yield E2EStack(issuer, api_url, audience, bff, cross_bff, f"{spa_origin}/",
                       f"http://127.0.0.1:{port_of(foreign_sock)}/")
    finally:
        for server in reversed(servers):
            server.stop()
        for child in reversed(children):
            child.stop()
        for sock in (bff_sock, cross_sock, spa_sock, foreign_sock):
            sock.close()  # the ones never served (a start failed)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                     args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=VIEWPORT, locale="en-US", timezone_id="UTC")
    ctx.set_default_timeout(15_000)
    # no context.route() here: Playwright's interception answers CORS preflights itself, and
    # the cross-origin tests would no longer see what the BFF allows (the dev AS's pages load
    # nothing from elsewhere, smoke.mjs checks it)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
