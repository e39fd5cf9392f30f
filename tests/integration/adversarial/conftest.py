"""Fixtures for the adversarial tests: a controllable AS and a BFF in front of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.clocks import OffsetClock
from tests.support.hostile_as import HostileAS
from tests.support.servers import ThreadServer
from tests.support.stack import BFF, bff_config, running_bff


@pytest.fixture
def hostile() -> Iterator[HostileAS]:
    hostile = HostileAS()
    with ThreadServer(hostile.app()) as server:
        hostile.url = server.url
        yield hostile


@pytest.fixture
def clock() -> OffsetClock:
    return OffsetClock()


@pytest.fixture
def bff(hostile: HostileAS, workdir: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]], clock: OffsetClock) -> Iterator[BFF]:
    """A BFF whose AS is ``hostile`` (test_cookies_csrf.py has its own, on the real AS)."""
    config = bff_config(workdir, hostile.url, client_jwk, cookie_jwks)
    with running_bff(config, clock=clock) as running:
        yield running
