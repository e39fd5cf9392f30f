"""While it serves, the BFF's process collects cycles less often; it leaves Python's setting as
it found it when it stops (bff/app.py, lifespan)."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from bff.app import COLLECTOR_THRESHOLDS
from tests.support.stack import Stack, bff_config, running_bff

pytestmark = pytest.mark.integration


def test_the_collector_thresholds_are_raised_while_serving_and_restored_after(
        stack: Stack, workdir: Path, client_jwk: dict[str, Any],
        cookie_jwks: list[dict[str, Any]]) -> None:
    before = gc.get_threshold()
    assert before != COLLECTOR_THRESHOLDS
    config = bff_config(workdir, stack.issuer, client_jwk, cookie_jwks)
    with running_bff(config) as bff, bff.client() as http:
        assert http.get("/healthz").status_code == 200
        assert gc.get_threshold() == COLLECTOR_THRESHOLDS
        assert gc.get_freeze_count() > 0  # start-up objects are out of the collector's walk
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
