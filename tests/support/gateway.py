"""The phantom-token stack for tests: dev AS (opaque tokens for the gateway's resource), the
example API trusting only the gateway, and the gateway in-process (its clock is the test's)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from gateway.cache import IntrospectionCache
from gateway.gateway import PhantomTokenGateway
from gateway.introspection import Introspector

from bff.crypto.keys import public_jwk
from bff.devstack import (
    GATEWAY_CLIENT,
    GATEWAY_ISSUER,
    Child,
    gateway_api_args,
    gateway_as_options,
    start_authorization_server,
    start_example_api,
    write_gateway_keys,
)
from bff.oauth.dpop import DPoPKey
from tests.support.clocks import OffsetClock
from tests.support.servers import ThreadServer
from tests.support.stack import REDIRECT_URI

API_AUDIENCE = "http://127.0.0.1/example-api/"
GATEWAY_RESOURCE = "http://127.0.0.1/gateway/"
CACHE_MAX_AGE = 30.0


@dataclass
class GatewayStack:
    """A running dev AS, gateway-trusting API and in-process gateway."""

    issuer: str
    api_url: str
    gateway_url: str
    gateway: PhantomTokenGateway
    clock: OffsetClock
    workdir: Path
    authz: Child
    api: Child

    def api_calls(self) -> dict[str, int]:
        """Calls per path the API has seen (the stats calls themselves not counted)."""
        calls = dict(httpx.get(f"{self.api_url}/__stats").json()["calls"])
        calls.pop("/__stats", None)
        return calls

    def gateway_jwks(self) -> dict[str, Any]:
        return dict(json.loads((self.workdir / "gateway-signing.jwks").read_text()))


def make_gateway(issuer: str, upstream: str, client_jwk: dict[str, Any],
                 signing_jwk: dict[str, Any], clock: OffsetClock,
                 client_id: str = GATEWAY_CLIENT) -> PhantomTokenGateway:
    """A gateway as ``python -m gateway`` builds it, with the test's clock."""
    return PhantomTokenGateway(
        issuer=issuer, resource=GATEWAY_RESOURCE,
        introspector=Introspector(issuer=issuer, client_id=client_id, client_jwk=client_jwk,
                                  clock=clock),
        upstream=upstream, upstream_audience=API_AUDIENCE, signing_jwk=signing_jwk,
        gateway_issuer=GATEWAY_ISSUER,
        cache=IntrospectionCache(max_age=CACHE_MAX_AGE, clock=clock), clock=clock)


@contextmanager
def running_gateway_stack(workdir: Path, client_jwk: dict[str, Any]) -> Iterator[GatewayStack]:
    """AS + API (subprocesses) and the gateway on a thread of this process."""
    options = gateway_as_options(write_gateway_keys(workdir), GATEWAY_RESOURCE)
    bff_client = {"client_id": "bff", "jwks": {"keys": [public_jwk(client_jwk)]},
                  "redirect_uris": [REDIRECT_URI], "post_logout_redirect_uris": [REDIRECT_URI]}
    as_config = {**options, "clients": [bff_client, *options["clients"]],
                 "resource": API_AUDIENCE}
    authz = start_authorization_server(as_config, workdir, workdir / "as.log")
    api = None
    try:
        issuer = authz.ready["issuer"]
        api = start_example_api(issuer, API_AUDIENCE, log_file=workdir / "api.log",
                                extra_args=gateway_api_args(workdir))
        clock = OffsetClock()
        gateway = make_gateway(
            issuer, api.ready["url"], json.loads((workdir / "gateway-client.jwk").read_text()),
            json.loads((workdir / "gateway-signing.jwk").read_text()), clock)
        with ThreadServer(gateway) as server:
            yield GatewayStack(issuer, api.ready["url"], server.url, gateway, clock, workdir,
                               authz, api)
    finally:
        if api is not None:
            api.stop()
        authz.stop()


def gateway_call(url: str, token: str, key: DPoPKey, *, method: str = "GET",
                 proof: str | None = None) -> tuple[httpx.Response, str]:
    """One call straight to the gateway, answering its nonce challenge; gives the proof used."""
    nonce = None
    for _ in range(2):
        used = proof or key.proof(method, url, access_token=token, nonce=nonce)
        response = httpx.request(method, url, headers={
            "authorization": f"DPoP {token}", "dpop": used})
        if response.status_code != 401 or "use_dpop_nonce" not in response.headers.get(
                "www-authenticate", ""):
            return response, used
        nonce = response.headers["dpop-nonce"]
    return response, used
