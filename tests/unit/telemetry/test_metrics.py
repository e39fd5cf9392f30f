"""Metrics through prometheus-client: the exposition, and figures summed across processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bff.telemetry.metrics import Registry


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_exposition_parses_and_counts_by_label() -> None:
    metrics = Registry()
    metrics.requests.inc(area="bff", status="200")
    metrics.requests.inc(area="bff", status="200")
    metrics.errors.inc(code="csrf_failed")
    metrics.duration.observe(0.003, area="proxy")
    got = samples(metrics.render())
    assert got[("bff_http_requests_total", (("area", "bff"), ("status", "200")))] == 2
    assert got[("bff_errors_total", (("code", "csrf_failed"),))] == 1
    bucket = "bff_http_request_duration_seconds_bucket"
    assert got[(bucket, (("area", "proxy"), ("le", "0.005")))] == 1
    assert got[(bucket, (("area", "proxy"), ("le", "0.0025")))] == 0
    assert metrics.events.values == {}
    assert not any(name.endswith("_created") for name, _ in got)


WORKER = """
from bff.telemetry.metrics import METRICS
METRICS.events.inc(event="login")
METRICS.requests.inc(area="bff", status="200")
"""
READER = "from bff.telemetry.metrics import METRICS; print(METRICS.render())"


def test_multiprocess_mode_sums_every_worker(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", WORKER], env=env, check=True)
    text = subprocess.run([sys.executable, "-c", READER], env=env, check=True,
                          capture_output=True, text=True).stdout
    got = samples(text)
    assert got[("bff_events_total", (("event", "login"),))] == 2
    assert got[("bff_http_requests_total", (("area", "bff"), ("status", "200")))] == 2
