"""Session-scoped real dev AS + example API; BFF instances per test module."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bff.crypto.keys import generate_seal_jwk
from tests.support.as_login import ASBrowser
from tests.support.cookies import Jar
from tests.support.flows import login
from tests.support.redis_server import RedisServer
from tests.support.stack import LogCapture, Stack, running_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, client_jwk: dict[str, Any]) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("stack"), client_jwk) as s:
        yield s


@pytest.fixture(scope="session")
def cookie_jwks() -> list[dict[str, Any]]:
    return [generate_seal_jwk("k1")]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def as_browser() -> Iterator[ASBrowser]:
    browser = ASBrowser()
    yield browser
    browser.close()


@pytest.fixture
def signed_in(bff: Any, as_browser: ASBrowser) -> Iterator[tuple[httpx.Client, Jar, str]]:
    """A client signed in through the module's ``bff`` fixture: (client, jar, csrf token)."""
    jar = Jar()
    with bff.client() as http:
        body = login(http, jar, as_browser)
        yield http, jar, body["csrfToken"]


@pytest.fixture
def captured_logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    root = logging.getLogger()
    old = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    yield capture
    root.removeHandler(capture)
    root.setLevel(old)


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    """A real redis-server on a free port for the module (tests that stop it use their own)."""
    with RedisServer() as server:
        yield server
