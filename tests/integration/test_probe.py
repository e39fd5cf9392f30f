"""``bff check-config --probe`` against the live dev AS and against limited/hostile metadata."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bff.cli import main
from tests.support.servers import ThreadServer
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

REQUIRED = ["PAR (RFC 9126)", "PKCE S256 (RFC 7636)",
            "private_key_jwt client authentication (RFC 7523)",
            "client assertions signed with the client key's algorithm",
            "DPoP with oauth.dpop_algorithm (RFC 9449 §5.1)",
            "iss in the authorization response (RFC 9207)",
            "issuer matches the configuration (RFC 8414 §3.3)"]


def write_config(workdir: Path, issuer: str, client_jwk: dict[str, Any],
                 cookie_jwk: dict[str, Any]) -> Path:
    (workdir / "client.jwk").write_text(json.dumps(client_jwk))
    (workdir / "cookie.jwk").write_text(json.dumps(cookie_jwk))
    path = workdir / "bff.toml"
    path.write_text(f"""
[server]
public_url = "http://127.0.0.1:5173"

[oauth]
issuer = "{issuer}"
client_id = "bff"
client_key_file = "client.jwk"
redirect_uri = "http://127.0.0.1:5173/"

[session]
cookie_key_files = ["cookie.jwk"]
""")
    return path


def lines_of(out: str) -> dict[str, str]:
    """capability name -> its mark (ok, MISSING, ?, info)."""
    marks = {}
    for line in out.splitlines()[2:]:
        mark, _, rest = line.strip().partition(" ")
        marks[rest.strip().split(": ")[0]] = mark
    return marks


def test_probe_of_the_dev_as_reports_every_requirement_met(
        stack: Stack, workdir: Path, client_jwk: dict[str, Any], cookie_jwk: dict[str, Any],
        capsys: pytest.CaptureFixture[str]) -> None:
    """The dev AS advertises PAR, PKCE S256, private_key_jwt, DPoP and RFC 9207 iss."""
    path = write_config(workdir, stack.issuer, client_jwk, cookie_jwk)
    code = main(["check-config", str(path), "--probe"])
    out = capsys.readouterr().out
    assert code == 0, out
    marks = lines_of(out)
    assert all(marks[name] == "ok" for name in REQUIRED), out
    assert marks["PAR required for every client (RFC 9126 §5)"] == "ok"
    assert "meets the BFF's requirements" in out


LIMITED = {
    "authorization_endpoint": "/auth", "token_endpoint": "/token", "jwks_uri": "/jwks",
    # a string, not a list: "S256" in "S256" must not count as support
    "code_challenge_methods_supported": "S256",
    "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt "],
    "token_endpoint_auth_signing_alg_values_supported": ["RS256", None],
    "dpop_signing_alg_values_supported": [],
    "authorization_response_iss_parameter_supported": "true",
    "id_token_signing_alg_values_supported": ["RS256"],
    "userinfo_endpoint": "/me",
}


@pytest.fixture
def limited_as() -> Iterator[dict[str, Any]]:
    """An AS serving ``state["doc"]`` (with its own URL filled in) as its metadata."""
    state: dict[str, Any] = {"doc": LIMITED, "url": ""}

    async def metadata(request: Request) -> Response:
        doc = state["doc"]
        if not isinstance(doc, dict):
            return Response(str(doc), media_type="application/json")
        u = state["url"]
        return JSONResponse({"issuer": u, **{k: u + v if isinstance(v, str) and v.startswith("/")
                                             else v for k, v in doc.items()}})

    app = Starlette(routes=[Route("/.well-known/openid-configuration", metadata)])
    with ThreadServer(app) as server:
        state["url"] = server.url
        yield state


@pytest.mark.spec("RFC 8414 §2")
def test_probe_of_a_limited_as_names_each_missing_capability(
        limited_as: dict[str, Any], workdir: Path, client_jwk: dict[str, Any],
        cookie_jwk: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """RFC 8414 §2: fields of the wrong type count as not advertised, near-miss values (a
    trailing space, another algorithm) as missing; the exit status says the AS falls short."""
    path = write_config(workdir, limited_as["url"], client_jwk, cookie_jwk)
    code = main(["check-config", str(path), "--probe"])
    out = capsys.readouterr().out
    assert code == 3, out
    marks = lines_of(out)
    assert marks["metadata usable by the BFF (RFC 8414, https endpoints)"] == "MISSING"
    assert marks["issuer matches the configuration (RFC 8414 §3.3)"] == "ok"
    assert marks["PAR (RFC 9126)"] == "?"
    assert marks["PKCE S256 (RFC 7636)"] == "?"
    assert marks["private_key_jwt client authentication (RFC 7523)"] == "MISSING"
    assert marks["client assertions signed with the client key's algorithm"] == "?"
    assert marks["DPoP with oauth.dpop_algorithm (RFC 9449 §5.1)"] == "MISSING"
    assert marks["iss in the authorization response (RFC 9207)"] == "?"
    assert marks["ID tokens signed with an allowed algorithm"] == "MISSING"
    assert "does NOT meet" in out


@pytest.mark.spec("RFC 8414 §3.3")
@pytest.mark.parametrize("doc", ["not json", "[1, 2]", json.dumps({"issuer": "x"})])
def test_probe_of_a_broken_document_fails_without_a_traceback(
        limited_as: dict[str, Any], workdir: Path, client_jwk: dict[str, Any],
        cookie_jwk: dict[str, Any], capsys: pytest.CaptureFixture[str], doc: str) -> None:
    """A document that is not JSON, not an object, or names another issuer: exit 3, reasons."""
    limited_as["doc"] = doc
    path = write_config(workdir, limited_as["url"], client_jwk, cookie_jwk)
    code = main(["check-config", str(path), "--probe"])
    out = capsys.readouterr().out
    assert code == 3, out
    assert "MISSING" in out and "Traceback" not in out


def test_probe_of_an_unreachable_as_exits_non_zero(
        workdir: Path, client_jwk: dict[str, Any], cookie_jwk: dict[str, Any],
        capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing listening at the issuer: one MISSING line, exit 3."""
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        issuer = f"http://127.0.0.1:{held.getsockname()[1]}"
        path = write_config(workdir, issuer, client_jwk, cookie_jwk)
        code = main(["check-config", str(path), "--probe"])
    out = capsys.readouterr().out
    assert code == 3, out
    assert lines_of(out) == {"metadata reachable": "MISSING"}
