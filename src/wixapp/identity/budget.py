"""A budget of token-info calls, so a client cycling made-up tokens cannot flood Wix.

Every token wixapp has not seen costs one token-info call, and a well-formed forgery looks
like any other token until Wix has answered. The budget caps those calls with two token
buckets: one per client address and one for the whole process, each refilled evenly over a
minute. Only calls to Wix spend it; a cached answer (valid or not) costs nothing, so callers
whose tokens are known keep being served while an abuser is refused.

Loopback clients are budgeted overall only: they are a reverse proxy on the same host (whose
clients uvicorn's ``--proxy-headers`` reveals) or a tool run by the operator. IPv6 clients
are budgeted per /64, the block one host usually holds. The per-client buckets live in a
bounded LRU, so a flood of distinct addresses cannot grow memory.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from wixapp.errors import TokenCheckBudgetError

__all__ = ["TokenBucket", "TokenCheckBudget", "client_key"]

MAX_CLIENTS = 10_000
"""Per-client buckets kept (least recently used dropped first)."""

RefusalObserver = Callable[[str], None]
"""Told "client" or "overall": which budget refused a token-info call."""


@dataclass(slots=True)
class TokenBucket:
    """``capacity`` tokens, refilled at ``rate`` per second; starts full."""

    capacity: float
    rate: float
    tokens: float
    updated: float

    @classmethod
    def per_minute(cls, budget: int, now: float) -> TokenBucket:
        return cls(capacity=budget, rate=budget / 60.0, tokens=budget, updated=now)

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = now

    def wait(self) -> float:
        """Seconds until one token is available (0 if one is); call ``refill`` first."""
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class TokenCheckBudget:
    """``spend(client)`` before each token-info call; raises TokenCheckBudgetError when
    either the client's budget or the overall one is spent. A budget of 0 is no limit."""

    def __init__(
        self,
        *,
        per_minute: int,
        per_client_per_minute: int,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
        observer: RefusalObserver | None = None,
    ) -> None:
        self._clock = clock
        self._per_client = per_client_per_minute
        self._max_clients = max_clients
        self._overall = TokenBucket.per_minute(per_minute, clock()) if per_minute > 0 else None
        self._clients: OrderedDict[str, TokenBucket] = OrderedDict()
        self._observer = observer

    def __len__(self) -> int:
        """How many per-client buckets are kept."""
        return len(self._clients)

    def spend(self, client: str | None) -> None:
        now = self._clock()
        buckets: list[tuple[str, TokenBucket]] = []
        key = client_key(client)
        if self._per_client > 0 and key is not None:
            buckets.append(("client", self._client_bucket(key, now)))
        if self._overall is not None:
            buckets.append(("overall", self._overall))
        for _, bucket in buckets:
            bucket.refill(now)
        for scope, bucket in buckets:  # take from none unless every budget has a token
            wait = bucket.wait()
            if wait > 0:
                self._refuse(scope, wait)
        for _, bucket in buckets:
            bucket.tokens -= 1

    def _client_bucket(self, key: str, now: float) -> TokenBucket:
        bucket = self._clients.get(key)
        if bucket is None:
            bucket = TokenBucket.per_minute(self._per_client, now)
            self._clients[key] = bucket
            while len(self._clients) > self._max_clients:
                self._clients.popitem(last=False)
        else:
            self._clients.move_to_end(key)
        return bucket

    def _refuse(self, scope: str, wait: float) -> None:
        if self._observer is not None:
            self._observer(scope)
        who = "from your address" if scope == "client" else "for this server"
        raise TokenCheckBudgetError(
            f"Too many unknown access tokens {who} were checked with Wix in the last minute; "
            f"retry in {math.ceil(wait)} s. Requests with a token already checked are not "
            "affected.",
            retry_after=wait,
        )


def client_key(host: str | None) -> str | None:
    """The per-client budget's key for a client address: the address itself, or its IPv6
    /64. None (budgeted overall only) for loopback and for an unknown client; a host that is
    not an IP address (a unix socket path, say) is its own key."""
    if not host:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
