"""Prometheus metrics through ``prometheus-client``, low-cardinality labels only.

With several worker processes, ``PROMETHEUS_MULTIPROC_DIR`` names a folder where each process
keeps its figures; ``/metrics`` then adds them up across processes (prometheus-client's
multiprocess mode), so any worker answers for all of them.
"""

from __future__ import annotations

import os
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import Counter as _PromCounter
from prometheus_client import Histogram as _PromHistogram
from prometheus_client.multiprocess import MultiProcessCollector

LabelKey = tuple[tuple[str, str], ...]
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST

# the *_created series double the output and say nothing an operator asks of these counters
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]


def _key(labels: dict[str, str]) -> LabelKey:
    return tuple(sorted(labels.items()))


class _Children:
    """A metric's labelled children, looked up once per label values.

    prometheus-client validates and builds the key on every ``labels()`` call; once per request
    that was a measurable share of a proxied call. The label values are few (areas, statuses,
    error codes), and the cache is bounded all the same.
    """

    LIMIT = 4096

    def __init__(self, metric: Any, names: tuple[str, ...]) -> None:
        self._metric = metric
        self._names = names
        self._children: dict[tuple[str, ...], Any] = {}

    def get(self, labels: dict[str, str]) -> Any:
        key = tuple(labels[n] for n in self._names)
        child = self._children.get(key)
        if child is None:
            child = self._metric.labels(**labels)
            if len(self._children) < self.LIMIT:
                self._children[key] = child
        return child


class Counter:
    """A labelled counter; ``values`` reads this process's figures (tests, diagnostics)."""

    def __init__(self, name: str, help_text: str, labels: tuple[str, ...],
                 registry: CollectorRegistry) -> None:
        self._metric = _PromCounter(name, help_text, labels, registry=registry)
        self._children = _Children(self._metric, labels)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self._children.get(labels).inc(amount)

    @property
    def values(self) -> dict[LabelKey, float]:
        return {_key(s.labels): s.value for family in self._metric.collect()
                for s in family.samples if s.name.endswith("_total")}


class Histogram:
    """A labelled histogram of durations in seconds."""

    def __init__(self, name: str, help_text: str, labels: tuple[str, ...],
                 registry: CollectorRegistry) -> None:
        self._metric = _PromHistogram(name, help_text, labels, registry=registry,
                                      buckets=BUCKETS)
        self._children = _Children(self._metric, labels)

    def observe(self, seconds: float, **labels: str) -> None:
        self._children.get(labels).observe(seconds)

    @property
    def counts(self) -> dict[LabelKey, float]:
        return {_key(s.labels): s.value for family in self._metric.collect()
                for s in family.samples if s.name.endswith("_count")}


class Registry:
    """The BFF's metrics; one per process (added up across workers in multiprocess mode)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("bff_http_requests", "HTTP requests by area and status.",
                                ("area", "status"), self.registry)
        self.duration = Histogram("bff_http_request_duration_seconds",
                                  "HTTP request duration by area.", ("area",), self.registry)
        self.errors = Counter("bff_errors", "Error answers by stable error code.", ("code",),
                              self.registry)
        self.events = Counter("bff_events",
                              "Logins, refreshes, logouts and back-channel logouts.", ("event",),
                              self.registry)

    def render(self) -> str:
        """The exposition text: this process's, or every worker's summed in multiprocess mode."""
        registry: Any = self.registry
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry).decode("utf-8")


METRICS = Registry()
