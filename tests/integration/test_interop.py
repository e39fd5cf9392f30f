"""Authorization servers unlike the dev AS's defaults: resource strategies, userinfo at login.

Each strategy runs against the real dev AS configured like the kind of server it is for, and
the real DPoP-verifying example API checks the audience of the token the BFF obtained.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from tests.support.as_login import ASBrowser
from tests.support.cookies import Jar, set_cookie_names
from tests.support.flows import call, login, start_login
from tests.support.stack import (
    BFF,
    REDIRECT_URI,
    LogCapture,
    Stack,
    bff_config,
    running_bff,
    running_stack,
)

pytestmark = pytest.mark.integration


class SentToAS:
    """Every request the BFF sends to the AS, as (path, parameters of query and form)."""

    def __init__(self, bff: BFF) -> None:
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        bff.parts.http.event_hooks["request"].append(self._record)

    async def _record(self, request: httpx.Request) -> None:
        params = parse_qs(request.url.query.decode())
        if request.method == "POST":
            for k, v in parse_qs(request.content.decode()).items():
                params.setdefault(k, []).extend(v)
        self.requests.append((request.url.path, params))

    def token_forms(self, grant_type: str) -> list[dict[str, list[str]]]:
        return [p for path, p in self.requests
                if path.endswith("/token") and p.get("grant_type") == [grant_type]]


def metric(bff: BFF, event: str) -> float:
    """The BFF's ``bff_events_total`` for ``event``, read from its /metrics endpoint."""
    text = httpx.get(f"{bff.url}/metrics").text
    found = re.search(rf'^bff_events_total\{{event="{event}"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def api_route(stack: Stack, resource: str | None) -> list[dict[str, Any]]:
    route: dict[str, Any] = {"prefix": "/api", "upstream": stack.api_url}
    if resource:
        route["resource"] = resource
    return [route]


def warnings_of(logs: LogCapture) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in logs.lines]
    return [e for e in lines if e.get("event") == "userinfo_at_login_failed"]


@pytest.mark.spec("RFC 8707 §2.2")
def test_refresh_per_resource_exchanges_without_resource_then_refreshes_per_api(
        stack: Stack, workdir: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]], as_browser: ASBrowser,
        captured_logs: LogCapture) -> None:
    """RFC 8707 §2.2: the code exchange names no resource (the AS's default token, good at
    userinfo), and the API's audience-restricted token comes from a refresh naming it."""
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks,
                        routes=api_route(stack, stack.audience),
                        oauth={"resources": [stack.audience]})
    with running_bff(config) as bff, bff.client() as http:
        sent = SentToAS(bff)
        jar = Jar()
        login(http, jar, as_browser)
        (exchange,) = sent.token_forms("authorization_code")
        assert "resource" not in exchange
        assert call(http, jar, "GET", "/api/accounts").status_code == 200
        (refresh,) = sent.token_forms("refresh_token")
        assert refresh["resource"] == [stack.audience]
        assert warnings_of(captured_logs) == [], "userinfo at login worked"


@pytest.mark.spec("RFC 8707 §2.2")
def test_at_code_exchange_binds_the_api_at_the_token_endpoint_without_a_refresh(
        stack: Stack, workdir: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]], as_browser: ASBrowser,
        captured_logs: LogCapture) -> None:
    """RFC 8707 §2.2: the code exchange carries the resource; its token serves the API's
    route with no refresh. The dev AS refuses a token with an audience at userinfo, so the
    login goes on with the ID token's claims, a warning and a metric; /bff/userinfo then gets
    the AS's default token with a refresh that names no resource."""
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks,
                        routes=api_route(stack, stack.audience),
                        oauth={"resources": [stack.audience],
                               "resource_strategy": "at_code_exchange"})
    with running_bff(config) as bff, bff.client() as http:
        sent = SentToAS(bff)
        failed_before = metric(bff, "userinfo_at_login_failed")
        jar = Jar()
        login(http, jar, as_browser)
        (exchange,) = sent.token_forms("authorization_code")
        assert exchange["resource"] == [stack.audience]
        assert call(http, jar, "GET", "/api/accounts").status_code == 200
        assert sent.token_forms("refresh_token") == [], "the exchanged token served the API"
        (warning,) = warnings_of(captured_logs)
        assert warning["level"] == "warning" and warning["oauth_error"] == "invalid_token"
        assert metric(bff, "userinfo_at_login_failed") == failed_before + 1
        session = call(http, jar, "GET", "/bff/session").json()
        assert session["isLoggedIn"] is True and session["claims"]["sub"] == "alice"
        info = call(http, jar, "GET", "/bff/userinfo")
        assert info.status_code == 200, info.text
        assert info.json()["sub"] == "alice"
        (refresh,) = sent.token_forms("refresh_token")
        assert "resource" not in refresh


@pytest.mark.spec("OpenID Connect Core §5.3.2")
def test_require_userinfo_at_login_fails_the_login_when_userinfo_fails(
        stack: Stack, workdir: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]], as_browser: ASBrowser) -> None:
    """With ``require_userinfo_at_login`` a userinfo failure at login is the login's failure:
    502 with the AS's reason, and no session cookie."""
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks,
                        oauth={"resources": [stack.audience],
                               "resource_strategy": "at_code_exchange",
                               "require_userinfo_at_login": True})
    with running_bff(config) as bff, bff.client() as http:
        jar = Jar()
        callback = as_browser.authorize(start_login(http, jar), REDIRECT_URI, login="alice")
        r = call(http, jar, "POST", "/bff/login/end", json={"pageUrl": callback})
        assert r.status_code == 502, r.text
        assert r.json()["error"] == "as_error"
        assert not any("bff-session" in n for n in set_cookie_names(r))
        assert call(http, jar, "GET", "/bff/session").json()["isLoggedIn"] is False


@pytest.fixture
def audience_by_default_stack(tmp_path_factory: pytest.TempPathFactory,
                              client_jwk: dict[str, Any]) -> Iterator[Stack]:
    """The dev AS as a server without resource indicators: one audience in every token."""
    with running_stack(tmp_path_factory.mktemp("stack-none"), client_jwk,
                       as_options={"defaultResource": True,
                                   "useGrantedResource": True}) as s:
        yield s


@pytest.mark.spec("RFC 8707 §2")
def test_none_sends_no_resource_anywhere_and_one_token_serves_every_route(
        audience_by_default_stack: Stack, workdir: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]], as_browser: ASBrowser,
        captured_logs: LogCapture) -> None:
    """RFC 8707 §2 is optional for an AS: with ``none`` no request carries ``resource``, the
    login's token is the one every route uses (no refresh), and the API accepts the audience
    the AS puts in every token."""
    stack = audience_by_default_stack
    routes = [*api_route(stack, None),
              {"prefix": "/api2", "upstream": stack.api_url}]
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks, routes=routes,
                        oauth={"resource_strategy": "none"})
    with running_bff(config) as bff, bff.client() as http:
        sent = SentToAS(bff)
        jar = Jar()
        login(http, jar, as_browser)
        before = stack.api_stats()
        assert call(http, jar, "GET", "/api/accounts").status_code == 200
        assert call(http, jar, "GET", "/api2/accounts").status_code == 200
        assert stack.api_stats()["verified"] - before["verified"] == 2
        assert sent.token_forms("refresh_token") == [], "one token for every route"
        assert [path for path, params in sent.requests if "resource" in params] == []
        assert any("code_challenge" in params for _, params in sent.requests), "PAR was seen"
        # this AS refuses audience-bound tokens at userinfo: the login went on without it
        assert len(warnings_of(captured_logs)) == 1
