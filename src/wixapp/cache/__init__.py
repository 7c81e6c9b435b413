"""Caches: a bounded in-process TTL cache and request coalescing (single-flight)."""

from wixapp.cache.memory import SingleFlight, TTLCache

__all__ = ["SingleFlight", "TTLCache"]
