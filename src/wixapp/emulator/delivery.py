"""Webhook delivery, as Wix does it (spec §7): signed RS256, retried on Wix's schedule.

``WebhookDeliverer`` listens to the emulator's lifecycle events. For an app with a webhook
URL (``configure``) each event becomes a delivery: a POST whose whole body is the JWT,
signed with the app's own RSA key by ``webhook_signing``, as Wix keeps one per app
(``public_key_pem(app_id)`` is what that app's backend configures as WIX_APP_PUBLIC_KEY). A
2xx within ``DELIVERY_TIMEOUT`` is a success; any other status, a timeout or a connection
error is a failure, retried after ``RETRY_SCHEDULE[n]`` seconds on the *emulator* clock, so
``advance_clock`` makes due retries fire. Every attempt of a delivery carries the same
``iat`` (the backend's dedupe key stays equal) and a fresh ``exp``.

Deliveries run in a background task ("the pump") on the event loop that emitted the event
or moved the clock; it checks for due deliveries whenever woken and every ``POLL_SECONDS``,
and stops when nothing is pending. Without a running loop (an event emitted from sync
code) a delivery waits for the next ``flush()``, event or clock move inside a loop.

For tests: ``flush()`` attempts what is due now and waits; ``hold()`` keeps new deliveries
back until ``release(order)`` sends them in any order; ``redeliver(id)`` sends a duplicate;
``use_transport`` routes deliveries through any httpx transport (an ``ASGITransport`` to an
in-process backend); the log (``deliveries()``) lists every attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import httpx
from pydantic import Field

from wixapp.emulator.records import LifecycleEvent, Record
from wixapp.emulator.webhook_signing import WEBHOOK_TTL, WebhookSigner, pooled_key
from wixapp.emulator.wix_errors import EmulatorConflictError, EmulatorError, EmulatorNotFoundError
from wixapp.tasks import cancel_and_wait

__all__ = [
    "DELIVERY_TIMEOUT",
    "POLL_SECONDS",
    "RETRY_SCHEDULE",
    "DeliveryAttempt",
    "DeliveryState",
    "WebhookDeliverer",
    "WebhookDelivery",
    "WebhookTarget",
]

logger = logging.getLogger("wixapp.emulator")

RETRY_SCHEDULE: Final[tuple[float, ...]] = (
    60,
    600,
    3600,
    7200,
    7200,
    7200,
    14400,
    14400,
    14400,
    28800,
    28800,
    43200,
)
"""Seconds from a failed attempt to the next one: Wix's 12 retries over about two days."""

DELIVERY_TIMEOUT: Final = 1.25
"""Seconds Wix waits for the 200 before it counts a failure."""

POLL_SECONDS: Final = 0.5
"""Real seconds between the pump's checks for due retries while it waits."""

DeliveryState = Literal["pending", "held", "delivered", "failed"]


class DeliveryAttempt(Record):
    number: int
    at: float  # emulator clock
    status: int | None = None  # the HTTP status, if the backend answered
    error: str | None = None  # timeout or connection error, if it did not
    ok: bool
    seconds: float  # real time the attempt took


class WebhookTarget(Record):
    """Where an app's lifecycle webhooks go; ``url`` None: nowhere."""

    app_id: str
    url: str | None


class WebhookDelivery(Record):
    """One delivery and its attempts. A duplicate (``redeliver``) is a delivery of its own
    with ``duplicate_of`` set and the same ``issued_at``."""

    delivery_id: str
    event_type: str
    instance_id: str
    app_id: str
    url: str
    issued_at: int  # the JWT's iat, equal across attempts and duplicates
    state: DeliveryState
    attempts: tuple[DeliveryAttempt, ...] = ()
    next_attempt_at: float | None = None  # emulator clock; None unless pending
    duplicate_of: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    identity: dict[str, Any] = Field(default_factory=dict)
    account_info: dict[str, Any] | None = None


@dataclass(eq=False)
class _Delivery:
    delivery_id: str
    event_type: str
    instance_id: str
    app_id: str
    url: str
    issued_at: int
    data: dict[str, Any]
    state: DeliveryState
    next_at: float | None
    duplicate_of: str | None = None
    identity: dict[str, Any] = field(default_factory=dict)
    account_info: dict[str, Any] | None = None
    attempts: list[DeliveryAttempt] = field(default_factory=list)

    def due(self, now: float) -> bool:
        return self.state == "pending" and self.next_at is not None and self.next_at <= now

    def record(self) -> WebhookDelivery:
        return WebhookDelivery(
            delivery_id=self.delivery_id,
            event_type=self.event_type,
            instance_id=self.instance_id,
            app_id=self.app_id,
            url=self.url,
            issued_at=self.issued_at,
            state=self.state,
            attempts=tuple(self.attempts),
            next_attempt_at=self.next_at if self.state == "pending" else None,
            duplicate_of=self.duplicate_of,
            data=dict(self.data),
            identity=dict(self.identity),
            account_info=self.account_info,
        )


class _KeepOpen(httpx.AsyncBaseTransport):
    """An injected transport, lent to a short-lived client that must not close it."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        pass


class WebhookDeliverer:
    """Signs, sends, retries and logs the emulator's webhooks; see the module docstring."""

    def __init__(self, *, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._signers: dict[str, WebhookSigner] = {}  # app ID → its key, kept across resets
        self._transport: httpx.AsyncBaseTransport | None = None
        self._pump: asyncio.Task[None] | None = None
        self._pump_loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self.reset()

    def reset(self) -> None:
        """Forget URLs, holds and the log; stop the pump. The keys and transport stay."""
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
        self._pump = None
        self._urls: dict[str, str] = {}
        self._deliveries: dict[str, _Delivery] = {}
        self._ids = itertools.count(1)
        self._last_iat: dict[str, int] = {}
        self._holding = False

    # ---- configuration

    def configure(self, app_id: str, url: str | None) -> None:
        """Deliver ``app_id``'s lifecycle events to ``url`` (None: stop delivering)."""
        if url is None:
            self._urls.pop(app_id, None)
            return
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise EmulatorError(f"The webhook URL must be an absolute http(s) URL, not {url!r}.")
        self._urls[app_id] = url

    def url_for(self, app_id: str) -> str | None:
        return self._urls.get(app_id)

    def public_key_pem(self, app_id: str) -> str:
        """The PEM public key ``app_id``'s webhooks verify with (its WIX_APP_PUBLIC_KEY)."""
        return self._signer_for(app_id).public_key_pem

    def _signer_for(self, app_id: str) -> WebhookSigner:
        signer = self._signers.get(app_id)
        if signer is None:
            signer = self._signers[app_id] = WebhookSigner(pooled_key(len(self._signers)))
        return signer

    def use_transport(self, transport: httpx.AsyncBaseTransport | None) -> None:
        """Send deliveries through ``transport`` (None: real HTTP). It is never closed here."""
        self._transport = transport

    # ---- events in

    def notify(self, event: LifecycleEvent) -> None:
        """The lifecycle listener: queue a delivery if the app has a webhook URL."""
        url = self._urls.get(event.app_id)
        if url is None:
            return
        delivery = _Delivery(
            delivery_id=self._next_id(),
            event_type=event.event_type,
            instance_id=event.instance_id,
            app_id=event.app_id,
            url=url,
            issued_at=self._issued_at(event),
            data=dict(event.data),
            state="held" if self._holding else "pending",
            next_at=None if self._holding else self._clock(),
            identity=dict(event.identity),
            account_info=event.account_info,
        )
        self._deliveries[delivery.delivery_id] = delivery
        self._kick()

    def sign_now(self, event: LifecycleEvent) -> str:
        """The body Wix would POST for ``event`` now (not delivered, not logged)."""
        iat = math.floor(self._clock())
        return self._signer_for(event.app_id).sign(
            event.event_type,
            event.instance_id,
            event.data,
            identity=event.identity,
            iat=iat,
            exp=iat + WEBHOOK_TTL,
            account_info=event.account_info,
        )

    def clock_moved(self) -> None:
        """The emulator clock jumped: retries may be due now."""
        self._kick()

    # ---- the log and test controls

    def deliveries(self) -> list[WebhookDelivery]:
        return [delivery.record() for delivery in list(self._deliveries.values())]

    def delivery(self, delivery_id: str) -> WebhookDelivery:
        return self._find(delivery_id).record()

    def redeliver(self, delivery_id: str) -> WebhookDelivery:
        """Send the event of ``delivery_id`` again, as a new delivery: a duplicate."""
        original = self._find(delivery_id)
        duplicate = _Delivery(
            delivery_id=self._next_id(),
            event_type=original.event_type,
            instance_id=original.instance_id,
            app_id=original.app_id,
            url=original.url,
            issued_at=original.issued_at,
            data=dict(original.data),
            state="held" if self._holding else "pending",
            next_at=None if self._holding else self._clock(),
            duplicate_of=original.duplicate_of or original.delivery_id,
            identity=dict(original.identity),
            account_info=original.account_info,
        )
        self._deliveries[duplicate.delivery_id] = duplicate
        self._kick()
        return duplicate.record()

    def hold(self) -> None:
        """Keep new deliveries back (state "held") until ``release``."""
        self._holding = True

    @property
    def holding(self) -> bool:
        return self._holding

    async def release(self, order: Iterable[str] | None = None) -> list[WebhookDelivery]:
        """Stop holding and send the held deliveries one by one: those named in ``order``
        first, in that order, then the rest as they were emitted. Returns them."""
        async with self._locked():
            batch = self._release_order(list(order or ()))
            self._holding = False
            now = self._clock()
            for delivery in batch:
                delivery.state, delivery.next_at = "pending", now
            await self._attempt_all(batch)
        self._kick()
        return [delivery.record() for delivery in batch]

    async def flush(self) -> list[WebhookDelivery]:
        """Attempt every delivery due now (emulator clock), wait for them, return the log."""
        await self._deliver_due()
        return self.deliveries()

    async def aclose(self) -> None:
        """Stop the pump (pending deliveries stay in the log)."""
        pump, self._pump = self._pump, None
        if pump is None or pump.done():
            return
        loop = self._pump_loop
        if loop is _running_loop():
            await cancel_and_wait(pump)
        elif loop is not None and loop.is_running():  # the pump's thread (EmulatorServer)
            loop.call_soon_threadsafe(pump.cancel)
        else:
            pump.cancel()

    # ---- delivering

    async def _deliver_due(self) -> None:
        async with self._locked():
            now = self._clock()
            due = [d for d in list(self._deliveries.values()) if d.due(now)]
            due.sort(key=lambda d: (d.next_at or 0.0, _sequence(d.delivery_id)))
            await self._attempt_all(due)

    async def _attempt_all(self, deliveries: list[_Delivery]) -> None:
        if not deliveries:
            return
        transport = None if self._transport is None else _KeepOpen(self._transport)
        timeout = httpx.Timeout(DELIVERY_TIMEOUT)
        async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
            for delivery in deliveries:
                await self._attempt(client, delivery)

    async def _attempt(self, client: httpx.AsyncClient, delivery: _Delivery) -> None:
        at = self._clock()
        started = time.perf_counter()
        status, error = await self._post(client, delivery, at)
        ok = status is not None and 200 <= status < 300
        number = len(delivery.attempts) + 1
        delivery.attempts.append(
            DeliveryAttempt(
                number=number,
                at=at,
                status=status,
                error=error,
                ok=ok,
                seconds=round(time.perf_counter() - started, 4),
            )
        )
        if ok:
            delivery.state, delivery.next_at = "delivered", None
        elif number > len(RETRY_SCHEDULE):
            delivery.state, delivery.next_at = "failed", None
        else:
            delivery.next_at = at + RETRY_SCHEDULE[number - 1]

    async def _post(
        self, client: httpx.AsyncClient, delivery: _Delivery, at: float
    ) -> tuple[int | None, str | None]:
        body = self._signer_for(delivery.app_id).sign(
            delivery.event_type,
            delivery.instance_id,
            delivery.data,
            identity=delivery.identity or None,
            iat=delivery.issued_at,
            exp=math.ceil(at) + WEBHOOK_TTL,
            account_info=delivery.account_info,
        )
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        try:
            # An ASGITransport ignores httpx's timeouts; this deadline holds for every one.
            async with asyncio.timeout(DELIVERY_TIMEOUT):
                response = await client.post(delivery.url, content=body, headers=headers)
        except (TimeoutError, httpx.TimeoutException):
            return None, f"no answer within {DELIVERY_TIMEOUT} s"
        except Exception as exc:  # whatever the receiver does, the delivery just failed
            return None, f"{type(exc).__name__}: {exc}"
        return response.status_code, None

    # ---- the pump

    def _kick(self) -> None:
        current, loop = _running_loop(), self._pump_loop
        pump_alive = self._pump is not None and not self._pump.done()
        if pump_alive and loop is not None and loop.is_running():
            if loop is not current:  # the pump runs in another thread (EmulatorServer)
                loop.call_soon_threadsafe(self._kick)
            elif self._wake is not None:
                self._wake.set()
            return
        if current is None:  # no loop to run in: the next flush, event or clock move will
            return
        self._wake = asyncio.Event()
        self._pump_loop = current
        self._pump = current.create_task(self._run(self._wake), name="wix-emulator-webhooks")

    async def _run(self, wake: asyncio.Event) -> None:
        while True:
            wake.clear()
            try:
                await self._deliver_due()
            except Exception:  # a bug here must not stop every later delivery silently
                logger.exception("the emulator's webhook pump failed; it stops until kicked")
                return
            pending = [d.next_at for d in list(self._deliveries.values()) if d.state == "pending"]
            if not pending:
                return
            wait = min(max(min(n or 0.0 for n in pending) - self._clock(), 0.0), POLL_SECONDS)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await wake.wait()

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        async with self._lock:
            yield

    # ---- helpers

    def _find(self, delivery_id: str) -> _Delivery:
        try:
            return self._deliveries[delivery_id]
        except KeyError:
            raise EmulatorNotFoundError(f"No webhook delivery {delivery_id}.") from None

    def _release_order(self, order: list[str]) -> list[_Delivery]:
        held = [d for d in self._deliveries.values() if d.state == "held"]
        for delivery_id in order:
            if self._find(delivery_id).state != "held":
                raise EmulatorConflictError(f"Delivery {delivery_id} is not held.")
        if len(set(order)) != len(order):
            raise EmulatorError("Name each held delivery at most once in the order.")
        named = [self._deliveries[delivery_id] for delivery_id in order]
        return named + [d for d in held if d.delivery_id not in order]

    def _next_id(self) -> str:
        return f"dlv-{next(self._ids)}"

    def _issued_at(self, event: LifecycleEvent) -> int:
        # iat is whole seconds, as Wix's; two events of one instance never share one, or a
        # remove-and-reinstall within a second would look like a redelivery and be unordered.
        iat = max(int(event.at), self._last_iat.get(event.instance_id, -1) + 1)
        self._last_iat[event.instance_id] = iat
        return iat


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _sequence(delivery_id: str) -> int:
    return int(delivery_id.rpartition("-")[2])
