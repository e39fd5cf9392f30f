"""The cycle collector's settings follow the apps serving in the process (bff/web/collector.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from bff.web import collector
from bff.web.collector import COLLECTOR_THRESHOLDS, serving_started, serving_stopped


@pytest.fixture
def idle_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, int, int]]:
    """No app serving, Python's own thresholds; whatever a test leaves is put back."""
    monkeypatch.setattr(collector, "_serving", 0)
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        yield (700, 10, 10)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_one_app_raises_the_thresholds_and_freezes_then_puts_both_back(
        idle_process: tuple[int, int, int]) -> None:
    serving_started()
    assert gc.get_threshold() == COLLECTOR_THRESHOLDS
    assert gc.get_freeze_count() > 0
    serving_stopped()
    assert gc.get_threshold() == idle_process
    assert gc.get_freeze_count() == 0


def test_apps_side_by_side_restore_only_after_the_last_one_stops(
        idle_process: tuple[int, int, int]) -> None:
    serving_started()
    serving_started()
    serving_stopped()
    assert gc.get_threshold() == COLLECTOR_THRESHOLDS, "one app still serves"
    assert gc.get_freeze_count() > 0
    serving_stopped()
    assert gc.get_threshold() == idle_process
    serving_stopped()  # one stop too many changes nothing
    assert gc.get_threshold() == idle_process
