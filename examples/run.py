"""Run one example app against the Wix emulator, with one command.

    python examples/run.py flask          # or fastapi, starlette, django
    python examples/run.py django --once  # check it answers, then stop

It serves the emulator on a loopback port, registers an app, installs it on two sites,
starts the example (``examples/<framework>/app.py``) as its own process pointed at the
emulator through the usual variables (WIX_APP_ID, WIX_APP_SECRET, WIX_API_BASE_URL, …),
and prints a token and a curl command per site; the emulator's webhooks go to the example's
``/webhooks``. ``--once`` calls the example for each site, checks that each sees only its own
notes, removes the app from one site (a signed ``AppRemoved`` webhook), checks that the
site's cached token and legacy ``instance`` value are then refused (401 app_removed), and
exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from wixapp.emulator import create_emulator
from wixapp.emulator.control import EmulatorControl
from wixapp.testing.loopback import port_or_free, serving

HERE = Path(__file__).resolve().parent
FRAMEWORKS = ("fastapi", "starlette", "flask", "django")
STARTUP_SECONDS = 30.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("framework", choices=FRAMEWORKS)
    parser.add_argument("--once", action="store_true", help="check the example, then exit")
    parser.add_argument("--port", type=int, default=0, help="the example's port (0: any free)")
    args = parser.parse_args()
    try:
        return asyncio.run(_run(args.framework, args.once, args.port))
    except KeyboardInterrupt:
        return 130


async def _run(framework: str, once: bool, port: int) -> int:
    async with (
        serving(create_emulator()) as emulator_url,
        _scratch() as folder,
        EmulatorControl.for_url(emulator_url) as control,
    ):
        app = await control.register_app()
        sites = []
        for name in ("Bakery", "Florist"):
            site = await control.create_site(display_name=name)
            installed = await control.install(app.app_id, site.site_id)
            sites.append((name, installed.instance_id))
        env = {
            **os.environ,
            "WIX_APP_ID": app.app_id,
            "WIX_APP_SECRET": app.app_secret,
            "WIX_API_BASE_URL": emulator_url,
            "WIX_APP_PUBLIC_KEY": await control.webhook_public_key(app.app_id),
            "WIXAPP_DATABASE_URL": f"sqlite:///{folder / 'wixapp.db'}",
            "PORT": str(port or port_or_free()),
        }
        async with _example(framework, env) as url:
            await control.configure_webhooks(app.app_id, f"{url}/webhooks")
            tokens = {name: (await control.mint_token(i, "VISITOR")).token for name, i in sites}
            for name, token in tokens.items():
                print(f"{name}: curl -H 'Authorization: {token}' {url}/api/notes")
            if once:
                notes_ok = await _check(url, tokens)
                removed = sites[-1]
                return notes_ok or await _check_removal(control, url, removed, tokens[removed[0]])
            print(f"\n{framework} example at {url}, Wix emulator at {emulator_url}; Ctrl-C stops.")
            await asyncio.Event().wait()
    return 0


@contextlib.asynccontextmanager
async def _scratch() -> AsyncIterator[Path]:
    """A folder for the example's SQLite file (wixapp's webhook records), removed after."""
    with tempfile.TemporaryDirectory(prefix="wixapp-example-") as folder:
        yield Path(folder)


@contextlib.asynccontextmanager
async def _example(framework: str, env: dict[str, str]) -> AsyncIterator[str]:
    script = HERE / framework / "app.py"
    process = await asyncio.create_subprocess_exec(sys.executable, str(script), env=env)
    url = f"http://127.0.0.1:{env['PORT']}"
    try:
        await _wait_until_up(url, process)
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


async def _wait_until_up(url: str, process: asyncio.subprocess.Process) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_SECONDS
    async with httpx.AsyncClient(base_url=url) as client:
        while loop.time() < deadline:
            if process.returncode is not None:
                raise SystemExit(f"the example exited with status {process.returncode}")
            with contextlib.suppress(httpx.TransportError):
                await client.get("/api/notes")
                return
            await asyncio.sleep(0.1)
    raise SystemExit(f"the example did not answer at {url} within {STARTUP_SECONDS:.0f} s")


async def _check(url: str, tokens: dict[str, str]) -> int:
    async with httpx.AsyncClient(base_url=url) as client:
        for name, token in tokens.items():
            headers = {"Authorization": token}
            added = await client.post(
                "/api/notes", json={"text": f"hello from {name}"}, headers=headers
            )
            added.raise_for_status()
        for name, token in tokens.items():
            read = await client.get("/api/notes", headers={"Authorization": token})
            read.raise_for_status()
            print(f"{name}: {read.json()}")
            if read.json()["notes"] != [f"hello from {name}"]:
                print(f"{name} saw another site's notes", file=sys.stderr)
                return 1
        refused = await client.get("/api/notes")
        print(f"no token: {refused.status_code} {refused.json()['error']}")
        return 0 if refused.status_code == 401 else 1


async def _check_removal(
    control: EmulatorControl, url: str, site: tuple[str, str], token: str
) -> int:
    """Remove the app from one site (the emulator's signed AppRemoved reaches the example):
    its cached token and its legacy ``instance`` value are refused at once."""
    name, instance_id = site
    legacy = await control.sign_legacy_instance(instance_id)
    async with httpx.AsyncClient(base_url=url) as client:
        before = await client.get("/api/notes", params={"instance": legacy})
        print(f"{name} legacy value: {before.status_code}")
        await control.uninstall(instance_id)
        deliveries = await control.flush_webhooks()
        for delivery in deliveries:
            status = delivery.attempts[-1].status if delivery.attempts else None
            print(f"webhook {delivery.event_type}: {delivery.state} (HTTP {status})")
        refused = [
            await client.get("/api/notes", headers={"Authorization": token}),
            await client.get("/api/notes", params={"instance": legacy}),
        ]
    answers = [f"{r.status_code} {r.json().get('error')}" for r in refused]
    print(f"{name} after removal: token {answers[0]}, legacy value {answers[1]}")
    delivered = any(d.event_type == "AppRemoved" and d.state == "delivered" for d in deliveries)
    removed = answers == ["401 app_removed"] * 2
    return 0 if before.status_code == 200 and delivered and removed else 1


if __name__ == "__main__":
    raise SystemExit(main())
