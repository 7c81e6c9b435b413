"""The running stack for browser tests: the emulator and the backend on loopback ports.

Both are real uvicorn servers in background threads, on free ports of 127.0.0.1, so the
emulator's pages (the "Wix site" and "Wix editor") and the backend are different origins and
every widget call is a real cross-origin request with a real CORS preflight.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wixapp.config import Settings
from wixapp.emulator import EmulatorControl, EmulatorServer, RegisteredApp
from wixapp.server import create_app

STATIC_DIR = Path(__file__).resolve().parents[2] / "src" / "wixapp" / "static"
T = TypeVar("T")


def run(coroutine: Awaitable[T]) -> T:
    """Run one control-API coroutine from synchronous test code.

    In a thread of its own: Playwright's sync API keeps an event loop running in the test's
    thread, so ``asyncio.run`` cannot be called there.
    """

    async def main() -> T:
        return await coroutine

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="control") as pool:
        return pool.submit(asyncio.run, main()).result()


@dataclass(frozen=True)
class SiteInstall:
    name: str
    site_id: str
    instance_id: str


@dataclass
class Seen:
    """One request the backend received as it arrived on the wire, and how it answered."""

    method: str
    path: str
    headers: dict[str, str]
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RequestLog:
    """What reached the backend, recorded by an ASGI wrapper (sees CORS preflights too)."""

    requests: list[Seen] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def recorder(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            seen = Seen(scope["method"], scope["path"], _decode(scope["headers"]))
            with self._lock:
                self.requests.append(seen)

            async def recording_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    seen.status = message["status"]
                    seen.response_headers = _decode(message.get("headers", []))
                await send(message)

            await app(scope, receive, recording_send)

        return recorder

    def snapshot(self) -> list[Seen]:
        with self._lock:
            return list(self.requests)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()


def _decode(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in headers}


class ThreadedServer:
    """Any ASGI app under uvicorn on a free loopback port, in a daemon thread."""

    def __init__(self, app: ASGIApp, *, name: str) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        config = uvicorn.Config(
            app, lifespan="on", ws="none", log_level="warning", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: self._server.run(sockets=[self._socket]), name=name, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self, *, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"{self._thread.name} did not start; see its log above.")
            time.sleep(0.01)

    def stop(self, *, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        self._socket.close()


@dataclass
class Stack:
    """The emulator, one registered app installed on two sites, and its backend."""

    emulator: EmulatorServer
    backend: ThreadedServer
    backend_log: RequestLog
    app_id: str
    app_secret: str
    sites: Mapping[str, SiteInstall]
    database_dir: Path
    extra_servers: list[ThreadedServer] = field(default_factory=list)

    @property
    def emulator_url(self) -> str:
        return self.emulator.url

    @property
    def backend_url(self) -> str:
        return self.backend.url

    def control(self) -> EmulatorControl:
        return EmulatorControl.for_url(self.emulator_url)

    def call(self, action: Callable[[EmulatorControl], Awaitable[T]]) -> T:
        """Run one action against the control API: ``stack.call(lambda c: c.mint_token(…))``."""

        async def main() -> T:
            async with self.control() as control:
                return await action(control)

        return run(main())

    def start_backend(
        self,
        name: str,
        *,
        log: RequestLog | None = None,
        add_routes: Callable[[FastAPI], None] | None = None,
        **extra: Any,
    ) -> ThreadedServer:
        """Another backend of the same app, on its own database (for example a stricter one),
        with the app's own routes from ``add_routes``."""
        database = self.database_dir / f"{name}.db"
        app = create_app(
            backend_settings(self.app_id, self.app_secret, self.emulator_url, database, **extra)
        )
        if add_routes is not None:
            add_routes(app)
        server = ThreadedServer(log.wrap(app) if log else app, name="wixapp-backend-extra")
        server.start()
        self.extra_servers.append(server)
        return server

    def stop(self) -> None:
        for server in self.extra_servers:
            server.stop()
        self.backend.stop()
        self.emulator.stop()


def start_stack(database_dir: Path) -> Stack:
    emulator = EmulatorServer(seed=20240521, dashboard=True)
    emulator.start()
    try:
        return _start_backend(emulator, database_dir)
    except BaseException:
        emulator.stop()
        raise


def _start_backend(emulator: EmulatorServer, database_dir: Path) -> Stack:
    async def setup() -> tuple[RegisteredApp, dict[str, SiteInstall]]:
        async with EmulatorControl.for_url(emulator.url) as control:
            app = await control.register_app()
            sites: dict[str, SiteInstall] = {}
            for name in ("bakery", "bikes"):
                site = await control.create_site(display_name=name.title())
                installation = await control.install(app.app_id, site.site_id)
                sites[name] = SiteInstall(name, site.site_id, installation.instance_id)
            return app, sites

    app, sites = run(setup())
    log = RequestLog()
    backend_app = create_app(
        backend_settings(app.app_id, app.app_secret, emulator.url, database_dir / "backend.db")
    )
    backend = ThreadedServer(log.wrap(backend_app), name="wixapp-backend")
    backend.start()
    return Stack(
        emulator=emulator,
        backend=backend,
        backend_log=log,
        app_id=app.app_id,
        app_secret=app.app_secret,
        sites=sites,
        database_dir=database_dir,
    )


def backend_settings(
    app_id: str, app_secret: str, emulator_url: str, database: Path, **extra: Any
) -> Settings:
    return Settings(
        WIX_APP_ID=app_id,
        WIX_APP_SECRET=app_secret,
        WIX_API_BASE_URL=emulator_url,
        WIXAPP_DATABASE_URL=f"sqlite:///{database}",
        **extra,
    )
