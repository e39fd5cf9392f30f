"""Hostile cookies, CSRF and Origin at the browser endpoints, against the real dev AS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bff.crypto.keys import generate_seal_jwk
from tests.support.as_login import ASBrowser
from tests.support.cookies import Jar, set_cookie_names
from tests.support.flows import call, login
from tests.support.stack import BFF, LogCapture, Stack, bff_config, running_bff

pytestmark = pytest.mark.integration


@pytest.fixture(params=["cookie", "server"])
def bff(request: pytest.FixtureRequest, stack: Stack, workdir: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]]) -> Iterator[BFF]:
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks,
                        session={"store": request.param})
    with running_bff(config) as running:
        yield running


def assert_no_session_set(response: httpx.Response) -> None:
    assert not [n for n in set_cookie_names(response) if "bff-session" in n]


def session_cookie(jar: Jar) -> tuple[str, str]:
    name = "__Host-bff-session"
    return name, jar.cookies[name]


@pytest.mark.spec("RFC 5116 §2.2 (AEAD authentication)")
def test_tampered_session_cookie(bff: BFF, signed_in: tuple[httpx.Client, Jar, str],
                                 captured_logs: LogCapture) -> None:
    """A flipped character in the sealed cookie means no session, and the cookie is cleared."""
    http, jar, _ = signed_in
    name, value = session_cookie(jar)
    flipped = value[:-5] + ("A" if value[-5] != "A" else "B") + value[-4:]
    jar.cookies[name] = flipped
    r = call(http, jar, "GET", "/bff/userinfo")
    # a server-mode id that the store does not know cannot be told from a lost session
    expected = "session_required" if bff.parts.sessions.kind == "cookie" else "session_expired"
    assert (r.status_code, r.json()["error"]) == (401, expected)
    assert_no_session_set(r)
    assert any(h.startswith(f"{name}=;") and "Max-Age=0" in h
               for h in r.headers.get_list("set-cookie"))
    assert call(http, jar, "GET", "/bff/session").json() == {
        "isLoggedIn": False}


@pytest.mark.spec("DESIGN §4: the cookie name is authenticated data")
def test_cookie_moved_to_another_name(bff: BFF, signed_in: tuple[httpx.Client, Jar, str],
                                      as_browser: ASBrowser) -> None:
    """A sealed login-transaction value placed in the session cookie does not open."""
    http, jar, _ = signed_in
    fresh = Jar()
    call(http, fresh, "POST", "/bff/login/start", json={})
    login_name = next(n for n in fresh.cookies if "bff-login." in n)
    moved = Jar()
    moved.cookies["__Host-bff-session"] = fresh.cookies[login_name]
    r = call(http, moved, "GET", "/bff/userinfo")
    assert (r.status_code, r.json()["error"]) == (401, "session_required")
    assert_no_session_set(r)
    # and the session value under a login-transaction name is no transaction either
    _, value = session_cookie(jar)
    swapped = Jar()
    swapped.cookies[login_name] = value
    r2 = call(http, swapped, "POST", "/bff/login/end",
              json={"pageUrl": "http://127.0.0.1:5173/?code=x&state=y&iss=z"})
    assert r2.status_code in (401, 502)
    assert r2.json()["error"] in ("login_transaction_missing", "state_mismatch")
    assert_no_session_set(r2)


@pytest.mark.spec("DESIGN §4: rotation, all configured keys open")
def test_cookie_sealed_with_unknown_key(stack: Stack, workdir: Path, client_jwk: dict[str, Any],
                                        cookie_jwks: list[dict[str, Any]],
                                        as_browser: ASBrowser) -> None:
    """A cookie sealed under a key this instance does not have is no session."""
    other = bff_config(workdir, stack.issuer, client_jwk, [generate_seal_jwk("k9")])
    jar = Jar()
    with running_bff(other) as a, a.client() as http:
        login(http, jar, as_browser)
    mine = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks)
    with running_bff(mine) as b, b.client() as http:
        r = call(http, jar, "GET", "/bff/userinfo")
        assert (r.status_code, r.json()["error"]) == (401, "session_required")
        assert_no_session_set(r)


def test_rotation_keeps_users_signed_in(stack: Stack, workdir: Path, client_jwk: dict[str, Any],
                                        as_browser: ASBrowser) -> None:
    """Adding a new first key keeps sessions sealed under the old key working."""
    old, new = generate_seal_jwk("old"), generate_seal_jwk("new")
    jar = Jar()
    with running_bff(bff_config(workdir, stack.issuer, client_jwk, [old])) as a, \
            a.client() as http:
        login(http, jar, as_browser)
    with running_bff(bff_config(workdir, stack.issuer, client_jwk, [new, old])) as b, \
            b.client() as http:
        info = call(http, jar, "GET", "/bff/session").json()
        assert info["isLoggedIn"] is True


@pytest.mark.spec("OWASP CSRF: custom request header")
@pytest.mark.parametrize("path", ["/bff/refresh", "/bff/logout"])
@pytest.mark.parametrize("token", [None, "wrong"])
def test_csrf_header_missing_or_wrong(bff: BFF, stack: Stack, path: str, token: str | None,
                                      signed_in: tuple[httpx.Client, Jar, str]) -> None:
    """State-changing calls need the session's CSRF token in X-CSRF-Token."""
    http, jar, _ = signed_in
    before = stack.stats()
    r = call(http, jar, "POST", path, csrf=token)
    assert (r.status_code, r.json()["error"]) == (403, "csrf_failed")
    assert_no_session_set(r)
    assert stack.stats()["grants"] == before["grants"], "no refresh reached the AS"
    assert call(http, jar, "GET", "/bff/session").json()["isLoggedIn"] is True


@pytest.mark.spec("RFC 6454 §7.3 (Origin)")
@pytest.mark.parametrize("origin", ["https://evil.example", "null", None])
@pytest.mark.parametrize("path", ["/bff/login/start", "/bff/refresh", "/bff/logout"])
def test_origin_not_allowed(bff: BFF, signed_in: tuple[httpx.Client, Jar, str], path: str,
                            origin: str | None) -> None:
    """Unsafe methods from a foreign, opaque or missing Origin are refused before anything runs."""
    http, jar, csrf = signed_in
    headers = {"Cookie": jar.header(), "X-CSRF-Token": csrf}
    request = http.build_request("POST", path, json={}, headers=headers)
    if origin is None:
        del request.headers["Origin"]
    else:
        request.headers["Origin"] = origin
    r = http.send(request)
    assert (r.status_code, r.json()["error"]) == (403, "origin_not_allowed")
    assert "access-control-allow-origin" not in r.headers
    assert_no_session_set(r)


@pytest.mark.spec("RFC 6749 §10.15 (open redirectors)")
@pytest.mark.parametrize("return_to", ["https://evil.example/", "//evil.example/x",
                                       "/\\evil.example", "javascript:alert(1)", "evil"])
def test_return_to_must_be_relative(bff: BFF, stack: Stack, return_to: str) -> None:
    """returnTo is a path on this site; absolute or protocol-relative values are refused."""
    before = stack.stats()
    with bff.client() as http:
        jar = Jar()
        r = call(http, jar, "POST", "/bff/login/start", json={"returnTo": return_to})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_return_to")
    assert not jar.cookies, "no login transaction was started"
    assert stack.stats() == before


@pytest.mark.spec("RFC 9126 §2.1 (parameters are the client's)")
@pytest.mark.parametrize("param", ["redirect_uri", "scope", "client_id", "response_mode",
                                   "request_uri", "nonce"])
def test_extra_params_outside_allowlist(bff: BFF, param: str) -> None:
    """Only allowlisted authorization parameters may come from the browser."""
    with bff.client() as http:
        jar = Jar()
        r = call(http, jar, "POST", "/bff/login/start",
                 json={"extraParams": {param: "https://evil.example/"}})
    assert (r.status_code, r.json()["error"]) == (400, "parameter_not_allowed")
    assert not jar.cookies


def test_allowlisted_extra_params_reach_the_as(bff: BFF) -> None:
    with bff.client() as http:
        jar = Jar()
        r = call(http, jar, "POST", "/bff/login/start",
                 json={"extraParams": {"ui_locales": "de", "login_hint": "alice"}})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b'{"returnTo": 5}'])
def test_malformed_bodies(bff: BFF, body: bytes) -> None:
    with bff.client() as http:
        r = http.post("/bff/login/start", content=body,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"] in ("malformed_body", "invalid_return_to")


def test_form_post_is_refused(bff: BFF) -> None:
    """A cross-site form cannot send JSON: a non-JSON content type is refused."""
    with bff.client() as http:
        r = http.post("/bff/login/start", data={"returnTo": "/"})
    assert (r.status_code, r.json()["error"]) == (400, "malformed_body")


def test_cors_only_for_configured_origins(stack: Stack, workdir: Path, client_jwk: dict[str, Any],
                                          cookie_jwks: list[dict[str, Any]]) -> None:
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks,
                        cors={"allowed_origins": ["http://localhost:4000"]})
    with running_bff(config) as bff, httpx.Client(base_url=bff.url) as http:
        ok = http.options("/bff/session", headers={
            "Origin": "http://localhost:4000", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-csrf-token,x-bff-purpose"})
        assert ok.status_code == 204
        assert ok.headers["access-control-allow-origin"] == "http://localhost:4000"
        assert ok.headers["access-control-allow-credentials"] == "true"
        allowed = {h.strip() for h in ok.headers["access-control-allow-headers"].lower().split(",")}
        # x-bff-purpose: the one call of a payment approval (RFC 9396) from an app's origin
        assert {"content-type", "x-csrf-token", "x-bff-purpose"} <= allowed
        bad = http.options("/bff/session", headers={
            "Origin": "http://localhost:4001", "Access-Control-Request-Method": "POST"})
        assert bad.status_code == 403
        assert "access-control-allow-origin" not in bad.headers
        simple = http.get("/bff/session", headers={"Origin": "http://localhost:4000"})
        assert simple.headers["access-control-allow-origin"] == "http://localhost:4000"
        foreign = http.get("/bff/session", headers={"Origin": "http://localhost:4001"})
        assert "access-control-allow-origin" not in foreign.headers


def test_unknown_endpoint_is_json_404(bff: BFF) -> None:
    with bff.client() as http:
        r = http.get("/bff/nope")
    assert r.status_code == 404
    assert r.json() == {"error": "not_found", "error_description": "no such endpoint"}


def test_health_and_readiness(bff: BFF) -> None:
    with bff.client() as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"authorization_server": "ok", "store": "ok"}


@pytest.mark.spec("RFC 9700 §4.2.4 (code leakage via Referer)")
def test_spa_pages_carry_security_headers(stack: Stack, workdir: Path,
                                          client_jwk: dict[str, Any],
                                          cookie_jwks: list[dict[str, Any]]) -> None:
    """The redirect-URI page is served with no-referrer, a strict CSP and no framing."""
    spa = Path(__file__).resolve().parents[3] / "spa-example"
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks,
                        server={"static_dir": str(spa)})
    with running_bff(config) as bff, httpx.Client(base_url=bff.url) as http:
        page = http.get("/?code=abc&state=def&iss=x")
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert page.headers["referrer-policy"] == "no-referrer"
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-frame-options"] == "DENY"
        api = http.get("/bff/session")
        assert api.headers["x-content-type-options"] == "nosniff"
        assert api.headers["cache-control"] == "no-store"



@pytest.mark.parametrize("path", [
    "/bff-client/node_modules/typescript/package.json", "/bff-client/package.json",
    "/bff-client/package-lock.json", "/bff-client/tsconfig.json",
    "/bff-client/test/support.js", "/.gitignore",
    "/bff-client/recipes/%2e%2e/node_modules/typescript/package.json",
    "/bff-client/NODE_MODULES/typescript/package.json"])
def test_spa_folder_tooling_is_not_served(stack: Stack, workdir: Path,
                                           client_jwk: dict[str, Any],
                                           cookie_jwks: list[dict[str, Any]], path: str) -> None:
    """static_dir may be a checkout: its package tooling, tests and dotfiles are never served,
    while the app and its client package are."""
    spa = Path(__file__).resolve().parents[3] / "spa-example"
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks,
                        server={"static_dir": str(spa)})
    with running_bff(config) as bff, httpx.Client(base_url=bff.url) as http:
        assert http.get("/app.js").status_code == 200
        assert http.get("/bff-client/index.js").status_code == 200
        refused = http.get(path)
        assert refused.status_code == 404, path
        assert refused.json()["error"] == "not_found"


def test_metrics_count_requests_errors_and_logins(
        bff: BFF, signed_in: tuple[httpx.Client, Jar, str]) -> None:
    """``/metrics`` counts by area, error code and event; it never carries user data."""
    http, jar, _ = signed_in
    call(http, jar, "POST", "/bff/refresh")  # 403 csrf_failed
    text = http.get("/metrics").text
    assert 'bff_events_total{event="login"}' in text
    assert 'bff_errors_total{code="csrf_failed"}' in text
    assert 'bff_http_requests_total{area="bff",status="200"}' in text
    assert "bff_http_request_duration_seconds_bucket" in text
    assert "alice" not in text and jar.cookies["__Host-bff-session"] not in text
