"""While it serves, the BFF's process collects cycles less often and skips its start-up
objects; it leaves Python's settings as it found them when it stops (bff/web/collector.py)."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from bff.web.collector import COLLECTOR_THRESHOLDS
from tests.support.stack import Stack, bff_config, running_bff

pytestmark = pytest.mark.integration


def test_the_collector_thresholds_are_raised_while_serving_and_restored_after(
        stack: Stack, workdir: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]]) -> None:
    before = gc.get_threshold()
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks)
    with running_bff(config) as bff, bff.client() as http:
        assert http.get("/healthz").status_code == 200
        assert gc.get_threshold() == COLLECTOR_THRESHOLDS
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    if before != COLLECTOR_THRESHOLDS:  # no other BFF serves in this test process
        assert gc.get_freeze_count() == 0
