"""Dispatch verified webhooks to the app's handlers, sync or async, in the background.

Wix wants a 200 within 1250 ms, so ``WebhookRouter.dispatch_in_background`` lets the route
answer before slow handlers finish. Handlers must be idempotent.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from wixapp.webhooks.events import WebhookEvent, canonical_event_type

logger = logging.getLogger("wixapp.webhooks")


# --- dispatch -----------------------------------------------------------------------------

Handler = Callable[[WebhookEvent], object]
"""A webhook handler: ``async def`` (awaited) or a plain function (run in a worker thread)."""

HandlerT = TypeVar("HandlerT", bound=Handler)


@dataclass(frozen=True, slots=True)
class DispatchResult:
    """Names of the handlers that ran, in order, and of those among them that raised."""

    ran: tuple[str, ...]
    failed: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True, slots=True)
class _Route:
    event_type: str | None  # canonical name; None matches every event
    handler: Handler
    name: str
    is_async: bool


class WebhookRouter:
    """Handlers per eventType, registered decorator-style, sync or async.

    ``dispatch`` runs every matching handler in registration order; one that raises is
    logged and the rest still run, so one buggy handler cannot block the others.
    """

    def __init__(self) -> None:
        self._routes: list[_Route] = []
        self._background: set[asyncio.Task[DispatchResult]] = set()

    def on(self, *event_types: str) -> Callable[[HandlerT], HandlerT]:
        """Decorator: run the handler for each of these eventTypes."""
        if not event_types:
            raise ValueError("name at least one eventType, or use on_any for every event")

        def register(handler: HandlerT) -> HandlerT:
            for event_type in event_types:
                self.add(handler, event_type)
            return handler

        return register

    def on_any(self, handler: HandlerT) -> HandlerT:
        """Decorator: run the handler for every event, known or not."""
        self.add(handler, None)
        return handler

    def add(self, handler: Handler, event_type: str | None = None) -> None:
        """Register without a decorator; ``event_type=None`` matches every event."""
        key = None if event_type is None else canonical_event_type(event_type)
        self._routes.append(_Route(key, handler, _name_of(handler), _is_async(handler)))

    async def dispatch(self, event: WebhookEvent) -> DispatchResult:
        ran: list[str] = []
        failed: list[str] = []
        for route in [r for r in self._routes if r.event_type in (None, event.kind)]:
            ran.append(route.name)
            if not await _run(route, event):
                failed.append(route.name)
        return DispatchResult(tuple(ran), tuple(failed))

    def dispatch_in_background(self, event: WebhookEvent) -> asyncio.Task[DispatchResult]:
        """Start ``dispatch`` without waiting, so the route can answer Wix at once."""
        task = asyncio.get_running_loop().create_task(self.dispatch(event))
        self._background.add(task)  # the loop keeps only a weak reference to tasks
        task.add_done_callback(self._settled)
        return task

    @property
    def pending(self) -> int:
        """Background dispatches not finished yet."""
        return len(self._background)

    async def drain(self) -> None:
        """Wait for every background dispatch, including ones started meanwhile."""
        while self._background:
            await asyncio.wait(tuple(self._background))

    async def shutdown(self, grace: float) -> int:
        """Drain for up to ``grace`` seconds, then cancel what is left; returns how many
        dispatches were cancelled (logged, so a lost handler run is never silent).

        A sync handler already running in its worker thread cannot be interrupted: its
        dispatch is cancelled, the thread finishes on its own.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._background and (remaining := deadline - loop.time()) > 0:
            await asyncio.wait(tuple(self._background), timeout=remaining)
        left = tuple(self._background)
        for task in left:
            task.cancel()
        if left:
            logger.warning(
                "Cancelled %d webhook dispatches still running at shutdown; their handlers "
                "did not finish. Wix will not redeliver those events.",
                len(left),
            )
            await asyncio.wait(left)
        return len(left)

    def _settled(self, task: asyncio.Task[DispatchResult]) -> None:
        self._background.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("Background webhook dispatch crashed.", exc_info=error)


async def _run(route: _Route, event: WebhookEvent) -> bool:
    try:
        if route.is_async:
            result = route.handler(event)
        else:
            result = await asyncio.to_thread(route.handler, event)
        if inspect.isawaitable(result):
            await result
    except Exception:
        # Names only: the event body and the handler's locals stay out of the log.
        logger.exception(
            "Webhook handler %s failed on %s for instance %s; the other handlers still ran.",
            route.name,
            event.event_type,
            event.instance_id,
        )
        return False
    return True


def _is_async(handler: Handler) -> bool:
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        type(handler).__call__
    )


def _name_of(handler: Handler) -> str:
    qualname = getattr(handler, "__qualname__", None) or type(handler).__qualname__
    module = getattr(handler, "__module__", None)
    return f"{module}.{qualname}" if module else str(qualname)
