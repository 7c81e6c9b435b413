"""``wixapp dev``: the developer's loop on loopback, one command.

The emulator serves in a thread of this process (with its HTTPS dashboard host), an app is
registered and installed on two sites, and the user's app runs under uvicorn's reloader,
its settings pointing at the emulator through the environment (the reloader's worker is a
fresh process that reads it). When the project has ``frontend/build.mjs``, esbuild rebuilds
the bundles on change (``node build.mjs --watch``). Ctrl-C (or SIGTERM) stops the reloader
and its worker, then the watcher, then the emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from wixapp.demo import (
    AppUnderDemo,
    DemoSite,
    default_database_url,
    install_demo_sites,
    print_dashboards,
    print_host_pages,
)
from wixapp.emulator import EmulatorServer
from wixapp.emulator.control import EmulatorControl
from wixapp.errors import ConfigurationError
from wixapp.testing.loopback import LOOPBACK, port_or_free

__all__ = ["DevLoop", "run_dev"]

logger = logging.getLogger("wixapp.dev")

FRONTEND_BUILD = Path("frontend/build.mjs")
WATCHER_STOP_SECONDS = 5.0


@dataclass(frozen=True)
class DevLoop:
    """What ``wixapp dev`` runs: ``app.import_string`` is what uvicorn serves (the reloaded
    worker imports it); ``project`` is the folder whose ``src`` (or itself) is watched."""

    app: AppUnderDemo
    project: Path
    port: int = 8000
    emulator_port: int = 8765
    dashboard_port: int = 8443
    rate_limit: bool = True
    frontend: bool = True
    log_config: dict[str, Any] | None = None

    @property
    def source_folder(self) -> Path:
        source = self.project / "src"
        return source if source.is_dir() else self.project


@dataclass(frozen=True)
class _Registered:
    app_id: str
    environment: dict[str, str]
    sites: list[DemoSite]


def run_dev(loop: DevLoop) -> int:
    if loop.app.import_string is None:
        raise ConfigurationError("wixapp dev: name the app to serve (--app MODULE:ATTR)")
    port = port_or_free(loop.port)
    backend_url = f"http://{LOOPBACK}:{port}"
    with (
        _stop_on_sigterm(),
        EmulatorServer(
            port=port_or_free(loop.emulator_port),
            rate_limit=loop.rate_limit,
            dashboard=True,
            dashboard_port=port_or_free(loop.dashboard_port),
        ) as emulator,
    ):
        registered = asyncio.run(_register(emulator.url, backend_url, loop))
        os.environ.update(registered.environment)  # the reloader's worker inherits them
        with _frontend_watcher(loop):
            _print_pages(emulator, backend_url, registered, loop.app)
            _serve_with_reload(loop, port)
    return 0


async def _register(emulator_url: str, backend_url: str, loop: DevLoop) -> _Registered:
    """An app installed on two sites, its webhooks sent to the backend, and the settings
    that make the app talk to this emulator as that app."""
    async with EmulatorControl.for_url(emulator_url) as control:
        app = await control.register_app()
        sites = await install_demo_sites(control, app.app_id)
        await control.configure_webhooks(app.app_id, f"{backend_url}/webhooks")
        public_key = await control.webhook_public_key(app.app_id)
    environment = {
        "WIX_APP_ID": app.app_id,
        "WIX_APP_SECRET": app.app_secret,
        "WIX_API_BASE_URL": emulator_url,
        "WIX_APP_PUBLIC_KEY": public_key,
        "WIXAPP_DATABASE_URL": _database_url(loop.project),
    }
    return _Registered(app.app_id, environment, sites)


def _database_url(project: Path) -> str:
    """``var/dev.db`` in the project, emptied: each run registers a new app with new sites,
    so the last run's rows would belong to no one."""
    url = default_database_url("dev", project / "var")
    (project / "var" / "dev.db").unlink(missing_ok=True)
    return url


def _print_pages(
    emulator: EmulatorServer, backend_url: str, registered: _Registered, target: AppUnderDemo
) -> None:
    print("wixapp dev — the app reloads when its Python changes; Ctrl-C stops everything")
    print(f"  Wix emulator : {emulator.url}")
    print(f"  backend      : {backend_url}   (app {target.import_string})")
    print(f"  app ID       : {registered.app_id}")
    print_host_pages(emulator.url, backend_url, registered.app_id, registered.sites, target)
    if emulator.dashboard is not None:
        print_dashboards(
            emulator.dashboard, backend_url, registered.app_id, registered.sites, target
        )
    print(flush=True)


def _serve_with_reload(loop: DevLoop, port: int) -> None:
    uvicorn.run(
        str(loop.app.import_string),
        factory=loop.app.factory,
        host=LOOPBACK,
        port=port,
        reload=True,
        reload_dirs=[str(loop.source_folder)],
        log_config=loop.log_config,
    )


@contextlib.contextmanager
def _frontend_watcher(loop: DevLoop) -> Iterator[None]:
    """``node build.mjs --watch`` in the project's frontend, stopped on the way out."""
    build = loop.project / FRONTEND_BUILD
    if not loop.frontend or not build.is_file():
        yield
        return
    if not (build.parent / "node_modules").is_dir():
        raise ConfigurationError(
            f"wixapp dev: {build.parent}/node_modules is missing: run `make frontend` (or "
            "`npm ci` there) first, or pass --no-frontend"
        )
    node = shutil.which("node")
    if node is None:
        raise ConfigurationError("wixapp dev: Node.js is needed to rebuild the bundles")
    # Our own command line: node, found on PATH, runs the project's build script.
    watcher = subprocess.Popen([node, build.name, "--watch"], cwd=build.parent)  # noqa: S603
    try:
        yield
    finally:
        _stop(watcher)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(WATCHER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        logger.warning("the frontend watcher did not stop in %ss: killed", WATCHER_STOP_SECONDS)
        process.kill()
        process.wait()


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """SIGTERM unwinds as Ctrl-C does (uvicorn's reloader handles both while it runs)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
