"""Prometheus metrics of one wixapp application, in a registry of its own.

Under ``wixapp serve --workers N`` every worker writes its values to files in
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode, chosen when it is
imported: ``wixapp serve`` sets the variable before the workers start) and ``render`` sums
them, so ``/metrics`` answers for the whole server whichever worker takes the scrape.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

__all__ = ["CONTENT_TYPE_LATEST", "MULTIPROCESS_DIR_VARIABLE", "Metrics", "multiprocess_dir"]

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """Where the workers of one server share their metrics, if they do."""
    return os.environ.get(MULTIPROCESS_DIR_VARIABLE) or None


_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Metrics:
    """Counters and histograms; a registry per instance keeps tests and apps apart."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.upstream_calls = Counter(
            "wixapp_upstream_calls",
            "Calls to Wix, by endpoint and outcome (circuit_open: refused, no call went out).",
            ["endpoint", "outcome"],
            registry=self.registry,
        )
        self.upstream_seconds = Histogram(
            "wixapp_upstream_seconds",
            "Time spent in calls to Wix.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.cache_lookups = Counter(
            "wixapp_cache_lookups",
            "Lookups in the memory tier of the token-info verdicts: hit, negative_hit, miss.",
            ["cache", "result"],
            registry=self.registry,
        )
        self.shared_cache_up = Gauge(
            "wixapp_shared_cache_up",
            "1 while the shared cache is in use; 0 while it is unavailable (degraded: requests "
            "are served from memory and Wix).",
            ["backend"],
            registry=self.registry,
            # Across workers: 0 if any live one has lost the shared cache.
            multiprocess_mode="livemin",
        )
        self.shared_cache_errors = Counter(
            "wixapp_shared_cache_errors",
            "Failed shared-cache operations, by operation.",
            ["operation"],
            registry=self.registry,
        )
        self.shared_cache_lookups = Counter(
            "wixapp_shared_cache_lookups",
            "How memory misses were answered, by cache and result: hit (shared cache), lead "
            "(this process asked Wix for all), wait (another process did), bypass (shared "
            "cache unavailable: asked Wix alone).",
            ["cache", "result"],
            registry=self.registry,
        )
        self.token_checks_refused = Counter(
            "wixapp_token_checks_refused",
            "Token-info calls refused by the budget (client: one address's; network: one /24 "
            "or /48's; overall; instance: one site's), answered 429 without calling Wix.",
            ["budget"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "wixapp_request_seconds",
            "Time to answer HTTP requests, by route and status class.",
            ["route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        # Bound label children, by metric and labels: the hot path skips prometheus_client's
        # lookup (and its lock).
        self._children: dict[tuple[object, ...], Any] = {}
        # by route template and status (both few): the histogram child's observe
        self._request_observers: dict[tuple[str, int], Any] = {}

    def _child(self, metric: MetricWrapperBase, *labels: str) -> Any:
        key = (metric, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def request_done(self, route: str, status: int, seconds: float) -> None:
        """One answered HTTP request."""
        observe = self._request_observers.get((route, status))
        if observe is None:
            child = self._child(self.request_seconds, route, f"{status // 100}xx")
            observe = self._request_observers[route, status] = child.observe
        observe(seconds)

    def upstream_call(self, endpoint: str, outcome: str, seconds: float) -> None:
        self._child(self.upstream_calls, endpoint, outcome).inc()
        self._child(self.upstream_seconds, endpoint).observe(seconds)

    def cache_lookup(self, cache: str, result: str) -> None:
        self._child(self.cache_lookups, cache, result).inc()

    def shared_cache_state(self, up: bool, _reason: str | None = None) -> None:
        self.shared_cache_up.labels("redis").set(1 if up else 0)

    def shared_cache_error(self, operation: str) -> None:
        self.shared_cache_errors.labels(operation).inc()

    def shared_lookup(self, cache: str, result: str) -> None:
        self._child(self.shared_cache_lookups, cache, result).inc()

    def token_check_refused(self, budget: str) -> None:
        self.token_checks_refused.labels(budget).inc()

    def render(self) -> bytes:
        """The exposition: this registry's, or every worker's summed in multiprocess mode."""
        if multiprocess_dir() is None:
            return generate_latest(self.registry)
        every_worker = CollectorRegistry()
        MultiProcessCollector(every_worker)  # type: ignore[no-untyped-call]
        return generate_latest(every_worker)

    def retire(self) -> None:
        """At a worker's exit: its live gauges leave the sums (its counters stay)."""
        if multiprocess_dir() is not None:
            mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
