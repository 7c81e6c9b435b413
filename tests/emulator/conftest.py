"""Fixtures: a fresh in-process emulator per test, reached the way a backend reaches Wix."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from emulator_testkit import CONTROL_BASE_URL, WIX_BASE_URL, World
from starlette.applications import Starlette

from wixapp.emulator import EmulatorControl, EmulatorState, create_emulator


@pytest.fixture
def state() -> EmulatorState:
    return EmulatorState(seed=7)


@pytest.fixture
def emulator(state: EmulatorState) -> Starlette:
    return create_emulator(state=state)


@pytest.fixture
async def wix(emulator: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=emulator)
    async with httpx.AsyncClient(transport=transport, base_url=WIX_BASE_URL) as client:
        yield client


@pytest.fixture
async def control_http(emulator: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The control API as a tool on this machine reaches it (a loopback-only name)."""
    transport = httpx.ASGITransport(app=emulator)
    async with httpx.AsyncClient(transport=transport, base_url=CONTROL_BASE_URL) as client:
        yield client


@pytest.fixture
def control(control_http: httpx.AsyncClient) -> EmulatorControl:
    return EmulatorControl(control_http)


@pytest.fixture
def world(state: EmulatorState) -> World:
    app = state.register_app()
    site = state.create_site(display_name="Mysite 34", locale="he", payment_currency="ILS")
    other_app = state.register_app()
    other_site = state.create_site()
    return World(
        app=app,
        site=site,
        installation=state.install(app.app_id, site.site_id),
        other_app=other_app,
        other_installation=state.install(other_app.app_id, other_site.site_id),
    )
