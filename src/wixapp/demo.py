"""``wixapp demo``: the whole flow, offline, on loopback, visibly.

It starts the Wix emulator and the backend (SQLite) as real HTTP servers, registers an app,
installs it on two demo sites, and walks through identification, elevation and per-instance
settings, printing each request and answer. Then it keeps serving (the host pages let a
browser play the Wix site and editor) until Ctrl-C, or exits with ``--once``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI
from uvicorn.importer import import_from_string

from wixapp.config import Settings
from wixapp.emulator import DashboardServer, create_emulator
from wixapp.emulator.control import EmulatorControl
from wixapp.errors import ConfigurationError
from wixapp.server import create_app
from wixapp.testing.loopback import port_or_free, serving
from wixapp.testing.settings import settings_for_emulator

__all__ = [
    "AppUnderDemo",
    "DemoSite",
    "default_database_url",
    "install_demo_sites",
    "print_dashboards",
    "print_host_pages",
    "run_demo",
]


@dataclass(frozen=True)
class AppUnderDemo:
    """An app built on ``create_app`` to demo instead of wixapp's own, and where its widget,
    panel and dashboard page are (the host pages default to wixapp's)."""

    import_string: str | None = None  # MODULE:ATTR of a factory taking Settings
    factory: bool = False
    widget_tag: str | None = None
    widget_script: str | None = None
    panel: str | None = None
    dashboard_page: str = "/dashboard"  # its path on the backend

    def build(self, settings: Settings) -> FastAPI:
        if self.import_string is None:
            return create_app(settings)
        if not self.factory:
            raise ConfigurationError(
                f"--app {self.import_string}: the demo builds the app with the emulator's"
                " settings, so it needs a factory taking Settings (add --factory)."
            )
        app: FastAPI = import_from_string(self.import_string)(settings)
        return app

    def page_parameters(self) -> dict[str, str]:
        chosen = {"tag": self.widget_tag, "script": self.widget_script, "panel": self.panel}
        return {name: value for name, value in chosen.items() if value}


@dataclass(frozen=True)
class DemoSite:
    name: str
    instance_id: str
    site_id: str


class DemoFailed(Exception):
    """The flow did not go as it must; the message says which step."""


def run_demo(
    *,
    once: bool,
    port: int = 0,
    emulator_port: int = 0,
    database_url: str | None = None,
    app: AppUnderDemo | None = None,
    rate_limit: bool = True,
) -> int:
    try:
        return asyncio.run(
            _demo(once, port, emulator_port, database_url, app or AppUnderDemo(), rate_limit)
        )
    except DemoFailed as failure:
        print(f"\n✗ demo failed: {failure}", file=sys.stderr)
        return 1


async def _demo(
    once: bool,
    port: int,
    emulator_port: int,
    database_url: str | None,
    target: AppUnderDemo,
    rate_limit: bool,
) -> int:
    emulator = create_emulator(rate_limit=rate_limit)  # Wix's 200 calls a minute per instance
    async with (
        serving(emulator, port=port_or_free(emulator_port)) as emulator_url,
        EmulatorControl.for_url(emulator_url) as control,
    ):
        app = await control.register_app()
        sites = await install_demo_sites(control, app.app_id)
        settings = settings_for_emulator(
            app,
            base_url=emulator_url,
            database_url=database_url or default_database_url("demo"),
            WIXAPP_LAST_SEEN_INTERVAL=1.0,
        )
        async with serving(target.build(settings), port=port_or_free(port)) as backend_url:
            _banner(emulator_url, backend_url, app.app_id, (await control.behaviour()).rate_limit)
            await _flow(control, backend_url, sites)
            if once:
                print("\nDone: --once stops both servers now (run without it to keep them).")
                return 0
            print_host_pages(emulator_url, backend_url, app.app_id, sites, target)
            with (
                tempfile.TemporaryDirectory(prefix="wixapp-tls-") as folder,
                DashboardServer(emulator, folder=Path(folder), port=port_or_free(8443)) as host,
            ):
                print_dashboards(host, backend_url, app.app_id, sites, target)
                print("\nServing until Ctrl-C.")
                await _forever()
    return 0


async def install_demo_sites(control: EmulatorControl, app_id: str) -> list[DemoSite]:
    """Two sites with the app installed on a paid plan: the demo's and the dev loop's."""
    return [await _install(control, app_id, name) for name in ("Bakery", "Bike Shop")]


async def _install(control: EmulatorControl, app_id: str, name: str) -> DemoSite:
    site = await control.create_site(display_name=name)
    installation = await control.install(
        app_id, site.site_id, is_free=False, package_name="premium", billing_cycle="MONTHLY"
    )
    return DemoSite(name, installation.instance_id, site.site_id)


async def _flow(control: EmulatorControl, backend_url: str, sites: list[DemoSite]) -> None:
    first, second = sites
    async with httpx.AsyncClient(base_url=backend_url, timeout=10) as backend:
        _step(1, f"A visitor of “{first.name}” calls GET /get-instance with its Wix token")
        visitor = await control.mint_token(first.instance_id, "VISITOR")
        found = await _call(backend, "GET", "/get-instance", visitor.token)
        _expect(found["instanceId"] == first.instance_id, "the backend named the wrong instance")
        print(f"   → the backend identified instance {found['instanceId']}")

        _step(2, "The same, asking for the elevated instance data (?include=instance)")
        found = await _call(backend, "GET", "/get-instance?include=instance", visitor.token)
        site = found["instance"]["site"]
        plan = found["instance"]["instance"].get("billing", {})
        print(
            f"   → site {site.get('siteDisplayName')!r} at {site.get('url')}, "
            f"plan {plan.get('packageName')} {plan.get('billingCycle')}"
        )

        _step(3, f"The owner of “{first.name}” (a USER token from the editor) saves a greeting")
        owner = await control.mint_token(first.instance_id, "USER")
        current = await backend.get("/api/settings", headers={"Authorization": owner.token})
        greeting = f"Welcome to the {first.name}!"
        saved = await _call(
            backend,
            "PUT",
            "/api/settings",
            owner.token,
            json={**current.json()["settings"], "greeting": greeting},
            headers={"If-Match": current.headers["ETag"]},
        )
        print(f"   → saved, version {saved['version']}")

        _step(4, "A visitor of the same site reads the settings")
        read = await _call(backend, "GET", "/api/settings", visitor.token)
        _expect(read["settings"]["greeting"] == greeting, "the visitor did not see the greeting")
        print(f"   → greeting: {read['settings']['greeting']!r}")

        _step(5, "A visitor tries to change the settings: refused, only a USER may")
        refused = await backend.put(
            "/api/settings",
            json=read["settings"],
            headers={"Authorization": visitor.token, "If-Match": "*"},
        )
        _expect(refused.status_code == 403, "a visitor was allowed to write settings")
        print(f"   → {refused.status_code} {refused.json()['error']}")

        _step(6, f"A visitor of “{second.name}” sees none of it")
        other = await control.mint_token(second.instance_id, "VISITOR")
        theirs = await _call(backend, "GET", "/api/settings", other.token)
        _expect(theirs["instanceId"] == second.instance_id, "the other site got the wrong tenant")
        _expect(theirs["settings"]["greeting"] != greeting, "the other site saw the greeting")
        print(f"   → instance {theirs['instanceId']}, greeting {theirs['settings']['greeting']!r}")

        _step(7, "A junk token never reaches Wix")
        junk = await backend.get("/get-instance", headers={"Authorization": "not a token"})
        print(f"   → {junk.status_code} {junk.json()['error']}")

    calls = await control.calls()
    print(f"\nWix calls made by the backend (counted by the emulator): {calls}")


async def _call(
    backend: httpx.AsyncClient,
    method: str,
    path: str,
    token: str,
    *,
    json: Any = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    response = await backend.request(
        method, path, json=json, headers={"Authorization": token, **(headers or {})}
    )
    print(f"   {method} {path} → {response.status_code}")
    if response.status_code >= 400:
        raise DemoFailed(f"{method} {path} answered {response.status_code}: {response.text}")
    body: dict[str, Any] = response.json()
    return body


def _expect(condition: bool, failure: str) -> None:
    if not condition:
        raise DemoFailed(failure)


def _step(number: int, text: str) -> None:
    print(f"\n{number}. {text}")


def _banner(emulator_url: str, backend_url: str, app_id: str, rate_limit: bool) -> None:
    print("wixapp demo — everything below runs on this machine, no Wix account needed")
    print(f"  Wix emulator : {emulator_url}")
    print(f"  control API  : {emulator_url}/_emulator/calls, /_emulator/events, … (JSON)")
    print(f"  backend      : {backend_url}   (GET /get-instance, /api/settings, /metrics)")
    print(f"  app ID       : {app_id}")
    limit = "on, 200 calls a minute per instance" if rate_limit else "off (--no-rate-limit)"
    print(f"  Wix rate limit: {limit}")


def print_host_pages(
    emulator_url: str, backend_url: str, app_id: str, sites: list[DemoSite], target: AppUnderDemo
) -> None:
    pages = {"backend": backend_url, **target.page_parameters()}
    print("\nOpen in a browser (the emulator plays the Wix site and editor):")
    print(f"  every app, site and page : {emulator_url}/?{urlencode(pages)}")
    for site in sites:
        query = {"instanceId": site.instance_id, "appId": app_id, **pages}
        print(f"  {site.name:10s} site   : {emulator_url}/site?{urlencode(query)}")
        print(f"  {site.name:10s} editor : {emulator_url}/editor?{urlencode(query)}")


def print_dashboards(
    host: DashboardServer,
    backend_url: str,
    app_id: str,
    sites: list[DemoSite],
    target: AppUnderDemo,
) -> None:
    """The app's dashboard page in the emulator's Wix dashboard (HTTPS, as manage.wix.com)."""
    print(f"\n{host.describe()}")
    for site in sites:
        url = host.dashboard_url(app_id, site.instance_id, backend_url + target.dashboard_page)
        print(f"  {site.name:10s} dashboard : {url}")


def default_database_url(name: str, folder: Path = Path("var")) -> str:
    """A SQLite file ``NAME.db`` in ``folder`` (made if missing), by default ``./var``."""
    folder.mkdir(exist_ok=True)
    return f"sqlite:///{folder / name}.db"


async def _forever() -> None:
    await asyncio.Event().wait()
