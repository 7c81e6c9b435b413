"""Synchronous access to one async ``WixApp``, for WSGI code (Flask, Django) and threads.

There are no sync twins of wixapp's modules: :class:`SyncWixApp` owns one event loop running
in a background thread, creates the ``WixApp`` on it and hands every call to it. Any number
of threads share that loop, so they share one cache and one single-flight: fifty threads
identifying the same fresh token make one token-info call. Code already running on another
event loop (a Django async view) awaits the same calls without blocking its loop
(``await facade.arun(...)``).

    wix = SyncWixApp()                    # settings from the environment
    caller = wix.identify(request.headers.get("Authorization"))
    with wix.elevated_client(caller.instance_id) as http:
        http.get("/apps/v1/instance")
    with wix.instance_transaction(caller.instance_id) as db:    # the app's own tables
        db.execute(db.select(notes))
    wix.close()                           # or use it as a context manager
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

import httpx
from sqlalchemy import Engine
from starlette.responses import JSONResponse

from wixapp.app import WixApp
from wixapp.cache.shared import one_request_context
from wixapp.config import Settings, load_settings
from wixapp.identity import InstanceData
from wixapp.models import AppToken, Caller
from wixapp.store import SyncInstanceConnection, make_sync_engine
from wixapp.web import Credentials, Edge, Guard
from wixapp.webhooks import WebhookEvent, WebhookRouter

__all__ = ["BackgroundLoop", "SyncWixApp"]

T = TypeVar("T")


class BackgroundLoop:
    """An event loop of its own in a daemon thread; other threads and loops submit to it."""

    def __init__(self, *, name: str = "wixapp-loop") -> None:
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()
        self._started.wait()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the loop and block this thread until it is done."""
        if threading.current_thread() is self._thread:
            work.close()
            raise RuntimeError(
                "A wixapp sync call was made from its own event loop; await the async API there."
            )
        self._check_running(work)
        call = _Call(work)
        self._loop.call_soon_threadsafe(call.start, self._loop)
        return call.result()

    async def arun(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the loop from another event loop, without blocking that one."""
        return await asyncio.wrap_future(self.submit(work))

    def submit(self, work: Coroutine[Any, Any, T]) -> Future[T]:
        self._check_running(work)
        return asyncio.run_coroutine_threadsafe(work, self._loop)

    def _check_running(self, work: Coroutine[Any, Any, T]) -> None:
        if not self.running:
            work.close()
            raise RuntimeError("This wixapp background loop is closed; create a new one.")

    def close(self, *, timeout: float = 10.0) -> None:
        """Stop the loop after what it is running, and wait for its thread."""
        if self.running:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._started.set)
        try:
            self._loop.run_forever()
        finally:
            self._finish()

    def _finish(self) -> None:
        # Tasks still pending at close (a background webhook handler) are cancelled and
        # awaited, so nothing is left half-run and no "task destroyed" warning appears.
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        if pending:
            gathered = asyncio.gather(*pending, return_exceptions=True)
            self._loop.run_until_complete(gathered)
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()


class _Call(Generic[T]):
    """One coroutine run as a task on the loop for one waiting thread.

    A plain lock is the latch: ``run_coroutine_threadsafe``'s ``concurrent.futures.Future``
    (a condition variable, and a second future chained to the task) made a round trip cost
    about 45% more CPU (bench/sync_overhead.py).
    """

    def __init__(self, work: Coroutine[Any, Any, T]) -> None:
        self._work = work
        self._done = threading.Lock()
        self._done.acquire()
        self._task: asyncio.Task[T] | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        # One call, one request: its calls to Redis share one time budget.
        self._task = loop.create_task(self._work, context=one_request_context())
        self._task.add_done_callback(self._finished)

    def _finished(self, _task: asyncio.Task[T]) -> None:
        self._done.release()

    def result(self) -> T:
        self._done.acquire()
        assert self._task is not None  # set before the latch opens
        return self._task.result()


class SyncWixApp:
    """One ``WixApp`` on a background loop, driven from sync code (any thread) or other loops.

    ``identify``, ``instance``, ``app_token`` and ``forget_instance`` block the calling
    thread until the async core answers; ``elevated_client`` and ``caller_client`` give sync
    ``httpx.Client`` objects whose requests the async clients send; ``verify_webhook`` and
    ``receive_webhook`` check (and apply) Wix's webhooks. ``close()`` drains the webhook
    handlers, closes the store and the app and stops the loop (also at interpreter exit);
    a closed facade refuses further calls.

    A process forked from one that used the facade (a server that preloads the app, then
    forks its workers) gets a loop and a ``WixApp`` of its own on first use: threads, sockets
    and caches do not cross a fork.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] | None = None,
        webhooks: WebhookRouter | None = None,
        guard: Iterable[str] | Guard | None = None,
        legacy: bool | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self.webhooks = webhooks if webhooks is not None else WebhookRouter()
        self._transport = transport
        self._clock = clock
        self._edge_options: dict[str, Any] = {"guard": guard, "legacy": legacy}
        self._closed = False
        self._lock = threading.Lock()
        self._core = self._open_core()

    def _open_core(self) -> _Core:
        core = _Core.open(self)
        # Closed at interpreter exit too, if nobody called close(): no half-written store.
        weakref.finalize(self, core.close)
        return core

    def _live_core(self) -> _Core:
        if self._closed:
            raise RuntimeError("This SyncWixApp is closed; create a new one.")
        core = self._core
        if core.pid != os.getpid():
            with self._lock:
                if self._core.pid != os.getpid():
                    self._core = self._open_core()
                core = self._core
        return core

    # -- running work on the core

    def run(self, work: Callable[[WixApp], Awaitable[T]]) -> T:
        """``work(wix)`` on the background loop; blocks this thread until it returns."""
        core = self._live_core()
        return core.loop.run(core.call(work))

    async def arun(self, work: Callable[[WixApp], Awaitable[T]]) -> T:
        """``work(wix)`` on the background loop, awaited from another event loop."""
        core = self._live_core()
        return await core.loop.arun(core.call(work))

    # -- the WixApp API, blocking

    def identify(self, authorization: str | None, *, client: str | None = None) -> Caller:
        """The caller behind an ``Authorization`` header value (see ``WixApp.identify``)."""
        return self.run(lambda wix: wix.identify(authorization, client=client))

    def identify_request(
        self, authorization: str | None, *, instance: str | None = None, client: str | None = None
    ) -> Caller:
        """The caller of a request: its Authorization header, else a legacy ``instance``."""
        return self.run(
            lambda wix: wix.identify_request(authorization, instance=instance, client=client)
        )

    # -- the shared request edge (what the Flask and Django adapters call)

    @property
    def edge(self) -> Edge:
        """The request edge on the core's loop: its guard, legacy switch and CORS policy are
        plain data any thread may read; call its coroutines through ``identify_credentials``
        and ``receive_webhook``."""
        return self._live_core().edge

    def identify_credentials(self, credentials: Credentials) -> Caller:
        """A request's caller, by the edge's rules (see :class:`wixapp.web.Edge`)."""
        core = self._live_core()
        return core.loop.run(_identified(core.edge, credentials))

    async def aidentify_credentials(self, credentials: Credentials) -> Caller:
        """The same, awaited from another event loop (a Django async view)."""
        core = self._live_core()
        return await core.loop.arun(_identified(core.edge, credentials))

    def instance(self, instance_id: str) -> InstanceData:
        return self.run(lambda wix: wix.instance(instance_id))

    def app_token(self, instance_id: str) -> AppToken:
        return self.run(lambda wix: wix.app_token(instance_id))

    def forget_instance(self, instance_id: str) -> None:
        """Drop the instance's cached token and data; returns once every process is told."""
        self.run(lambda wix: _awaited(wix.forget_instance(instance_id)))

    def elevated_client(self, instance_id: str, **kwargs: Any) -> httpx.Client:
        """A sync ``httpx.Client`` on the Wix API acting as the app for this instance.

        Its requests are sent by ``WixApp.elevated_client`` on the background loop, so the
        app token is minted once and shared with every other thread.
        """
        inner = self.run(lambda wix: _made(wix.elevated_client(instance_id)))
        return self._sync_client(inner, **kwargs)

    def caller_client(self, token: str, **kwargs: Any) -> httpx.Client:
        """A sync ``httpx.Client`` on the Wix API acting as the caller behind ``token`` (the
        visitor, member or Wix user; see ``WixApp.caller_client``). Identify them first.

        The unbound token Wix swaps it for is cached on the core, shared by every thread.
        """
        inner = self.run(lambda wix: _made(wix.caller_client(token)))
        return self._sync_client(inner, **kwargs)

    def _sync_client(self, inner: httpx.AsyncClient, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("base_url", inner.base_url)
        kwargs.setdefault("timeout", inner.timeout)
        transport = LoopTransport(self._live_core().loop, inner)
        return httpx.Client(transport=transport, **kwargs)

    # -- the app's own tables

    @property
    def database_engine(self) -> Engine:
        """A sync SQLAlchemy Engine on ``WIXAPP_DATABASE_URL`` (wixapp's store database),
        made on first use, disposed by ``close()``. Filter every query by instance."""
        settings = self.settings
        return self._live_core().database_engine(
            settings.database_url, settings.sqlite_busy_timeout
        )

    @contextlib.contextmanager
    def instance_transaction(
        self, instance_id: str, *, caller: Caller | None = None
    ) -> Iterator[SyncInstanceConnection]:
        """A connection in a transaction bound to one instance (committed on exit, rolled
        back if the block raises): ``db.select``, ``db.insert``, ``db.update`` and
        ``db.delete`` carry its filter. For views (Flask's ``instance_db()``), jobs and
        webhook handlers (an ``AppRemoved`` purge)."""
        with self.database_engine.begin() as connection:
            yield SyncInstanceConnection(connection, instance_id, caller)

    # -- webhooks

    def verify_webhook(self, body: bytes | str) -> WebhookEvent:
        """Check a webhook's signature (``WIX_APP_PUBLIC_KEY``) and decode it; no side effect."""
        return self._live_core().edge.receiver.verify(body)

    def receive_webhook(self, body: bytes | str) -> JSONResponse:
        """Verify, apply to wixapp's store (``Lifecycle``), then start ``webhooks``' handlers;
        the answer for Wix."""
        core = self._live_core()
        return core.loop.run(core.edge.receiver.receive(body))

    # -- lifetime

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Finish background webhook handlers, close the store and the app, stop the loop."""
        with self._lock:
            self._closed = True
        self._core.close()

    def __enter__(self) -> SyncWixApp:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Core:
    """One process's loop, ``WixApp`` and started request edge (apart from the facade, so
    that a finalizer can close them without keeping the facade alive)."""

    def __init__(self, loop: BackgroundLoop, edge: Edge) -> None:
        self.pid = os.getpid()
        self.loop = loop
        self.edge = edge
        self.wix = edge.wix
        self.closed = False
        self._engine: Engine | None = None
        self._engine_lock = threading.Lock()

    @classmethod
    def open(cls, facade: SyncWixApp) -> _Core:
        loop = BackgroundLoop()
        try:
            edge = loop.run(_started(facade))
        except BaseException:
            loop.close()
            raise
        return cls(loop, edge)

    async def call(self, work: Callable[[WixApp], Awaitable[T]]) -> T:
        return await work(self.wix)

    def database_engine(self, database_url: str, sqlite_busy_timeout: float) -> Engine:
        with self._engine_lock:
            if self._engine is None:
                self._engine = make_sync_engine(
                    database_url, sqlite_busy_timeout=sqlite_busy_timeout
                )
            return self._engine

    def close(self) -> None:
        # In a forked child the loop's thread does not exist: nothing here to close.
        if self.closed or self.pid != os.getpid():
            return
        self.closed = True
        if self._engine is not None:
            self._engine.dispose()
        try:
            self.loop.run(self._aclose())
        finally:
            self.loop.close()

    async def _aclose(self) -> None:
        try:
            await self.edge.aclose()
        finally:
            await self.wix.aclose()


async def _started(facade: SyncWixApp) -> Edge:
    # Built on the loop it runs on: whatever it binds to a loop binds to this one. The edge
    # starts with the app (the removals loaded, the lifecycle running), as the backend's.
    wix = WixApp(facade.settings, transport=facade._transport, clock=facade._clock)
    try:
        await wix.start()
        edge = Edge(wix, webhooks=facade.webhooks, **facade._edge_options)
        await edge.start()
    except BaseException:
        await wix.aclose()
        raise
    return edge


class LoopTransport(httpx.BaseTransport):
    """A sync transport whose requests an ``httpx.AsyncClient`` sends on a background loop.

    The async client's auth, base URL and transport apply; the answer's raw bytes and headers
    come back unchanged, so the sync client decodes them as usual.
    """

    def __init__(self, loop: BackgroundLoop, client: httpx.AsyncClient) -> None:
        self._loop = loop
        self._client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        return self._loop.run(self._send(request))

    async def _send(self, request: httpx.Request) -> httpx.Response:
        forwarded = self._client.build_request(
            request.method, request.url, headers=request.headers, content=request.content
        )
        response = await self._client.send(forwarded, stream=True)
        try:
            raw = b"".join([chunk async for chunk in response.aiter_raw()])
        finally:
            await response.aclose()
        return httpx.Response(response.status_code, headers=response.headers, content=raw)

    def close(self) -> None:
        if self._loop.running:
            self._loop.run(self._client.aclose())


async def _awaited(work: Awaitable[None]) -> None:
    await work


async def _identified(edge: Edge, credentials: Credentials) -> Caller:
    return await edge.identify(credentials)


async def _made(value: T) -> T:
    """Return ``value``: built inside ``run``, on the loop it belongs to."""
    return value
