"""The real development stack for integration tests: dev AS, example API, BFF instances."""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bff.app import Parts, build_app, build_parts
from bff.config.loader import LoadedConfig, load_settings_from_mapping
from bff.crypto.keys import public_jwk
from bff.devstack import Child, start_authorization_server, start_example_api
from bff.telemetry.logging import JSONFormatter
from bff.web.limits import uvicorn_options
from tests.support.servers import GranianThreadServer, ThreadServer
from tests.support.totp import PERIOD as TOTP_PERIOD

SPA = "http://127.0.0.1:5173"
REDIRECT_URI = f"{SPA}/"


@dataclass
class Stack:
    """A running dev AS and example API."""

    issuer: str
    api_url: str
    audience: str
    authz: Child
    api: Child

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.issuer}/__dev/stats").json())

    def api_stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.api_url}/__stats").json())

    def api_calls(self) -> dict[str, int]:
        """Calls per path the API has seen, not counting the stats calls themselves."""
        calls = dict(self.api_stats()["calls"])
        calls.pop("/__stats", None)
        return calls


@contextmanager
def running_stack(workdir: Path, client_jwk: dict[str, Any], access_ttl: int = 300,
                  backchannel_uri: str | None = None,
                  redirect_uris: list[str] | None = None,
                  issuer: str | None = None, as_port: int = 0,
                  on_as_ready: Callable[[Child], None] | None = None,
                  as_options: dict[str, Any] | None = None) -> Iterator[Stack]:
    """The dev AS and the example API; ``on_as_ready`` runs before the API asks the AS.

    ``as_options``: more dev AS settings (e.g. ``useGrantedResource``, ``defaultResource``).
    """
    # The audience is a name, not an address: the API then binds a port of its own choosing
    # (port 0) and reports it, instead of a pre-picked port another process could take first.
    audience = "http://127.0.0.1/example-api/"
    client: dict[str, Any] = {"client_id": "bff", "jwks": {"keys": [public_jwk(client_jwk)]},
                              "redirect_uris": [REDIRECT_URI, *(redirect_uris or [])],
                              "post_logout_redirect_uris": [REDIRECT_URI,
                                                            *(redirect_uris or [])]}
    if backchannel_uri:
        client["backchannel_logout_uri"] = backchannel_uri
    as_config: dict[str, Any] = {"clients": [client], "resource": audience,
                                 "accessTokenTTL": access_ttl, "port": as_port,
                                 "totpPeriod": TOTP_PERIOD, **(as_options or {})}
    if issuer:
        as_config["issuer"] = issuer
    authz = start_authorization_server(as_config, workdir, workdir / "as.log")
    api = None
    try:
        if on_as_ready is not None:
            on_as_ready(authz)
        issuer = authz.ready["issuer"]
        api = start_example_api(issuer, audience, log_file=workdir / "api.log")
        yield Stack(issuer, api.ready["url"], audience, authz, api)
    finally:
        if api is not None:
            api.stop()
        authz.stop()


class LogCapture(logging.Handler):
    """Every log line of the process, formatted exactly as production writes it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JSONFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass
class BFF:
    """A BFF served over real HTTP from a thread, with its parts reachable."""

    url: str
    server: ThreadServer | GranianThreadServer
    parts: Parts
    config: LoadedConfig

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, headers={"Origin": SPA})

    def run(self, coro: Any) -> Any:
        return self.server.run_coro(coro)


def bff_config(workdir: Path, stack_issuer: str, client_jwk: dict[str, Any],
               cookie_jwks: list[dict[str, Any]], routes: list[dict[str, Any]] | None = None,
               **tables: dict[str, Any]) -> LoadedConfig:
    (workdir / "client.jwk").write_text(json.dumps(client_jwk))
    names = []
    for i, jwk in enumerate(cookie_jwks):
        (workdir / f"cookie{i}.jwk").write_text(json.dumps(jwk))
        names.append(f"cookie{i}.jwk")
    raw: dict[str, Any] = {
        "server": {"public_url": SPA},
        "oauth": {"issuer": stack_issuer, "client_id": "bff", "client_key_file": "client.jwk",
                  "redirect_uri": REDIRECT_URI, "post_logout_redirect_uri": REDIRECT_URI,
                  "scope": "openid profile email offline_access accounts payments"},
        "session": {"cookie_key_files": names},
        "routes": routes or [],
    }
    for table, values in tables.items():
        raw[table] = {**raw.get(table, {}), **values}
    return load_settings_from_mapping(raw, {}, base_dir=workdir)


@contextmanager
def running_bff(config: LoadedConfig, port: int = 0, *, sock: socket.socket | None = None,
                **parts_kwargs: Any) -> Iterator[BFF]:
    """A BFF on ``sock`` (a bound socket the caller made), else on ``port`` (0: any port)."""
    parts = build_parts(config, **parts_kwargs)
    app = build_app(config, parts=parts)
    # BFF_TEST_ENGINE=granian runs the in-process BFFs of the suite on granian instead
    if os.environ.get("BFF_TEST_ENGINE") == "granian":
        with GranianThreadServer(app, port=port, sock=sock) as granian:
            yield BFF(granian.url, granian, parts, config)
        return
    with ThreadServer(app, port=port, sock=sock,
                      options=uvicorn_options(config.settings.server)) as server:
        yield BFF(server.url, server, parts, config)


def token_recording_http(token_responses: list[dict[str, Any]]) -> httpx.AsyncClient:
    """An AS client for the BFF that appends every 200 token-endpoint answer, as the BFF
    received it over the wire, to ``token_responses``."""

    async def record(response: httpx.Response) -> None:
        if response.request.url.path == "/token" and response.status_code == 200:
            await response.aread()
            token_responses.append(response.json())

    return httpx.AsyncClient(timeout=10, event_hooks={"response": [record]})
