"""pytest plugin: the Wix emulator in-process, a registered app, sites, tokens, a backend.

Installed with wixapp (entry point ``pytest11``), so a user's own tests get these fixtures
with no set-up:

- ``wix_emulator``: the emulator's ASGI app (fresh per test); ``wix_emulator_state`` is its
  state (register apps, install, mint tokens, move the clock, inject faults, count calls).
  It plays Wix's rate limit (200 calls a minute per instance, then 429 with
  ``Retry-After``), as Wix does: ``pytest --wix-rate-limit=off`` (or ``wix_rate_limit =
  false`` in the ini file, or a ``wix_rate_limit`` fixture of your own returning False)
  turns it off.
- ``wix_clock``: the emulator's movable clock, to share with the backend under test
  (``create_app(wix_settings, wix_transport=wix_transport, clock=wix_clock)``).
- ``wix_transport``: an ``httpx.ASGITransport`` to the emulator, for any Wix client.
- ``wix_registered_app``: an app registered at the emulator (ID and secret).
- ``wix_install``: a factory that creates a site and installs the app on it.
- ``wix_instance``: one such installation; ``wix_token``: a factory minting access tokens.
- ``wix_settings``: :class:`wixapp.config.Settings` pointing at the emulator, on a SQLite
  file in ``tmp_path``, with the emulator's webhook public key.
- ``wix_deliver_webhooks``: wires the emulator's webhooks for the registered app to an
  ASGI app in-process (``await wix_emulator_state.webhooks.flush()`` waits for them).
- ``wix_backend``: a factory that opens any ASGI app (running its lifespan) and gives an
  ``httpx.AsyncClient`` on it.
- ``wix_dashboard_host``: ``wix_emulator``'s Wix dashboard host served over HTTPS on a free
  loopback port as ``https://manage.wix.com`` (a ``DashboardServer``: its ``port``,
  ``chromium_args`` for the browser, ``dashboard_url(app_id, instance_id, page)``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the rest loads in the fixtures: pytest loads this plugin in every run
    import httpx

    from wixapp.config import Settings
    from wixapp.emulator import DashboardServer, EmulatorState, Installation, RegisteredApp
    from wixapp.testing.backend import InstallFactory, TokenFactory
    from wixapp.testing.clock import EmulatorClock

__all__: list[str] = []  # fixtures only; the helpers are in wixapp.testing


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "wix_rate_limit",
        "play Wix's rate limit (200 calls a minute per instance) in wix_emulator",
        type="bool",
        default=True,
    )
    parser.addoption(
        "--wix-rate-limit",
        choices=("on", "off"),
        default=None,
        help="play Wix's rate limit in the wix_emulator fixture (default: on, or the "
        "wix_rate_limit ini value)",
    )


@pytest.fixture
def wix_rate_limit(request: pytest.FixtureRequest) -> bool:
    """Whether ``wix_emulator`` throttles as Wix does; override to turn it off."""
    option = request.config.getoption("--wix-rate-limit")
    if option is not None:
        return bool(option == "on")
    return bool(request.config.getini("wix_rate_limit"))


@pytest.fixture
def wix_emulator(wix_rate_limit: bool) -> Any:
    from wixapp.emulator import create_emulator

    return create_emulator(seed=None, rate_limit=wix_rate_limit)


@pytest.fixture
def wix_emulator_state(wix_emulator: Any) -> EmulatorState:
    state: EmulatorState = wix_emulator.state.emulator
    return state


@pytest.fixture
def wix_clock(wix_emulator_state: EmulatorState) -> EmulatorClock:
    """The emulator's movable clock; give it to the backend (``create_app(..., clock=wix_clock)``)
    and ``wix_clock.advance(seconds)`` moves time for both."""
    from wixapp.testing.clock import EmulatorClock

    return EmulatorClock(wix_emulator_state)


@pytest.fixture
def wix_transport(wix_emulator: Any) -> httpx.ASGITransport:
    import httpx

    return httpx.ASGITransport(app=wix_emulator)


@pytest.fixture
def wix_registered_app(wix_emulator_state: EmulatorState) -> RegisteredApp:
    return wix_emulator_state.register_app()


@pytest.fixture
def wix_install(
    wix_emulator_state: EmulatorState, wix_registered_app: RegisteredApp
) -> InstallFactory:
    def install(*, display_name: str = "Test Site", **options: Any) -> Installation:
        site = wix_emulator_state.create_site(display_name=display_name)
        return wix_emulator_state.install(wix_registered_app.app_id, site.site_id, **options)

    return install


@pytest.fixture
def wix_instance(wix_install: InstallFactory) -> Installation:
    return wix_install()


@pytest.fixture
def wix_token(wix_emulator_state: EmulatorState) -> TokenFactory:
    def mint(
        instance_id: str,
        subject_type: str = "VISITOR",
        *,
        lifetime: float = 14_400.0,
        app_id: str | None = None,
    ) -> str:
        minted = wix_emulator_state.mint_token(
            instance_id, subject_type, lifetime=lifetime, app_id=app_id
        )
        return minted.token

    return mint


@pytest.fixture
def wix_settings(
    wix_registered_app: RegisteredApp, wix_emulator_state: EmulatorState, tmp_path: Path
) -> Settings:
    from wixapp.testing.settings import settings_for_emulator

    return settings_for_emulator(
        wix_registered_app,
        database_url=f"sqlite:///{tmp_path / 'wixapp.db'}",
        WIX_APP_PUBLIC_KEY=wix_emulator_state.webhook_public_key(wix_registered_app.app_id),
    )


@pytest.fixture
def wix_deliver_webhooks(
    wix_emulator_state: EmulatorState, wix_registered_app: RegisteredApp
) -> Callable[..., None]:
    """``wix_deliver_webhooks(app)``: the registered app's lifecycle webhooks go to ``app``'s
    ``/webhooks`` (or ``path``) through an in-process ``httpx.ASGITransport``."""

    def wire(app: Any, *, path: str = "/webhooks") -> None:
        import httpx

        wix_emulator_state.webhooks.use_transport(httpx.ASGITransport(app=app))
        url = f"http://backend.test{path}"
        wix_emulator_state.configure_webhooks(wix_registered_app.app_id, url)

    return wire


@pytest.fixture
def wix_backend() -> Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]:
    from wixapp.testing.backend import open_backend

    return open_backend


@pytest.fixture
def wix_dashboard_host(wix_emulator: Any, tmp_path: Path) -> Iterator[DashboardServer]:
    """The emulator's dashboard host on a free port, with a fresh certificate in tmp_path."""
    from wixapp.emulator import DashboardServer

    with DashboardServer(wix_emulator, folder=tmp_path / "dashboard-tls") as host:
        yield host
