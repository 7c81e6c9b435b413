"""Prometheus metrics of one wixapp application, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Metrics:
    """Counters and histograms; a registry per instance keeps tests and apps apart."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.upstream_calls = Counter(
            "wixapp_upstream_calls",
            "Calls to Wix, by endpoint and outcome.",
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
            "Cache lookups, by cache and result (hit, miss, negative_hit, stale).",
            ["cache", "result"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "wixapp_request_seconds",
            "Time to answer HTTP requests, by route and status class.",
            ["route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def upstream_call(self, endpoint: str, outcome: str, seconds: float) -> None:
        self.upstream_calls.labels(endpoint, outcome).inc()
        self.upstream_seconds.labels(endpoint).observe(seconds)

    def cache_lookup(self, cache: str, result: str) -> None:
        self.cache_lookups.labels(cache, result).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
