"""The shared tier on Redis: values, flight locks, and invalidation broadcast over pub/sub.

One Redis server (``redis://``, ``rediss://``, ``unix://``), or a Redis Cluster
(``redis+cluster://host:port[,host:port…]``, ``rediss+cluster://``): the same keys and
scripts on both.

Keys (``<prefix>`` is WIXAPP_REDIS_PREFIX, ``<scope>`` the app ID, so two apps, or two test
runs, never read each other's entries; the braces are literal)::

    <prefix>:<scope>:{<namespace>:<key>}        value: "<tag>:" + 8-byte expiry + payload
    <prefix>:<scope>:lock:{<namespace>:<key>}   flight lock: a random token, PX lock_ttl
    <prefix>:<scope>:fail:{<namespace>:<key>}   a flight's shared outage, a few seconds
    <prefix>:<scope>:{<namespace>}:<key>        a script's key (:meth:`RedisBackend.name`:
                                                the budgets' buckets)
    <prefix>:<scope>:invalidate                 the pub/sub channel of invalidations

On a cluster only the part in braces (a hash tag) picks a key's slot: a cache key's value,
lock and failure share one slot, so the scripts and reads that touch them together run on
one node, while different cache keys spread over every node. A script's keys share their
namespace's one slot (every budget decision reads several buckets at once; their rate is
that of token checks, not of page views). The prefix and the scope contain no braces.

Pub/sub on a cluster: a classic PUBLISH reaches the subscribers on every node, so the
listener subscribes through a plain connection to one node (a random one at first, so the
processes spread), and to the next node after a failure. The cluster is one dependency with
one circuit: with a master down, calls on its slots fail and the others succeed; once the
cluster stops serving (the master marked failed, no replica to take over) the circuit
opens, and it closes when a ping reaches every master again.

Every value and shared failure is sealed with AES-256-GCM under a key derived from the app
secret (HKDF-SHA256) and bound to its full key name and tag as associated data, and every
broadcast carries an HMAC: an entry written or altered by anyone without the secret (another
app or environment sharing the Redis, an intruder) is a miss, logged once, never trusted
and never an error. A broadcast also says when it was sent and its place in its sender's
sequence: one older than ``message_max_age``, or not newer than the last one taken from that
sender, is a replay and dropped. (Receivers of lifecycle messages also re-read the store:
:mod:`wixapp.identity.removal`.)

Locks are taken with ``SET NX PX`` and renewed while their holder works, so a holder that
dies frees its keys within ``lock_ttl``; a result is stored, and a lock released, by Lua
scripts that first check the holder's token. Every call has a short timeout and goes
through a circuit breaker (:mod:`wixapp.breaker`): when Redis fails, calls stop for a
backoff (growing to a few seconds) and the caches serve from memory and Wix; a background
listener, which also receives invalidations, notices when Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from wixapp.breaker import BreakerState, CircuitBreaker, StateHook
from wixapp.cache.budget import CallBudget, not_the_calls, stretched
from wixapp.cache.sealing import Sealer
from wixapp.cache.shared import (
    Flight,
    InvalidationHook,
    Lock,
    SharedCacheUnavailable,
    SharedWait,
    outside_request,
    request_wait,
)
from wixapp.config import RedisClusterURL
from wixapp.logs import LogLimiter
from wixapp.tasks import cancel_and_wait

__all__ = ["MAX_ENTRY_BYTES", "RedisBackend", "RedisOptions", "entry_name"]

logger = logging.getLogger("wixapp.cache")

T = TypeVar("T")

# What a call to Redis may raise (a cluster's client raises some outside RedisError).
_FAILURES = (RedisError, RedisClusterException, OSError)

MAX_ENTRY_BYTES = 262_144
"""A larger value read from Redis is not opened: it cannot be one wixapp wrote."""

# KEYS[1] lock; ARGV: token, ttl ms. SET NX PX, but also 1 if already ours (safe to retry).
_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return 1 end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
# KEYS[1] value, KEYS[2] lock; ARGV: token, value, ttl ms. Stores only for the lock's holder.
_PUT = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""
# KEYS[1] lock, KEYS[2] failure; ARGV: token, failure, ttl ms.
_FAIL = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
# KEYS[1] value; ARGV[1] "{tag}:". Deletes only the value stored with that tag.
_DELETE_TAGGED = """
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, string.len(ARGV[1])) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class _Pool(aioredis.BlockingConnectionPool):
    """Waiting for a free connection (calls queue for one under a burst) is this worker's
    queue, not Redis's latency: not charged to a request's budget (bounded by ``timeout``)."""

    async def get_connection(self, *args: Any, **options: Any) -> Any:
        if not self.can_get_connection():  # connecting, though, is the call's
            with not_the_calls(), contextlib.suppress(TimeoutError):
                async with self._condition, asyncio.timeout(self.timeout):
                    await self._condition.wait_for(self.can_get_connection)
        connect = super().get_connection
        return await connect(*args, **options)  # type: ignore[no-untyped-call]


CALL_SHARE = 2  # each call of a request may wait at least this share of its budget


@dataclass(frozen=True, slots=True)
class RedisOptions:
    """Timings of the Redis tier. Short timeouts: a slow Redis must not slow requests."""

    socket_timeout: float = 0.25
    connect_timeout: float = 1.0  # connections are pooled: connecting is rare
    max_connections: int = 16  # per process; calls queue for one (bounded by the timeouts)
    lock_ttl: float = 3.0
    min_backoff: float = 0.5
    max_backoff: float = 5.0
    listen_interval: float = 1.0
    max_pending: int = 10_000
    message_max_age: float = 60.0  # older broadcasts are replays (hosts' clocks within this)
    max_senders: int = 1_000  # senders whose last sequence number is remembered
    # What one request may wait on Redis in all, counting only the time its worker's event
    # loop was free to hear a reply (see cache/budget.py): a call still waiting when it is
    # spent is cut, counts against the circuit (a slow Redis opens it), and the request goes
    # on from memory and Wix.
    request_budget: float = 0.02


class RedisBackend:
    """A :class:`~wixapp.cache.shared.SharedBackend` on Redis (``redis.asyncio``).

    ``await start()`` runs the listener (invalidations, recovery); ``await aclose()`` ends it.
    Without ``start()`` it still works: recovery is then probed by requests, once per backoff.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        scope: str,
        secret: str,
        options: RedisOptions | None = None,
        on_state: StateHook | None = None,
        on_error: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
        ticks: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock``: wall time, for broadcasts' ages; ``ticks``: the circuit's intervals."""
        self.options = options or RedisOptions()
        self._clock = clock  # wall time: broadcasts' ages are compared across hosts
        self._sequence = 0
        self._in_flight = 0  # calls at Redis now: a request's budget grows with them
        self._senders = _Senders(self.options.max_senders)
        self._base = f"{prefix}:{scope}"
        if "{" in self._base or "}" in self._base:
            raise ValueError("the Redis prefix and scope must not contain { or } (hash tags)")
        self.channel = f"{self._base}:invalidate"
        self._origin = secrets.token_hex(8)
        self._sealer = Sealer(secret, purpose="wixapp shared tier v1")
        self._signing_key = hashlib.sha256(b"wixapp invalidations v1\0" + secret.encode()).digest()
        self._unreadable = LogLimiter(interval=None)
        self._on_state = on_state
        self._on_error = on_error
        self.circuit = CircuitBreaker(
            failures=3,
            grace=1.0,
            reset_after=self.options.min_backoff,
            max_reset_after=self.options.max_backoff,
            clock=ticks,
            on_change=self._changed,
        )
        self._cluster = RedisClusterURL.parse(url)
        self._client = self._connect(url)
        first = self._cluster.node_url(*self._cluster.nodes[0]) if self._cluster else url
        self._listener_client = self._listener_to(first)  # a cluster's: see _subscriber
        # On a cluster: the node the listener tries next (from a random one: the processes'
        # subscriptions spread over the nodes).
        self._listener_turn = secrets.randbelow(1 << 16)
        # On a cluster each node's connections are capped without a queue (a call beyond
        # raises): this process's calls queue here instead, as they do in the pool.
        self._queue = asyncio.Semaphore(self.options.max_connections) if self._cluster else None
        self._acquire = self._client.register_script(_ACQUIRE)
        self._put = self._client.register_script(_PUT)
        self._fail = self._client.register_script(_FAIL)
        self._release = self._client.register_script(_RELEASE)
        self._renew = self._client.register_script(_RENEW)
        self._delete_tagged = self._client.register_script(_DELETE_TAGGED)
        self._hooks: dict[str, InvalidationHook] = {}
        self._resync_hooks: list[Callable[[], None]] = []
        self._subscriptions = 0
        self._listen_backoff = self.options.min_backoff
        self._pending: dict[str, set[str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Task[None] | None = None
        self._closed = False

    def _connect(self, url: str) -> aioredis.Redis | RedisCluster:
        timeout = self.options.connect_timeout
        # One immediate reconnect (a pooled connection Redis closed); no retry on timeouts.
        retry = Retry(NoBackoff(), 1, (RedisConnectionError,))
        if self._cluster is not None:
            first, *others = self._cluster.nodes
            return RedisCluster.from_url(
                self._cluster.node_url(*first),
                startup_nodes=[ClusterNode(host, port) for host, port in others],
                max_connections=self.options.max_connections,
                socket_timeout=self.options.socket_timeout,
                socket_connect_timeout=timeout,
                retry=retry,
            )
        pool = _Pool.from_url(
            url,
            max_connections=self.options.max_connections,
            timeout=timeout,
            socket_timeout=self.options.socket_timeout,
            socket_connect_timeout=timeout,
            retry=retry,
        )
        return aioredis.Redis.from_pool(pool)

    async def _ping(self) -> object:
        """Redis answers; a cluster's every master (its client pings one node by default)."""
        if isinstance(self._client, RedisCluster):
            return await self._client.ping(target_nodes=RedisCluster.PRIMARIES)
        return await self._client.ping()

    def _listener_to(self, url: str) -> aioredis.Redis:
        timeout = self.options.connect_timeout
        return aioredis.Redis.from_url(
            url, socket_timeout=None, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
        )

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (if Redis is up) and subscribe to invalidations, in the background."""
        if self._listener is None:
            with contextlib.suppress(SharedCacheUnavailable):
                await self._call("ping", self._ping)  # a pooled connection, ready
            self._listener = asyncio.create_task(self._listen_forever(), name="wixapp-redis")

    async def aclose(self) -> None:
        """Stop listening; invalidations being sent get a moment to finish first."""
        self._closed = True
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.options.connect_timeout)
        tasks = [*self._tasks, *([self._listener] if self._listener else [])]
        await asyncio.gather(*(cancel_and_wait(task) for task in tasks), return_exceptions=True)
        await self._client.aclose()
        await self._listener_client.aclose()

    async def status(self) -> str:
        """ "ok", or "degraded (why)", for /readyz. Pings Redis (bounded by the timeouts)."""
        reason = self.circuit.reason
        if self.circuit.up or self._probe_due:
            try:
                await self._call("ping", self._ping)
            except SharedCacheUnavailable as error:
                reason = str(error)
            else:
                return "ok"
        return f"degraded ({reason}; serving from memory and Wix)"

    @property
    def _probe_due(self) -> bool:
        return self.circuit.state is BreakerState.HALF_OPEN

    # -- SharedBackend --------------------------------------------------------------------

    @property
    def available(self) -> bool:
        return self.circuit.up or self._probe_due

    async def get(self, namespace: str, key: str) -> bytes | None:
        name = self._key(namespace, key)
        raw = await self._call("get", lambda: self._client.get(name))
        return self._open(name, raw)

    async def acquire(self, namespace: str, key: str) -> Lock | None:
        lock = Lock(namespace, key, secrets.token_hex(16))
        keys = [self._lock(namespace, key)]
        args: list[Any] = [lock.token, _ms(self.options.lock_ttl)]
        taken = await self._call("lock", lambda: self._acquire(keys=keys, args=args))
        return lock if taken else None

    @contextlib.asynccontextmanager
    async def hold(self, lock: Lock) -> AsyncIterator[None]:
        # Not part of the request that took the lock: no request waits for the renewals.
        released = asyncio.Event()
        keeper = asyncio.create_task(self._keep(lock, released), context=outside_request())
        self._tasks.add(keeper)  # aclose stops it, should it still run
        keeper.add_done_callback(self._tasks.discard)
        try:
            yield
        finally:
            # The holder does not wait: the keeper ends at once, or after the renewal in
            # progress (which changes nothing once the lock is released: it checks the token).
            released.set()
            keeper.cancel()

    async def release(self, lock: Lock) -> None:
        keys = [self._lock(lock.namespace, lock.key)]
        await self._call(
            "unlock", lambda: self._release(keys=keys, args=[lock.token]), budgeted=False
        )

    async def put(
        self, namespace: str, key: str, value: bytes, *, ttl: float, lock: Lock, tag: str = ""
    ) -> bool:
        keys = [self._key(namespace, key), self._lock(namespace, key)]
        args: list[Any] = [lock.token, self._seal(keys[0], value, tag), _ms(ttl)]
        # Owed to the waiters (else they wait out the lock): not cut at the request's budget.
        stored = await self._call("put", lambda: self._put(keys=keys, args=args), budgeted=False)
        return bool(stored)

    async def fail(self, lock: Lock, failure: bytes, *, ttl: float) -> None:
        keys = [self._lock(lock.namespace, lock.key), self._failure(lock.namespace, lock.key)]
        args: list[Any] = [lock.token, self._seal(keys[1], failure, ""), _ms(ttl)]
        await self._call("fail", lambda: self._fail(keys=keys, args=args), budgeted=False)

    async def poll(self, namespace: str, key: str) -> Flight:
        keys = [self._key(namespace, key), self._lock(namespace, key)]
        keys.append(self._failure(namespace, key))
        # A follower's wait for another worker's fetch is bounded by its own deadline.
        poll = self._client.mget
        value, lock, failure = await self._call("poll", lambda: poll(keys), budgeted=False)
        return Flight(self._open(keys[0], value), lock is not None, self._open(keys[2], failure))

    async def delete(self, namespace: str, key: str, *, tag: str | None = None) -> None:
        name = self._key(namespace, key)
        if tag is None:
            await self._call("delete", lambda: self._client.delete(name))
        else:
            prefix = tag.encode() + b":"
            await self._call("delete", lambda: self._delete_tagged(keys=[name], args=[prefix]))

    async def invalidate(self, namespace: str, keys: list[str]) -> None:
        """Delete and broadcast; never raises: on failure the invalidation waits for Redis."""
        try:
            await self._broadcast({namespace: set(keys)})
        except SharedCacheUnavailable:
            self.defer_invalidation(namespace, keys)

    def defer_invalidation(self, namespace: str, keys: list[str]) -> None:
        pending = self._pending.setdefault(namespace, set())
        if sum(len(each) for each in self._pending.values()) + len(keys) > self.options.max_pending:
            logger.warning("too many invalidations wait for Redis; dropping the oldest set")
            pending.clear()
        pending.update(keys)

    def on_invalidate(self, namespace: str, hook: InvalidationHook) -> None:
        self._hooks[namespace] = hook

    def on_resync(self, hook: Callable[[], None]) -> None:
        self._resync_hooks.append(hook)

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- calls through the circuit --------------------------------------------------------

    async def _call(
        self,
        operation: str,
        call: Callable[[], Awaitable[T]],
        *,
        quick: bool = False,
        budgeted: bool = True,
    ) -> T:
        """One call through the circuit, within what is left of the request's budget (unless
        not ``budgeted``: a flight's poll, or what a lock's holder owes its waiters, bounded
        by their own timeouts). Cut at the budget, the call counts as a failure: a slow
        Redis opens the circuit. A timeout is retried once while the circuit is closed (an
        overloaded host answers late now and then): every call is idempotent. A ``quick``
        call (a budget decision: not idempotent, and a request waits for it) is tried once,
        within twice the command timeout."""
        if not self.circuit.allow():
            raise SharedCacheUnavailable(self.circuit.reason or "Redis is unavailable")
        limit = self.options.socket_timeout * 2 if quick else self.options.connect_timeout * 2
        wait = request_wait() if budgeted else None
        for attempt in (1, 2):
            allowed = self._time_left(wait)
            budget: CallBudget | None = None
            try:
                async with asyncio.timeout(limit) as timeout:
                    # Unbudgeted calls are timed too (never cut): see _succeeded.
                    budget = CallBudget(timeout, math.inf if allowed is None else allowed)
                    self._in_flight += 1
                    try:
                        result = await self._queued(call)
                    finally:
                        self._in_flight -= 1
                        used = budget.stop()
                        if wait is not None:
                            wait.seconds += used
            except (RedisTimeoutError, TimeoutError) as error:
                if budget is not None and budget.cut:  # Redis is slow, not down
                    if wait is not None:
                        wait.cut = True
                    slow = TimeoutError(f"slow: no reply to {operation} in {allowed} s")
                    self._failed("slow", slow, counted=not quick)
                    raise SharedCacheUnavailable(_describe(slow)) from error
                if attempt == 1 and self.circuit.up and not quick:
                    continue
                self._failed(operation, error, counted=not quick)
                raise SharedCacheUnavailable(_describe(error)) from error
            except _FAILURES as error:
                self._failed(operation, error, counted=not quick)
                raise SharedCacheUnavailable(_describe(error)) from error
            self._succeeded(used)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    async def _queued(self, call: Callable[[], Awaitable[T]]) -> T:
        """The call, once this process has fewer than ``max_connections`` at the cluster
        (a wait not charged to the call: this worker's queue, not the cluster's latency)."""
        if self._queue is None:
            return await call()
        with not_the_calls():
            await self._queue.acquire()
        try:
            return await call()
        finally:
            self._queue.release()

    def _succeeded(self, used: float) -> None:
        """A reply later than a request's budget (an unbudgeted call's: never cut) says Redis
        is still slow: it must not close the circuit, nor end a run of cuts."""
        if used > self.options.request_budget:
            self.circuit.released()
        else:
            self.circuit.succeeded()

    def _time_left(self, wait: SharedWait | None) -> float | None:
        """What is left of the request's budget (None: no budget), but at least a share of it
        for each call: calls that each answered in time (a starved host's are slow in sum) do
        not make a request skip Redis, which would send it to Wix outside the flight. A
        request one of whose calls was cut skips Redis (no call, nothing counted)."""
        if wait is None:
            return None
        if wait.cut:
            self.circuit.released()  # admitted, but never sent: the next call may probe
            raise SharedCacheUnavailable("this request's time for Redis is spent")
        allowed = stretched(self.options.request_budget, beside=self._in_flight)
        return max(allowed - wait.seconds, self.options.request_budget / CALL_SHARE)

    def _failed(
        self, operation: str, error: BaseException, *, certain: bool = False, counted: bool = True
    ) -> None:
        """Count the error; ``counted`` ones also move the circuit (a quick budget call that
        ran out of its short time says little about Redis's health, and must not make every
        request skip Redis)."""
        if self._on_error is not None:
            self._on_error(operation)
        if counted:
            self.circuit.failed(_describe(error), certain=certain)

    def _changed(self, up: bool, reason: str | None) -> None:
        if up:
            logger.info("the shared cache (Redis) is back; using it again")
            self._resync()
        else:
            logger.warning(
                "the shared cache (Redis) is unavailable (%s): serving from memory and Wix, "
                "retrying every few seconds; check WIXAPP_REDIS_URL and the Redis server",
                reason,
            )
        if self._on_state is not None:
            self._on_state(up, reason)

    async def _keep(self, lock: Lock, released: asyncio.Event) -> None:
        """Renew the lock at a third of its TTL while the holder holds it. The holder also
        cancels this task, but redis-py 8 on Python 3.11 can swallow a cancellation that
        lands inside a command (``wixapp.tasks.RECANCEL_SECONDS`` says why; seen under load:
        the keeper then renewed forever, and its holder, the holder's request and the
        worker's shutdown waited for it), so ``released`` is checked after every step too."""
        keys = [self._lock(lock.namespace, lock.key)]
        args: list[Any] = [lock.token, _ms(self.options.lock_ttl)]
        while not released.is_set():
            await asyncio.sleep(self.options.lock_ttl / 3)
            if released.is_set():
                return
            with contextlib.suppress(SharedCacheUnavailable):
                await self._call("renew", lambda: self._renew(keys=keys, args=args))

    # -- invalidation broadcast -----------------------------------------------------------

    async def _broadcast(self, entries: dict[str, set[str]]) -> None:
        names: list[tuple[str, str]] = [
            (self._key(namespace, key), self._lock(namespace, key))
            for namespace, keys in entries.items()
            for key in keys
        ]
        self._sequence += 1
        body = json.dumps(
            {
                "origin": self._origin,
                "seq": self._sequence,
                "sent": self._clock(),
                "drop": {ns: sorted(keys) for ns, keys in entries.items()},
            }
        )
        message = self._sign(body)

        async def send() -> None:
            # One DEL per cache key (its value and lock share a slot); a cluster refuses
            # PUBLISH in a pipeline, so it follows the deletions.
            async with self._client.pipeline(transaction=False) as pipe:
                for value, lock in names:
                    pipe.delete(value, lock)
                await pipe.execute()
            await self._client.publish(self.channel, message)

        await self._call("invalidate", send)

    async def _flush_pending(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        try:
            await self._broadcast(pending)
        except SharedCacheUnavailable:
            for namespace, keys in pending.items():
                self.defer_invalidation(namespace, list(keys))

    def _received(self, data: Any) -> None:
        body = self._verified(_bytes(data) or b"")
        if body is None:
            if self._unreadable.allow("message") is not None:
                logger.warning(
                    "ignoring a message on %s that is not signed with this app's secret "
                    "(another app or environment shares this Redis and prefix, or someone "
                    "wrote to it); further ones are ignored silently",
                    self.channel,
                )
            return
        try:
            message = json.loads(body)
            if message.get("origin") == self._origin or not self._fresh(message):
                return
            drops = [(str(ns), [str(key) for key in keys]) for ns, keys in message["drop"].items()]
        except (ValueError, KeyError, TypeError, AttributeError):
            logger.warning("ignoring a malformed message on %s", self.channel)
            return
        for namespace, keys in drops:
            hook = self._hooks.get(namespace)
            if hook is None:
                continue
            for key in keys:
                hook(key)

    def _fresh(self, message: dict[str, Any]) -> bool:
        """Sent recently and not taken before from its sender; else a replay."""
        origin, sequence, sent = str(message["origin"]), int(message["seq"]), float(message["sent"])
        recent = self._clock() - sent <= self.options.message_max_age
        if recent and self._senders.take(origin, sequence):
            return True
        if self._unreadable.allow("replay") is not None:
            logger.warning(
                "ignoring an old or repeated message on %s (a replay); further ones are "
                "ignored silently",
                self.channel,
            )
        return False

    async def _listen_forever(self) -> None:
        while not self._closed:
            try:
                await self._listen()
            except _FAILURES as error:
                lost = isinstance(error, (RedisConnectionError, ConnectionError))
                self._failed("subscribe", error, certain=lost)  # a lost connection: down
            except Exception:
                logger.exception("the Redis listener failed; it starts again")
            await asyncio.sleep(self._listen_backoff)
            self._listen_backoff = min(self.options.max_backoff, self._listen_backoff * 2)

    async def _listen(self) -> None:
        pubsub = (await self._subscriber()).pubsub()
        try:
            async with asyncio.timeout(self.options.connect_timeout * 2):
                await pubsub.subscribe(self.channel)
            self._subscriptions += 1
            self._listen_backoff = self.options.min_backoff
            if self._subscriptions > 1:  # messages sent while we were away are lost
                self._resync()
            if self._cluster is None:  # one node of a cluster up says nothing of the others
                self.circuit.succeeded()
            await self._flush_pending()
            while not self._closed:
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=self.options.listen_interval
                )
                if message is not None and message.get("type") == "message":
                    self._received(message["data"])
                if self._probe_due:  # requests failed while this connection lived: probe
                    with contextlib.suppress(SharedCacheUnavailable):
                        await self._call("ping", self._ping)
                elif self.circuit.up and self._pending:
                    await self._flush_pending()
        finally:
            with contextlib.suppress(*_FAILURES):
                await pubsub.aclose()

    async def _subscriber(self) -> aioredis.Redis:
        """Where the listener subscribes: the Redis server, or one node of the cluster, the
        next one at each attempt (after a failure), so a node that went down is left."""
        if self._cluster is None or not isinstance(self._client, RedisCluster):
            return self._listener_client
        known = {(node.host, int(node.port)) for node in self._client.get_nodes()}
        nodes = sorted(known | set(self._cluster.nodes))
        host, port = nodes[self._listener_turn % len(nodes)]
        self._listener_turn += 1
        await self._listener_client.aclose()
        self._listener_client = self._listener_to(self._cluster.node_url(host, port))
        return self._listener_client

    def _resync(self) -> None:
        for hook in self._resync_hooks:
            hook()

    # -- sealing --------------------------------------------------------------------------

    def _seal(self, name: str, value: bytes, tag: str) -> bytes:
        return tag.encode() + b":" + self._sealer.seal(value, context=_context(name, tag))

    def _open(self, name: str, raw: bytes | str | None) -> bytes | None:
        """The value stored under ``name``, or None (a miss) when it does not authenticate."""
        data = _bytes(raw)
        if data is None:
            return None
        tag, separator, sealed = data.partition(b":")
        try:
            if not separator or len(sealed) > MAX_ENTRY_BYTES:
                raise ValueError("not an entry wixapp wrote")
            return self._sealer.open(sealed, context=_context(name, tag.decode("ascii")))
        except (ValueError, UnicodeDecodeError) as error:
            self._unreadable_entry(name, error)
            return None

    def _unreadable_entry(self, name: str, error: Exception) -> None:
        if self._on_error is not None:
            self._on_error("unreadable")
        if self._unreadable.allow("entry") is not None:
            logger.warning(
                "ignoring an entry of the shared cache that does not authenticate (%s, at %s): "
                "it was not written by this app with this secret; further ones are counted in "
                'wixapp_shared_cache_errors_total{operation="unreadable"}',
                error,
                name,
            )

    def _sign(self, body: str) -> str:
        mac = hmac.new(self._signing_key, body.encode(), hashlib.sha256).hexdigest()
        return f"{mac}.{body}"

    def _verified(self, message: bytes) -> bytes | None:
        mac, separator, body = message.partition(b".")
        expected = hmac.new(self._signing_key, body, hashlib.sha256).hexdigest().encode()
        return body if separator and hmac.compare_digest(mac, expected) else None

    # -- scripts and key names -------------------------------------------------------------

    def script(self, source: str) -> Callable[[list[str], list[Any]], Awaitable[Any]]:
        """A Lua script run through the circuit (for budgets shared by every process)."""
        registered = self._client.register_script(source)

        async def run(keys: list[str], args: list[Any]) -> Any:
            call = lambda: registered(keys=keys, args=args)  # noqa: E731
            return await self._call("script", call, quick=True)

        return run

    def name(self, namespace: str, key: str) -> str:
        """A key for :meth:`script`: every name of one namespace is in one cluster slot, so
        one script may touch several."""
        return f"{self._base}:{{{namespace}}}:{key}"

    def _key(self, namespace: str, key: str) -> str:
        return _value_name(self._base, namespace, key)

    def _lock(self, namespace: str, key: str) -> str:
        return f"{self._base}:lock:{_tagged(namespace, key)}"

    def _failure(self, namespace: str, key: str) -> str:
        return f"{self._base}:fail:{_tagged(namespace, key)}"


class _Senders:
    """The sequence numbers taken from each sender, to refuse a message taken before.

    A sender's concurrent broadcasts may arrive out of order, so the last ``window`` numbers
    below its highest are remembered one by one, and anything older is refused."""

    window = 1_024

    def __init__(self, max_senders: int) -> None:
        self._max_senders = max_senders
        self._taken: OrderedDict[str, tuple[int, set[int]]] = OrderedDict()

    def take(self, sender: str, sequence: int) -> bool:
        highest, taken = self._taken.pop(sender, (0, set()))
        if sequence in taken or sequence <= highest - self.window:
            self._taken[sender] = (highest, taken)
            return False
        taken.add(sequence)
        highest = max(highest, sequence)
        if len(taken) > 2 * self.window:  # now and then, not per message
            taken = {each for each in taken if each > highest - self.window}
        self._taken[sender] = (highest, taken)  # the most recent sender last
        if len(self._taken) > self._max_senders:
            self._taken.popitem(last=False)
        return True


def entry_name(prefix: str, scope: str, namespace: str, key: str) -> str:
    """The Redis key holding a cached value (see the layout above)."""
    return _value_name(f"{prefix}:{scope}", namespace, key)


def _value_name(base: str, namespace: str, key: str) -> str:
    return f"{base}:{_tagged(namespace, key)}"


def _tagged(namespace: str, key: str) -> str:
    """The hash tag of a cache key: its value, lock and failure share a cluster slot."""
    return f"{{{namespace}:{key}}}"


def _bytes(raw: bytes | str | None) -> bytes | None:
    return raw.encode() if isinstance(raw, str) else raw


def _context(name: str, tag: str) -> bytes:
    return f"{name}\0{tag}".encode()


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    name = type(error).__name__
    return f"{name}: {text[:120]}" if text else name
