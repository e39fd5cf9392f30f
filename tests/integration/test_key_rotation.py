"""Key rotation with a signed-in user, against the dev AS registered with the BFF's jwks_uri."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bff.crypto.keys import generate_seal_jwk
from bff.crypto.rotation import rotate_client_keys, rotate_cookie_keys, rotate_file
from bff.devstack import Child, start_authorization_server
from tests.support.as_login import ASBrowser
from tests.support.cookies import Jar
from tests.support.flows import call, login
from tests.support.stack import BFF, REDIRECT_URI, bff_config, running_bff

pytestmark = pytest.mark.integration


@pytest.fixture
def bff_socket() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


@pytest.fixture
def authz(bff_socket: socket.socket, tmp_path: Path) -> Iterator[Child]:
    """The dev AS knowing the client only by its jwks_uri: the BFF's /bff/jwks.json."""
    port = bff_socket.getsockname()[1]
    client = {"client_id": "bff", "jwks_uri": f"http://127.0.0.1:{port}/bff/jwks.json",
              "redirect_uris": [REDIRECT_URI], "post_logout_redirect_uris": [REDIRECT_URI]}
    child = start_authorization_server({"clients": [client], "port": 0}, tmp_path,
                                       tmp_path / "as.log")
    yield child
    child.stop()


@pytest.fixture
def bff(authz: Child, bff_socket: socket.socket, tmp_path: Path,
        client_jwk: dict[str, Any]) -> Iterator[BFF]:
    config = bff_config(tmp_path, authz.ready["issuer"], client_jwk, [generate_seal_jwk("old")],
                        server={"key_reload_interval": 0})
    with running_bff(config, sock=bff_socket) as running:
        yield running


def as_stats(authz: Child) -> dict[str, Any]:
    return dict(httpx.get(f"{authz.ready['issuer']}/__dev/stats").json())


def test_rotating_both_keys_keeps_the_user_signed_in_and_the_as_takes_the_new_key(
        bff: BFF, authz: Child, tmp_path: Path, client_jwk: dict[str, Any]) -> None:
    jar = Jar()
    with bff.client() as http, ASBrowser() as browser:
        csrf = login(http, jar, browser)["csrfToken"]
        assert set(as_stats(authz)["clientAssertionKids"]) == {client_jwk["kid"]}
        old_cookie = jar.cookies["__Host-bff-session"]
        assert old_cookie.startswith("v1.old.")

        now = time.time()
        client_set = rotate_file(tmp_path / "client.jwk", lambda doc: rotate_client_keys(
            doc, "ES256", now, activate_after=0, retain=3600))
        cookie_set = rotate_file(tmp_path / "cookie0.jwk", lambda doc: rotate_cookie_keys(
            doc, now, activate_after=0, retain=3600))
        new_kid, new_cookie_kid = client_set["keys"][0]["kid"], cookie_set["keys"][0]["kid"]

        async def reload() -> bool:
            assert bff.parts.keys is not None
            return bff.parts.keys.reload()

        assert bff.run(reload())  # what SIGHUP or the reload schedule does
        published = http.get("/bff/jwks.json").json()
        assert {k["kid"] for k in published["keys"]} == {new_kid, client_jwk["kid"]}
        assert all("d" not in k for k in published["keys"])

        # the AS's cached copy of jwks_uri goes stale (at least 60 s at oidc-provider)
        aged = httpx.post(f"{authz.ready['issuer']}/__dev/expire-client-keys",
                          json={"client_id": "bff"})
        assert aged.json() == {"expired": True}
        refreshed = call(http, jar, "POST", "/bff/refresh", csrf=csrf)
        assert refreshed.status_code == 200, refreshed.text  # the old cookie still opens
        assert as_stats(authz)["clientAssertionKids"].get(new_kid) == 1
        assert jar.cookies["__Host-bff-session"].startswith(f"v1.{new_cookie_kid}.")
        session = call(http, jar, "GET", "/bff/session").json()
        assert session["isLoggedIn"] is True
        # a cookie sealed with the old key still opens until that key retires
        old_jar = Jar()
        old_jar.cookies["__Host-bff-session"] = old_cookie
        assert call(http, old_jar, "GET", "/bff/session").json()["isLoggedIn"] is True
