"""Three ``bff run`` processes behind nginx round robin, sharing one Redis (issue 3)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bff.crypto.keys import generate_seal_jwk
from bff.devstack import Child, bound_socket, start_bff, write_toml
from tests.support.as_login import ASBrowser
from tests.support.cookies import Jar
from tests.support.flows import call, login
from tests.support.nginx import Nginx
from tests.support.redis_server import RedisServer
from tests.support.stack import Stack, running_stack

pytestmark = pytest.mark.integration
SCOPE = "openid profile email offline_access accounts payments"


@dataclass
class Cluster:
    stack: Stack
    lb: Nginx
    instances: list[Child]

    @property
    def url(self) -> str:
        return self.lb.url


@pytest.fixture(scope="module", params=["cookie", "server"])
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            client_jwk: dict[str, Any], redis: RedisServer) -> Iterator[Cluster]:
    mode = request.param
    workdir = tmp_path_factory.mktemp(f"scale-{mode}")
    # the instances' sockets are bound (and held) first, so the balancer can start before them
    # and its port be known for the AS's redirect and logout URIs; each instance then serves its
    # socket (bff run --fd). nginx cannot report a kernel-chosen port: Nginx(0) picks again
    # when its bind fails.
    sockets = [bound_socket() for _ in range(3)]
    instances: list[Child] = []
    lb: Nginx | None = None
    try:
        lb = Nginx(0, [sock.getsockname()[1] for sock in sockets])
        public = lb.url
        with running_stack(workdir, client_jwk, access_ttl=4,
                           backchannel_uri=f"{public}/bff/backchannel-logout",
                           redirect_uris=[f"{public}/"]) as stack:
            (workdir / "client.jwk").write_text(json.dumps(client_jwk))
            (workdir / "cookie.jwk").write_text(json.dumps(generate_seal_jwk("shared")))
            write_toml(workdir / "bff.toml", {
                "server": {"public_url": public, "log_level": "warning"},
                "oauth": {"issuer": stack.issuer, "client_id": "bff",
                          "client_key_file": "client.jwk", "redirect_uri": f"{public}/",
                          "resources": [stack.audience], "scope": SCOPE, "refresh_margin": 0},
                "session": {"store": mode, "cookie_key_files": ["cookie.jwk"]},
                "store": {"backend": "redis", "url": redis.url, "namespace": f"t-{mode}"},
                "routes": [{"prefix": "/api", "upstream": stack.api_url,
                            "resource": stack.audience}],
            })
            try:
                for i, sock in enumerate(sockets):
                    instances.append(start_bff(workdir / "bff.toml", sock=sock,
                                               log_file=workdir / f"bff-{i}.log"))
                yield Cluster(stack, lb, instances)
            finally:
                for child in instances:
                    child.stop()
    finally:
        if lb is not None:
            lb.stop()
        for sock in sockets:
            sock.close()


def test_many_instances_share_sessions_refresh_once_and_logout_everywhere(
        cluster: Cluster) -> None:
    """Login on one instance; calls land on the others; one refresh for 20 calls; BCL everywhere."""
    jar = Jar()
    with httpx.Client(base_url=cluster.url, headers={"Origin": cluster.url},
                      timeout=30) as http, ASBrowser() as browser:
        login(http, jar, browser, redirect_uri=f"{cluster.url}/")
        seen = []
        for _ in range(6):
            r = call(http, jar, "GET", "/api/accounts")
            assert r.status_code == 200, r.text
            seen.append(r.headers["x-upstream"])
        assert len(set(seen)) == 3, seen
        assert all(a != b for a, b in itertools.pairwise(seen)), seen

        time.sleep(4.5)  # past the access token's lifetime at the AS
        before = cluster.stack.stats()["grants"].get("refresh_token", 0)

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=cluster.url, timeout=30,
                                         headers={"Origin": cluster.url}) as client:
                return await asyncio.gather(*[
                    client.get("/api/accounts", headers={"Cookie": jar.header()})
                    for _ in range(20)])

        responses = asyncio.run(burst())
        assert [r.status_code for r in responses] == [200] * 20
        assert len({r.headers["x-upstream"] for r in responses}) == 3
        after = cluster.stack.stats()["grants"].get("refresh_token", 0)
        assert after - before == 1, "exactly one refresh reached the AS across three instances"
        jar.update(responses[-1])

        session = call(http, jar, "GET", "/bff/session").json()
        assert session["isLoggedIn"] is True
        sent = httpx.post(f"{cluster.stack.issuer}/__dev/backchannel-logout",
                          json={"client_id": "bff", "sub": "alice"}).json()
        assert sent.get("sent") is True, sent
        # the other instances honour the marker within store.mirror_staleness (1 s)
        time.sleep(1.0)
        landed = []
        for _ in range(3):
            r = call(http, jar.copy(), "GET", "/api/accounts")
            landed.append(r.headers["x-upstream"])
            assert (r.status_code, r.json()["error"]) == (401, "session_expired")
        assert len(set(landed)) == 3
