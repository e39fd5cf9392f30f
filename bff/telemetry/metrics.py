"""Prometheus text-format metrics (exposition format 0.0.4) with low-cardinality labels only."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from itertools import accumulate

LabelKey = tuple[tuple[str, str], ...]
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _labels(key: LabelKey, extra: str = "") -> str:
    parts = [f'{k}="{v}"' for k, v in key]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class Counter:
    def __init__(self, name: str, help_text: str) -> None:
        self.name, self.help = name, help_text
        self.values: dict[LabelKey, float] = defaultdict(float)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self.values[tuple(sorted(labels.items()))] += amount

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        out += [f"{self.name}{_labels(k)} {v:g}" for k, v in sorted(self.values.items())]
        return out


class Histogram:
    def __init__(self, name: str, help_text: str) -> None:
        self.name, self.help = name, help_text
        self.counts: dict[LabelKey, list[int]] = {}
        self.sums: dict[LabelKey, float] = defaultdict(float)

    def observe(self, seconds: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        counts = self.counts.setdefault(key, [0] * (len(BUCKETS) + 1))
        # one bucket per observation; render() makes them cumulative
        counts[bisect_left(BUCKETS, seconds)] += 1
        self.sums[key] += seconds

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for key, counts in sorted(self.counts.items()):
            cumulative = list(accumulate(counts))
            for bound, count in zip(BUCKETS, cumulative, strict=False):
                le = 'le="' + format(bound, "g") + '"'
                out.append(f"{self.name}_bucket{_labels(key, le)} {count}")
            inf = 'le="+Inf"'
            out.append(f"{self.name}_bucket{_labels(key, inf)} {cumulative[-1]}")
            out.append(f"{self.name}_sum{_labels(key)} {self.sums[key]:.6f}")
            out.append(f"{self.name}_count{_labels(key)} {cumulative[-1]}")
        return out


class Registry:
    """The BFF's metrics; one per process."""

    def __init__(self) -> None:
        self.requests = Counter("bff_http_requests_total", "HTTP requests by area and status.")
        self.duration = Histogram("bff_http_request_duration_seconds",
                                  "HTTP request duration by area.")
        self.errors = Counter("bff_errors_total", "Error answers by stable error code.")
        self.events = Counter("bff_events_total",
                              "Logins, refreshes, logouts and back-channel logouts.")

    def render(self) -> str:
        lines: list[str] = []
        for metric in (self.requests, self.duration, self.errors, self.events):
            lines += metric.render()
        return "\n".join(lines) + "\n"


METRICS = Registry()
