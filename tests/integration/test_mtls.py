"""Mutual TLS against the real dev AS and the example API (RFC 8705 §2, §3, §5)."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bff.crypto.seal import b64url_decode
from bff.crypto.tls import pem_thumbprint
from tests.support.as_login import ASBrowser
from tests.support.cookies import Jar
from tests.support.flows import call, login
from tests.support.mtls import MTLSMaterial, MTLSStack, running_mtls_stack, write_mtls_material
from tests.support.stack import BFF, bff_config, running_bff
from tests.support.tls import CertFiles

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> MTLSMaterial:
    return write_mtls_material(tmp_path_factory.mktemp("mtls-certs"))


@pytest.fixture(scope="module")
def mstack(tmp_path_factory: pytest.TempPathFactory, client_jwk: dict[str, Any],
           material: MTLSMaterial) -> Iterator[MTLSStack]:
    with running_mtls_stack(tmp_path_factory.mktemp("mtls-stack"), client_jwk, material) as s:
        yield s


def mtls_bff(workdir: Path, mstack: MTLSStack, material: MTLSMaterial,
             client_jwk: dict[str, Any], cookie_jwks: list[dict[str, Any]], *,
             client_id: str, client_auth: str, cert: CertFiles | None,
             sender_constraint: str = "mtls", upstream_ca: CertFiles | None = None) -> Any:
    oauth: dict[str, Any] = {"client_id": client_id, "client_auth": client_auth,
                             "sender_constraint": sender_constraint,
                             "resources": [mstack.audience], "tls_ca_file": str(material.ca.cert)}
    if cert is not None:
        oauth.update(tls_cert_file=str(cert.cert), tls_key_file=str(cert.key))
    config = bff_config(workdir, mstack.issuer, client_jwk, cookie_jwks, routes=[{
        "prefix": "/api", "upstream": mstack.api_url, "resource": mstack.audience,
        "tls_ca_file": str((upstream_ca or material.ca).cert)}], oauth=oauth)
    return running_bff(config)


def claims(token: str) -> dict[str, Any]:
    return dict(json.loads(b64url_decode(token.split(".")[1])))


def presented_token(bff: BFF, jar: Jar, csrf: str) -> str:
    """The access token the BFF sent upstream, as the API's echo route saw it."""
    with bff.client() as http:
        echoed = call(http, jar, "GET", "/api/echo/x", csrf=csrf)
    assert echoed.status_code == 200, echoed.text
    headers = dict(echoed.json()["headers"])
    assert "dpop" not in headers  # RFC 8705 §3: no DPoP proof beside a certificate-bound token
    scheme, _, token = headers["authorization"].partition(" ")
    assert scheme == "Bearer"
    return token


def login_and_call(bff: BFF, as_browser: ASBrowser) -> tuple[Jar, str, httpx.Response]:
    jar = Jar()
    with bff.client() as http:
        body = login(http, jar, as_browser)
        response = call(http, jar, "GET", "/api/accounts", csrf=body["csrfToken"])
    return jar, body["csrfToken"], response


@pytest.mark.spec("RFC 8705 §2")
@pytest.mark.parametrize("client_id, client_auth, cert", [
    ("bff-pki", "tls_client_auth", "client"),
    ("bff-self", "self_signed_tls_client_auth", "self_signed"),
    ("bff-jwt-mtls", "private_key_jwt", "client"),
])
def test_login_binds_tokens_to_the_client_certificate_and_the_api_accepts_them(
        workdir: Path, mstack: MTLSStack, material: MTLSMaterial, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]], as_browser: ASBrowser, client_id: str,
        client_auth: str, cert: str) -> None:
    files: CertFiles = getattr(material, cert)
    with mtls_bff(workdir, mstack, material, client_jwk, cookie_jwks, client_id=client_id,
                  client_auth=client_auth, cert=files) as bff:
        jar, csrf, response = login_and_call(bff, as_browser)
        assert response.status_code == 200, response.text
        assert response.json()["accounts"]
        token = presented_token(bff, jar, csrf)
    assert claims(token)["cnf"] == {"x5t#S256": pem_thumbprint(files.cert.read_bytes())}


@pytest.mark.spec("RFC 8705 §2")
@pytest.mark.parametrize("client_id, client_auth, cert", [
    ("bff-pki", "tls_client_auth", "self_signed"),      # does not chain to the AS's CA
    ("bff-self", "self_signed_tls_client_auth", "client"),  # not the registered certificate
])
def test_the_as_refuses_a_wrong_client_certificate(
        workdir: Path, mstack: MTLSStack, material: MTLSMaterial, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]], client_id: str, client_auth: str, cert: str) -> None:
    with mtls_bff(workdir, mstack, material, client_jwk, cookie_jwks, client_id=client_id,
                  client_auth=client_auth, cert=getattr(material, cert)) as bff:
        with bff.client() as http:
            response = http.post("/bff/login/start", json={})
    assert response.status_code == 502
    assert response.json()["error"] == "as_error"


@pytest.mark.spec("RFC 8705 §2")
def test_the_as_refuses_a_missing_client_certificate(mstack: MTLSStack,
                                                     material: MTLSMaterial) -> None:
    aliases = httpx.get(f"{mstack.issuer}/.well-known/openid-configuration").json()[
        "mtls_endpoint_aliases"]
    form = {"client_id": "bff-pki", "grant_type": "refresh_token", "refresh_token": "x"}
    without = httpx.post(aliases["token_endpoint"], data=form,
                         verify=ssl.create_default_context(cafile=material.ca.cert))
    plain = httpx.post(f"{mstack.issuer}/token", data=form)
    for response in (without, plain):
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"


@pytest.mark.spec("RFC 8705 §3")
def test_the_api_refuses_a_bound_token_over_another_certificate_or_none(
        workdir: Path, mstack: MTLSStack, material: MTLSMaterial, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]], as_browser: ASBrowser) -> None:
    with mtls_bff(workdir, mstack, material, client_jwk, cookie_jwks, client_id="bff-pki",
                  client_auth="tls_client_auth", cert=material.client) as bff:
        jar, csrf, _ = login_and_call(bff, as_browser)
        token = presented_token(bff, jar, csrf)
    url = f"{mstack.api_url}/accounts"
    auth = {"Authorization": f"Bearer {token}"}

    def context(files: CertFiles | None) -> ssl.SSLContext:
        tls = ssl.create_default_context(cafile=material.ca.cert)
        if files is not None:
            tls.load_cert_chain(files.cert, files.key)
        return tls

    own = httpx.get(url, headers=auth, verify=context(material.client))
    other = httpx.get(url, headers=auth, verify=context(material.other_client))
    none = httpx.get(url, headers=auth, verify=context(None))
    assert own.status_code == 200  # the same token on its own certificate is fine
    for response in (other, none):
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"


@pytest.mark.spec("RFC 8705 §3")
def test_a_token_response_without_cnf_is_refused_when_binding_was_asked_for(
        workdir: Path, mstack: MTLSStack, material: MTLSMaterial, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]], as_browser: ASBrowser) -> None:
    with mtls_bff(workdir, mstack, material, client_jwk, cookie_jwks, client_id="bff-unbound",
                  client_auth="tls_client_auth", cert=material.client) as bff:
        # the login's own token is opaque (userinfo); the API's is a JWT without cnf
        _, _, response = login_and_call(bff, as_browser)
    assert response.status_code == 502
    assert response.json()["error"] == "certificate_binding_missing"


@pytest.mark.spec("RFC 8705 §3")
def test_an_upstream_certificate_outside_the_configured_ca_is_refused(
        workdir: Path, mstack: MTLSStack, material: MTLSMaterial, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]], as_browser: ASBrowser) -> None:
    with mtls_bff(workdir, mstack, material, client_jwk, cookie_jwks, client_id="bff-pki",
                  client_auth="tls_client_auth", cert=material.client,
                  upstream_ca=material.foreign_ca) as bff:
        _, _, response = login_and_call(bff, as_browser)
    assert response.status_code == 502
    assert response.json()["error"] == "api_unreachable"
