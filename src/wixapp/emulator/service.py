"""The emulator as an ASGI app, served in-process, on a port, or in a background thread."""

from __future__ import annotations

import contextlib
import shlex
import socket
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlencode

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp

from wixapp.emulator.dashboard_tls import (
    DASHBOARD_HOST,
    DASHBOARD_ORIGIN,
    chromium_flags,
    make_certificate,
)
from wixapp.emulator.guard import LocalOnly, RequestIds
from wixapp.emulator.hostpages import host_pages_routes
from wixapp.emulator.index import index_route
from wixapp.emulator.routes_control import CONTROL_PREFIX, control_routes
from wixapp.emulator.routes_wix import wix_routes
from wixapp.emulator.world import EmulatorState

__all__ = ["DashboardServer", "EmulatorServer", "create_emulator", "serve"]


def create_emulator(
    *,
    seed: int | None = None,
    state: EmulatorState | None = None,
    rate_limit: bool = False,
    allowed_hosts: Iterable[str] = (),
    dashboard: bool = False,
) -> Starlette:
    """The emulated Wix APIs plus the control API under ``/_emulator/``.

    ``app.state.emulator`` is the ``EmulatorState``; pass ``state`` to share one (then
    ``rate_limit`` is the state's). ``rate_limit`` plays Wix's 200 calls a minute per
    instance from the start (``wixapp emulator``, the demo and the pytest plugin turn it
    on). ``allowed_hosts`` adds names the control API and host pages answer besides
    loopback (see ``wixapp.emulator.guard``), and hosts whose backends and scripts the
    host pages may load. ``dashboard`` is the app behind the HTTPS port that plays
    ``https://manage.wix.com``: it answers that name too.
    """
    allowed_hosts = tuple(allowed_hosts)
    routes: list[BaseRoute] = [
        *wix_routes(),
        Mount(CONTROL_PREFIX, routes=control_routes()),
        # The pages that play the Wix site and editor (dev and tests).
        *host_pages_routes(allowed_hosts=allowed_hosts),
        index_route(),  # GET /: the apps, sites and links to their pages
    ]
    guarded_hosts = (*allowed_hosts, DASHBOARD_HOST) if dashboard else tuple(allowed_hosts)
    middleware = [
        Middleware(RequestIds),  # outermost: refusals carry a request id too
        Middleware(LocalOnly, allowed_hosts=guarded_hosts),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.emulator = state or EmulatorState(seed=seed, rate_limit=rate_limit)
    app.state.allowed_hosts = tuple(allowed_hosts)  # where a dashboard page may be
    return app


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    seed: int | None = None,
    rate_limit: bool = True,
    allowed_hosts: Iterable[str] = (),
    dashboard_port: int | None = None,
    log_config: dict[str, Any] | None = None,
) -> None:
    """Serve the emulator until interrupted (``wixapp emulator --port N``), throttling as
    Wix does unless ``rate_limit`` is off; with ``dashboard_port``, also over HTTPS there as
    ``https://manage.wix.com`` (printing the certificate and the chromium flags);
    ``log_config``: a dictConfig for uvicorn's loggers (default: uvicorn's own format)."""
    options: dict[str, Any] = {} if log_config is None else {"log_config": log_config}
    app = create_emulator(seed=seed, rate_limit=rate_limit, allowed_hosts=allowed_hosts)
    with contextlib.ExitStack() as stack:
        if dashboard_port is not None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wixapp-tls-")))
            dashboard = DashboardServer(app, host=host, port=dashboard_port, folder=folder)
            stack.enter_context(dashboard)
            print(dashboard.describe(), flush=True)
        uvicorn.run(
            app,
            host=host,
            port=port,
            **options,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=1,  # a call held by a "hang" fault must not block exit
        )


class _BackgroundServer:
    """One ASGI app under uvicorn on a bound socket, in a daemon thread (no signal handlers:
    uvicorn installs them only in the main thread)."""

    def __init__(self, app: ASGIApp, sock: socket.socket, name: str, **tls: Any) -> None:
        self._socket = sock
        config = uvicorn.Config(
            app, lifespan="off", ws="none", log_level="warning", timeout_graceful_shutdown=1, **tls
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: self._server.run(sockets=[sock]), name=name, daemon=True
        )

    @property
    def port(self) -> int:
        port: int = self._socket.getsockname()[1]
        return port

    def start(self, *, timeout: float = 5.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"{self._thread.name} did not start; see its log above.")
            time.sleep(0.01)

    def stop(self, *, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._socket.close()


class DashboardServer:
    """The emulator's pages over HTTPS as ``https://manage.wix.com``, sharing ``app``'s state.

    A certificate for ``manage.wix.com`` and ``*.manage.wix.com`` is made in ``folder``; a
    browser started with ``chromium_args`` reaches ``dashboard_url(...)`` on this port.
    """

    def __init__(
        self, app: Starlette, *, folder: Path, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.certificate = make_certificate(folder)
        secure_app = create_emulator(
            state=app.state.emulator, allowed_hosts=app.state.allowed_hosts, dashboard=True
        )
        self._server = _BackgroundServer(
            secure_app,
            socket.create_server((host, port)),
            "wix-emulator-dashboard",
            ssl_certfile=str(self.certificate.certfile),
            ssl_keyfile=str(self.certificate.keyfile),
        )

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def chromium_args(self) -> list[str]:
        """The flags a browser needs (plus, for tests, every other name sent nowhere)."""
        return chromium_flags(self.port)

    def dashboard_url(self, app_id: str, instance_id: str, page: str, **extra: str) -> str:
        """The dashboard host page around ``page`` for this app instance."""
        query = urlencode({"appId": app_id, "instanceId": instance_id, "page": page, **extra})
        return f"{DASHBOARD_ORIGIN}/dashboard?{query}"

    def describe(self) -> str:
        flags = " ".join(shlex.quote(flag) for flag in self.chromium_args)
        return (
            f"Wix dashboard host: {DASHBOARD_ORIGIN}/dashboard?appId=…&instanceId=…&page=URL"
            f" (HTTPS on port {self.port}; certificate SHA-256 {self.certificate.fingerprint})\n"
            f"  start chromium with: {flags}"
        )

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class EmulatorServer:
    """The emulator on a real loopback port in a background thread, for tests.

    ``with EmulatorServer() as server:`` gives ``server.url`` and ``server.state``; port 0
    (the default) picks a free port. ``dashboard=True`` also serves the dashboard host over
    HTTPS on ``dashboard_port`` (default: a free one; ``server.dashboard``, a
    ``DashboardServer``).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        rate_limit: bool = False,
        dashboard: bool = False,
        dashboard_port: int = 0,
    ) -> None:
        self.app = create_emulator(seed=seed, rate_limit=rate_limit)
        self._socket = socket.create_server((host, port))
        self._server = _BackgroundServer(self.app, self._socket, "wix-emulator")
        self._tls_folder = tempfile.TemporaryDirectory(prefix="wixapp-tls-") if dashboard else None
        self.dashboard = (
            DashboardServer(
                self.app, folder=Path(self._tls_folder.name), host=host, port=dashboard_port
            )
            if self._tls_folder
            else None
        )

    @property
    def state(self) -> EmulatorState:
        state: EmulatorState = self.app.state.emulator
        return state

    @property
    def url(self) -> str:
        host, port = self._socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self, *, timeout: float = 5.0) -> None:
        self._server.start(timeout=timeout)
        if self.dashboard is not None:
            self.dashboard.start()

    def stop(self, *, timeout: float = 5.0) -> None:
        if self.dashboard is not None:
            self.dashboard.stop()
        if self._tls_folder is not None:
            self._tls_folder.cleanup()
        self._server.stop(timeout=timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
