"""The proxy's test module run again with every in-process BFF on granian.

``server.engine = "granian"`` must carry what the proxy does with a body or an answer as it
arrives: server-sent events, large downloads and uploads, upstream timeouts and failures. The
suite's own cases (``test_proxy.py``) run in a child pytest with ``BFF_TEST_ENGINE=granian``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
STREAMING = ("test_sse_events_arrive_as_they_come",
             "test_large_download_streams_without_buffering",
             "test_large_upload_streams_to_the_upstream",
             "test_upload_over_the_route_limit_is_refused",
             "test_upstream_hang_is_504_within_timeout")


def test_the_proxy_cases_pass_on_granian(tmp_path: Path) -> None:
    report = tmp_path / "granian.xml"
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         "--no-cov", f"--junitxml={report}", "tests/integration/test_proxy.py"],
        cwd=ROOT, env={**os.environ, "BFF_TEST_ENGINE": "granian"}, capture_output=True,
        text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stdout[-4000:]
    cases = list(ET.parse(report).iter("testcase"))
    assert len(cases) >= 40, len(cases)
    # a child element is a failure, an error or a skip: every case must have passed
    assert [c.get("name") for c in cases if len(c)] == []
    names = {c.get("name", "").split("[")[0] for c in cases}
    assert set(STREAMING) <= names, sorted(set(STREAMING) - names)
