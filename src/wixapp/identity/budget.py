"""Budgets of token-info calls, so neither junk nor free tokens can lock callers out.

Every token wixapp has not seen costs one token-info call, and a well-formed forgery looks
like any other token until Wix has answered. Token buckets, each refilled evenly over a
minute, decide whether a new token may be checked; a cached answer (valid or not) costs
nothing, so callers whose tokens are known are never refused.

- **Per client address** (``WIXAPP_TOKEN_INFO_BUDGET_PER_IP``). Each token of the address
  that Wix rejects (or that names another app) costs it ``REJECTION_PENALTY`` more and marks
  it, and its network (IPv4 /24, IPv6 /48), *tainted* for a minute.
- **Per network** (``WIXAPP_TOKEN_INFO_BUDGET_PER_NETWORK``), IPv4 /24 or IPv6 /48, tainted
  or not: valid tokens of the attacker's own free sites, sent from the 65,536 /64s of one
  /48, spend one network's budget, not the overall one.
- **Overall** (``WIXAPP_TOKEN_INFO_BUDGET``). A share of it
  (``WIXAPP_TOKEN_INFO_RESERVED_SHARE``) is reserved for addresses with no rejections:
  a tainted address cannot draw the bucket below that level, so a flood of junk from many
  addresses, each inside its own budget, leaves room for real visitors. Another share
  (``WIXAPP_TOKEN_INFO_KNOWN_SHARE``) is kept for tokens naming an instance whose callers
  Wix confirmed in the last ``KNOWN_SECONDS``: a flood of new sites' tokens cannot take it.
- **Per app instance** (``WIXAPP_TOKEN_INFO_PER_INSTANCE``), below Wix's limit of 200 calls
  a minute per instance, leaving room for the app's own elevated calls. Only tokens Wix
  confirmed count against an instance; a new token is refused early when the instance it
  claims (read, unverified, from its payload: :func:`instance_hint`) has spent its budget,
  so a forgery naming a site can neither spend nor be charged to that site's budget. Once
  half of it is spent, a network that spent ``SITE_NETWORK_SHARE`` of it in the last minute
  is refused first, so the site's visitors on other networks keep the rest.

With a shared tier (Redis) the buckets live there and every worker and host shares them
(one Lua script per decision; on a Redis Cluster every bucket is in one slot, since a
decision reads several at once: the rate is that of token checks, not page views);
without it, or while it is unavailable, they live in the process. Loopback clients are
budgeted overall only (a reverse proxy on the same host, or a tool of the operator's); IPv6
clients per /64. In-process tables are bounded LRUs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import math
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from wixapp.cache.shared import SharedCacheUnavailable
from wixapp.errors import TokenCheckBudgetError

__all__ = [
    "REJECTION_PENALTY",
    "BudgetPolicy",
    "SharedScripts",
    "TokenCheckBudget",
    "client_key",
    "expiry_hint",
    "instance_hint",
    "network_key",
]

MAX_ENTRIES = 10_000
"""Per-client and per-instance buckets kept in a process (least recently used dropped)."""

REJECTION_PENALTY = 5
"""Extra tokens a client address loses for each token Wix rejects."""

TAINT_SECONDS = 60.0
"""How long an address with a rejected token counts as tainted."""

KNOWN_SECONDS = 600.0
"""How long an instance counts as known (may draw on the known share) after Wix confirmed
one of its callers."""

SITE_NETWORK_SHARE = 0.25
"""The share of an instance's budget one network may spend while the instance is contested
(below half of its budget)."""

RefusalObserver = Callable[[str], None]
"""Told "client", "overall" or "instance": which budget refused a token-info call."""

Script = Callable[[list[str], list[Any]], Awaitable[Any]]


class SharedScripts(Protocol):
    """What the budgets need of a shared tier: Lua scripts and key names (Redis)."""

    def script(self, source: str) -> Script: ...

    def name(self, namespace: str, key: str) -> str:
        """A key name; one script may touch several names of one namespace (a cluster
        keeps them in one slot)."""
        ...

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Future[None]: ...


@dataclass(frozen=True, slots=True)
class BudgetPolicy:
    """Calls a minute; 0 is no limit."""

    per_minute: int = 3000
    per_client: int = 120
    per_instance: int = 150
    reserved_share: float = 0.5
    per_network: int = 600
    known_share: float = 0.2
    max_entries: int = MAX_ENTRIES


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    marked_until: float = 0.0  # an address or network: tainted; an instance: known

    def level(self, capacity: float, now: float) -> float:
        elapsed = max(0.0, now - self.updated)
        return min(capacity, self.tokens + elapsed * capacity / 60.0)

    def set(self, tokens: float, now: float) -> None:
        self.tokens, self.updated = tokens, now


def _wait(level: float, floor: float, capacity: float) -> float:
    """Seconds until the bucket holds one token above ``floor``."""
    return max(0.0, (floor + 1 - level) * 60.0 / capacity)


# KEYS: client, overall, instance, network, site's network. ARGV: now, client cap, overall
# cap, reserve, instance cap, ttl ms, network cap, known floor, site's network cap. A cap of 0
# skips that bucket. Returns {"", 0}, or the refusing budget and the wait in ms.
_SPEND = """
local now = tonumber(ARGV[1])
local function level(key, cap)
  local h = redis.call('HMGET', key, 't', 'u', 'x')
  local t, u = tonumber(h[1]), tonumber(h[2])
  if not t then return cap, tonumber(h[3]) or 0 end
  return math.min(cap, t + math.max(0, now - u) * cap / 60), tonumber(h[3]) or 0
end
local function wait(lvl, floor, cap) return math.ceil((floor + 1 - lvl) * 60000 / cap) end
local function take(key, lvl)
  redis.call('HSET', key, 't', lvl - 1, 'u', now)
  redis.call('PEXPIRE', key, ARGV[6])
end
local ccap, ocap = tonumber(ARGV[2]), tonumber(ARGV[3])
local reserve, icap = tonumber(ARGV[4]), tonumber(ARGV[5])
local ncap, kfloor, scap = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local clvl, taint, nlvl, ntaint, olvl, known = 0, 0, 0, 0, 0, 0
if icap > 0 then
  local ilvl
  ilvl, known = level(KEYS[3], icap)
  if ilvl < 1 then return {'instance', wait(ilvl, 0, icap)} end
  if scap > 0 and ilvl < icap / 2 then
    local slvl = level(KEYS[5], scap)
    if slvl < 1 then return {'instance', wait(slvl, 0, scap)} end
  end
end
if ccap > 0 then
  clvl, taint = level(KEYS[1], ccap)
  if clvl < 1 then return {'client', wait(clvl, 0, ccap)} end
end
nlvl, ntaint = level(KEYS[4], math.max(ncap, 1))
taint = math.max(taint, ntaint)
if ncap > 0 and nlvl < 1 then return {'network', wait(nlvl, 0, ncap)} end
if ocap > 0 then
  olvl = level(KEYS[2], ocap)
  local floor = 0
  if taint > now then floor = reserve end
  if known <= now then floor = math.max(floor, kfloor) end
  if olvl < floor + 1 then return {'overall', wait(olvl, floor, ocap)} end
  take(KEYS[2], olvl)
end
if ccap > 0 then take(KEYS[1], clvl) end
if ncap > 0 then take(KEYS[4], nlvl) end
return {'', 0}
"""
# KEYS: one bucket. ARGV: now, cap, cost, floor, taint until (0: none), ttl ms.
_CHARGE = """
local now, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
local h = redis.call('HMGET', KEYS[1], 't', 'u', 'x')
local t, u = tonumber(h[1]), tonumber(h[2])
local lvl = cap
if t then lvl = math.min(cap, t + math.max(0, now - u) * cap / 60) end
lvl = math.max(tonumber(ARGV[4]), lvl - tonumber(ARGV[3]))
redis.call('HSET', KEYS[1], 't', lvl, 'u', now)
if tonumber(ARGV[5]) > 0 then redis.call('HSET', KEYS[1], 'x', ARGV[5]) end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 1
"""
_TTL_MS = 180_000  # a full refill takes a minute; a tainted, penalised bucket up to three


class TokenCheckBudget:
    """``await spend(client, hint)`` before each token-info call (raises
    TokenCheckBudgetError); then ``await rejected(client)`` if Wix refused the token, or
    ``await confirmed(instance_id, client)`` if it named an instance."""

    def __init__(
        self,
        policy: BudgetPolicy,
        *,
        clock: Callable[[], float] = time.time,
        observer: RefusalObserver | None = None,
        shared: SharedScripts | None = None,
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._observer = observer
        self._reserve = policy.per_minute * policy.reserved_share
        # The known share applies only where instances are tracked (a per-instance budget).
        known = policy.known_share if policy.per_instance > 0 else 0.0
        self._known_floor = policy.per_minute * known
        self._site_network_cap = max(1, math.floor(policy.per_instance * SITE_NETWORK_SHARE))
        self._overall = _Bucket(float(policy.per_minute), clock())
        self._clients: OrderedDict[str, _Bucket] = OrderedDict()
        self._instances: OrderedDict[str, _Bucket] = OrderedDict()
        self._networks: OrderedDict[str, _Bucket] = OrderedDict()
        self._site_networks: OrderedDict[str, _Bucket] = OrderedDict()  # "instance|network"
        self._shared = shared
        self._booking: set[asyncio.Future[None]] = set()
        if shared is not None:
            self._spend_script = shared.script(_SPEND)
            self._charge_script = shared.script(_CHARGE)

    def __len__(self) -> int:
        """How many per-client, per-network and per-instance entries this process keeps."""
        tables = (self._clients, self._networks, self._instances, self._site_networks)
        return sum(len(table) for table in tables)

    # ---- the three steps of a token check

    async def spend(self, client: str | None, hint: str | None = None) -> None:
        key = client_key(client)
        if self._shared is not None:
            try:
                return await self._spend_shared(key, hint)
            except SharedCacheUnavailable:
                pass  # the shared tier is down: this process budgets on its own meanwhile
        self._spend_local(key, hint)

    async def rejected(self, client: str | None) -> None:
        """Wix refused the address's token: it loses budget, and it and its network are
        tainted for a while."""
        key = client_key(client)
        cap = self.policy.per_client
        if key is None or cap <= 0:
            return
        now = self._clock()
        until = now + TAINT_SECONDS
        if self._shared is not None:
            self._in_background(
                (f"c:{key}", [now, cap, REJECTION_PENALTY, -cap, until, _TTL_MS]),
                (f"n:{network_key(key)}", [now, self._network_cap, 0, 0, until, _TTL_MS]),
            )
            return
        bucket = self._bucket(self._clients, key, cap, now)
        bucket.set(max(-cap, bucket.level(cap, now) - REJECTION_PENALTY), now)
        bucket.marked_until = until
        self._bucket(self._networks, network_key(key), self._network_cap, now).marked_until = until

    async def confirmed(self, instance_id: str, client: str | None = None) -> None:
        """Wix confirmed a token of the instance: one call charged to its budget (and to
        what the client's network spent of it), and the instance is known for a while."""
        cap = self.policy.per_instance
        if cap <= 0:
            return
        now = self._clock()
        key = client_key(client)
        share = f"{instance_id}|{network_key(key)}" if key is not None else None
        known_until = now + KNOWN_SECONDS
        if self._shared is not None:
            charges = [(f"i:{instance_id}", [now, cap, 1, 0, known_until, _TTL_MS])]
            if share is not None:
                charges.append((f"s:{share}", [now, self._site_network_cap, 1, 0, 0, _TTL_MS]))
            self._in_background(*charges)
            return
        bucket = self._bucket(self._instances, instance_id, cap, now)
        bucket.set(max(0.0, bucket.level(cap, now) - 1), now)
        bucket.marked_until = known_until
        if share is not None:
            spent = self._bucket(self._site_networks, share, self._site_network_cap, now)
            spent.set(max(0.0, spent.level(self._site_network_cap, now) - 1), now)

    @property
    def _network_cap(self) -> int:
        """The network bucket's size; 1 where networks are only tainted (no budget)."""
        return self.policy.per_network or 1

    def _in_background(self, *charges: tuple[str, list[Any]]) -> None:
        """Book keeping after Wix answered: nobody waits for it (the answer is on its way
        to the caller). If the shared tier fails, this process books it instead. A charge
        is a bucket ("c:" + client, "n:", "i:", "s:") and the script's arguments."""
        shared = self._shared
        assert shared is not None

        async def book() -> None:
            for bucket, args in charges:
                try:
                    await self._charge_script([shared.name("budget", bucket)], args)
                except SharedCacheUnavailable:
                    self._book_locally(bucket, args)

        booking = shared.spawn(book())
        self._booking.add(booking)
        booking.add_done_callback(self._booking.discard)

    async def settled(self) -> None:
        """Wait until what was booked in the background has landed (tests, shutdown)."""
        if self._booking:
            await asyncio.gather(*self._booking, return_exceptions=True)

    def _book_locally(self, name: str, args: list[Any]) -> None:
        now, cap, cost, floor, until = args[0], args[1], args[2], args[3], args[4]
        kind, _, key = name.partition(":")
        tables = {
            "c": self._clients,
            "n": self._networks,
            "i": self._instances,
            "s": self._site_networks,
        }
        bucket = self._bucket(tables[kind], key, cap, now)
        bucket.set(max(floor, bucket.level(cap, now) - cost), now)
        bucket.marked_until = max(bucket.marked_until, until)

    # ---- in this process

    def _spend_local(self, key: str | None, hint: str | None) -> None:
        now = self._clock()
        known = self._check_instance_local(key, hint, now)
        client = self._take_local(self._clients, key, self.policy.per_client, "client", now)
        network = network_key(key) if key is not None else None
        network_bucket = self._take_local(
            self._networks, network, self.policy.per_network, "network", now
        )
        if self.policy.per_minute > 0:
            floor = self._reserve if self._tainted(client, network, now) else 0.0
            if not known:
                floor = max(floor, self._known_floor)
            level = self._overall.level(self.policy.per_minute, now)
            if level < floor + 1:
                self._refuse("overall", _wait(level, floor, self.policy.per_minute))
            self._overall.set(level - 1, now)
        for bucket, level in (client, network_bucket):
            if bucket is not None:
                bucket.set(level - 1, now)

    def _check_instance_local(self, key: str | None, hint: str | None, now: float) -> bool:
        """Refuse if the instance spent its budget, or is contested and the client's network
        spent its share of it; else whether the instance is known."""
        cap = self.policy.per_instance
        found = self._instances.get(hint) if hint is not None and cap > 0 else None
        if found is None:
            return False
        level = found.level(cap, now)
        if level < 1:
            self._refuse("instance", _wait(level, 0, cap))
        if key is not None and level < cap / 2:
            spent = self._site_networks.get(f"{hint}|{network_key(key)}")
            share = self._site_network_cap
            if spent is not None and (share_level := spent.level(share, now)) < 1:
                self._refuse("instance", _wait(share_level, 0, share))
        return found.marked_until > now

    def _take_local(
        self, table: OrderedDict[str, _Bucket], key: str | None, cap: int, scope: str, now: float
    ) -> tuple[_Bucket | None, float]:
        """The bucket and its level if it has a token for this check (taken once every
        budget agreed), else a refusal."""
        if key is None or cap <= 0:
            return None, 0.0
        bucket = self._bucket(table, key, cap, now)
        level = bucket.level(cap, now)
        if level < 1:
            self._refuse(scope, _wait(level, 0, cap))
        return bucket, level

    def _tainted(
        self, client: tuple[_Bucket | None, float], network: str | None, now: float
    ) -> bool:
        if client[0] is not None and client[0].marked_until > now:
            return True
        found = self._networks.get(network) if network is not None else None
        return found is not None and found.marked_until > now

    def _bucket(
        self, table: OrderedDict[str, _Bucket], key: str, capacity: int, now: float
    ) -> _Bucket:
        bucket = table.get(key)
        if bucket is None:
            bucket = table[key] = _Bucket(float(capacity), now)
            while len(table) > self.policy.max_entries:
                table.popitem(last=False)
        else:
            table.move_to_end(key)
        return bucket

    # ---- in the shared tier

    async def _spend_shared(self, key: str | None, hint: str | None) -> None:
        assert self._shared is not None
        policy = self.policy
        network = network_key(key) if key else "-"
        names = [
            self._shared.name("budget", f"c:{key or '-'}"),
            self._shared.name("budget", "all"),
            self._shared.name("budget", f"i:{hint or '-'}"),
            self._shared.name("budget", f"n:{network}"),
            self._shared.name("budget", f"s:{hint}|{network}"),
        ]
        args = [
            self._clock(),
            policy.per_client if key is not None else 0,
            policy.per_minute,
            self._reserve,
            policy.per_instance if hint is not None else 0,
            _TTL_MS,
            policy.per_network if key is not None else 0,
            self._known_floor,
            self._site_network_cap if key is not None else 0,
        ]
        scope, wait_ms = await self._spend_script(names, args)
        scope = scope.decode() if isinstance(scope, bytes) else str(scope)
        if scope:
            self._refuse(scope, int(wait_ms) / 1000.0)

    def _refuse(self, scope: str, wait: float) -> None:
        if self._observer is not None:
            self._observer(scope)
        who = {
            "client": "from your address were",
            "network": "from your network were",
            "overall": "were",
            "instance": "of this site were",
        }[scope]
        raise TokenCheckBudgetError(
            f"Too many new access tokens {who} checked with Wix in the last minute; retry in "
            f"{max(1, math.ceil(wait))} s. Requests with a token already checked are not "
            "affected.",
            code="instance_token_check_limit" if scope == "instance" else None,
            retry_after=max(wait, 1.0),
        )


def client_key(host: str | None) -> str | None:
    """The per-client budget's key for a client address: the address itself, or its IPv6
    /64. None (budgeted overall only) for loopback and for an unknown client; a host that is
    not an IP address (a unix socket path, say) is its own key."""
    if not host:
        return None
    packed = _ipv4(host)
    if packed is not None:  # the common case, without ipaddress's objects
        return None if packed[0] == 127 else socket.inet_ntop(socket.AF_INET, packed)
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


def network_key(key: str) -> str:
    """The network a client key belongs to, for taint: an IPv4 /24, an IPv6 /48."""
    packed = _ipv4(key)
    if packed is not None:
        return f"{socket.inet_ntop(socket.AF_INET, packed[:3] + bytes(1))}/24"
    try:
        network = ipaddress.ip_network(key, strict=False)
    except ValueError:
        return key
    prefix = 24 if network.version == 4 else 48
    return str(network.supernet(new_prefix=prefix)) if network.prefixlen > prefix else key


def _ipv4(host: str) -> bytes | None:
    """The four bytes of a dotted-quad IPv4 address (strict: no leading zeros), else None."""
    try:
        return socket.inet_pton(socket.AF_INET, host)
    except OSError:
        return None


_MAX_HINT = 200


def instance_hint(token: str) -> str | None:
    """The instance a token claims, read without verification from its JWS payload.

    Only ever used to refuse early, never to grant anything: a forgery can claim any site,
    but it is only refused when that site's budget is spent anyway.
    """
    # OauthNG.JWS.<header>.<payload>.<signature>, or a plain JWT: any part may be the payload.
    for part in token.split(".")[:6]:
        if not part.startswith("e"):  # base64url of "{", the start of any JSON object
            continue
        claims = _json_object(part)
        if claims is None:
            continue
        found = _instance_of(claims)
        if found is None and isinstance(claims.get("data"), str):
            nested = _loads(claims["data"])
            found = _instance_of(nested) if isinstance(nested, dict) else None
        if isinstance(found, str) and 0 < len(found) <= _MAX_HINT:
            return found
    return None


def expiry_hint(token: str) -> float | None:
    """The ``exp`` a token claims, read without verification from its JWS payload: only to
    tell a caller *why* Wix refused the token (expired, not forged), never to accept one."""
    for part in token.split(".")[:6]:
        claims = _json_object(part)
        if claims is None:
            continue
        if isinstance(claims.get("data"), str):
            nested = _loads(claims["data"])
            claims = nested if isinstance(nested, dict) and "exp" in nested else claims
        exp = claims.get("exp")
        if isinstance(exp, int | float) and not isinstance(exp, bool):
            return float(exp)
    return None


def _instance_of(claims: dict[str, Any]) -> Any:
    for name in ("instance_id", "instanceId"):
        if name in claims:
            return claims[name]
    instance = claims.get("instance")
    return instance.get("instanceId") if isinstance(instance, dict) else None


def _json_object(part: str) -> dict[str, Any] | None:
    if len(part) > 4096:
        return None
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        return None
    value = _loads(raw)
    return value if isinstance(value, dict) else None


def _loads(raw: str | bytes) -> Any:
    try:
        return orjson.loads(raw)
    except (ValueError, RecursionError):
        return None
