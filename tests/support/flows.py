"""The browser flow against a BFF, step by step, for tests and benchmarks."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.as_login import ASBrowser
from tests.support.cookies import Jar
from tests.support.stack import REDIRECT_URI


def call(http: httpx.Client, jar: Jar, method: str, path: str, *,
         csrf: str | None = None, **kwargs: Any) -> httpx.Response:
    """One BFF call carrying the jar's cookies and (optionally) the CSRF header."""
    headers = dict(kwargs.pop("headers", {}) or {})
    if jar.cookies:
        headers["Cookie"] = jar.header()
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    response = http.request(method, path, headers=headers, **kwargs)
    jar.update(response)
    return response


def start_login(http: httpx.Client, jar: Jar, **body: Any) -> str:
    response = call(http, jar, "POST", "/bff/login/start", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["authorizationUrl"])


def login(http: httpx.Client, jar: Jar, browser: ASBrowser, user: str = "alice",
          return_to: str = "/accounts", redirect_uri: str = REDIRECT_URI) -> dict[str, Any]:
    """The whole login: start, AS pages, end; returns the login/end body."""
    url = start_login(http, jar, returnTo=return_to)
    callback = browser.authorize(url, redirect_uri, login=user)
    response = call(http, jar, "POST", "/bff/login/end", json={"pageUrl": callback})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["handled"] is True and body["isLoggedIn"] is True
    return body
