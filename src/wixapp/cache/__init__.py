"""Caches: a memory tier (TTL + LRU + single-flight), an optional shared tier (Redis, with a
distributed single-flight and invalidation broadcast), and :class:`Cache`, which layers them.

Identity and elevation use :class:`Cache` only; whether a shared tier sits behind it is
decided once, in :class:`wixapp.app.WixApp`.
"""

from wixapp.cache.instance import InstanceCache
from wixapp.cache.layered import Cache, Codec, Fetch
from wixapp.cache.memory import SingleFlight, TTLCache
from wixapp.cache.redis import RedisBackend, RedisOptions
from wixapp.cache.sealing import Sealer
from wixapp.cache.shared import SharedBackend, SharedCacheUnavailable

__all__ = [
    "Cache",
    "Codec",
    "Fetch",
    "InstanceCache",
    "RedisBackend",
    "RedisOptions",
    "Sealer",
    "SharedBackend",
    "SharedCacheUnavailable",
    "SingleFlight",
    "TTLCache",
]
