"""The process's cycle collector while BFF apps serve in it.

Everything built at start-up lives as long as the process, so it is frozen out of the
collector's walks (measured 14-19 us per proxied call); and a request's objects are freed by
reference counting as it ends, so the collector, there for cycles, need not walk the young
ones every 700 allocations (measured: about 6% of a proxied call's CPU at Python's default).

Both are settings of the whole process, while several apps may serve in one (tests run
BFFs side by side in threads): the first app to start changes them, the last to stop puts
them back.
"""

from __future__ import annotations

import gc
import threading

#: the generation thresholds while serving (Python's default: 700, 10, 10)
COLLECTOR_THRESHOLDS = (20_000, 20, 20)

_lock = threading.Lock()
_serving = 0
_saved: tuple[int, int, int] = gc.get_threshold()


def serving_started() -> None:
    """An app starts serving: freeze what exists now and collect less often."""
    global _serving, _saved
    with _lock:
        gc.collect()
        gc.freeze()  # again for each app: what the new one built lives as long as it
        if _serving == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(*COLLECTOR_THRESHOLDS)
        _serving += 1


def serving_stopped() -> None:
    """An app stops: after the last one, what was frozen may become garbage again (an app
    built anew in the same process) and the thresholds are as before."""
    global _serving
    with _lock:
        _serving = max(0, _serving - 1)
        if _serving == 0:
            gc.unfreeze()
            gc.set_threshold(*_saved)
