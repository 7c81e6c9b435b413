"""The emulator as an ASGI app, served in-process, on a port, or in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Self

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount

from wixapp.emulator.guard import LocalOnly, RequestIds
from wixapp.emulator.hostpages import host_pages_routes
from wixapp.emulator.index import index_route
from wixapp.emulator.routes_control import CONTROL_PREFIX, control_routes
from wixapp.emulator.routes_wix import wix_routes
from wixapp.emulator.world import EmulatorState

__all__ = ["EmulatorServer", "create_emulator", "serve"]


def create_emulator(
    *,
    seed: int | None = None,
    state: EmulatorState | None = None,
    rate_limit: bool = False,
    allowed_hosts: Iterable[str] = (),
) -> Starlette:
    """The emulated Wix APIs plus the control API under ``/_emulator/``.

    ``app.state.emulator`` is the ``EmulatorState``; pass ``state`` to share one (then
    ``rate_limit`` is the state's). ``rate_limit`` plays Wix's 200 calls a minute per
    instance from the start (``wixapp emulator``, the demo and the pytest plugin turn it
    on). ``allowed_hosts`` adds names the control API and host pages answer besides
    loopback (see ``wixapp.emulator.guard``), and hosts whose backends and scripts the
    host pages may load.
    """
    allowed_hosts = tuple(allowed_hosts)
    routes: list[BaseRoute] = [
        *wix_routes(),
        Mount(CONTROL_PREFIX, routes=control_routes()),
        # The pages that play the Wix site and editor (dev and tests).
        *host_pages_routes(allowed_hosts=allowed_hosts),
        index_route(),  # GET /: the apps, sites and links to their pages
    ]
    middleware = [
        Middleware(RequestIds),  # outermost: refusals carry a request id too
        Middleware(LocalOnly, allowed_hosts=allowed_hosts),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.emulator = state or EmulatorState(seed=seed, rate_limit=rate_limit)
    return app


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    seed: int | None = None,
    rate_limit: bool = True,
    allowed_hosts: Iterable[str] = (),
) -> None:
    """Serve the emulator until interrupted (``wixapp emulator --port N``), throttling as
    Wix does unless ``rate_limit`` is off."""
    uvicorn.run(
        create_emulator(seed=seed, rate_limit=rate_limit, allowed_hosts=allowed_hosts),
        host=host,
        port=port,
        lifespan="off",
        ws="none",
        timeout_graceful_shutdown=1,  # a call held by a "hang" fault must not block exit
    )


class EmulatorServer:
    """The emulator on a real loopback port in a background thread, for tests.

    ``with EmulatorServer() as server:`` gives ``server.url`` and ``server.state``; port 0
    (the default) picks a free port.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        rate_limit: bool = False,
    ) -> None:
        self.app = create_emulator(seed=seed, rate_limit=rate_limit)
        self._socket = socket.create_server((host, port))
        config = uvicorn.Config(
            self.app, lifespan="off", ws="none", log_level="warning", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="wix-emulator", daemon=True)

    @property
    def state(self) -> EmulatorState:
        state: EmulatorState = self.app.state.emulator
        return state

    @property
    def url(self) -> str:
        host, port = self._socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self, *, timeout: float = 5.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("The emulator server did not start; see its log above.")
            time.sleep(0.01)

    def stop(self, *, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        self._socket.close()

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

    def _run(self) -> None:
        self._server.run(sockets=[self._socket])
