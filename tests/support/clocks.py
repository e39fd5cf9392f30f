"""A wall clock that a test can move forward or back without sleeping."""

from __future__ import annotations

import time


class OffsetClock:
    """``time.time()`` plus an offset the test sets."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset
