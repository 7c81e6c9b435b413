"""Memory at full bounds: one worker's RSS with every bounded structure filled to its
configured bound, then a soak that must leave it flat (``make bounds``).

The backend runs in this process (``create_app``, as one worker) against the emulator in a
subprocess; its bounded structures are filled directly, with entries shaped like real ones:
token verdicts (callers and refusals), instance data, app tokens, the three budget tables,
last-seen notes and removed instances. RSS is read from /proc after each, and reported per
10 000 entries. Then mixed load (warm and new tokens, instance data, settings reads and
writes) runs for ``--seconds``, with the structures still full, sampling RSS.

    python soak/bounds.py                   # default bounds, 300 s of load
    python soak/bounds.py --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from wixapp.emulator import EmulatorControl
from wixapp.models import AppInstance, AppToken, Caller, SubjectType
from wixapp.server import create_app
from wixapp.testing import settings_for_emulator

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"


def rss_mib() -> float:
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def instance_document(index: int) -> dict[str, Any]:
    """Get App Instance's answer, as large as the spec's example."""
    return {
        "instance": {
            "instanceId": f"{index:08d}-3a6f-4dd2-9973-028705762b2c",
            "appName": "MY_SHINY_APP",
            "appVersion": "0.0.53",
            "isFree": False,
            "billing": {
                "billingCycle": "MONTHLY",
                "packageName": "e8f429d4-0a6a-468f-8044-87f519a53202",
                "source": "Wix discount coupon",
            },
            "permissions": [
                "WIX_DEVELOPERS.CREATE_CHECKOUT",
                "WIX_DEVELOPERS.MANAGE_APP_INSTANCE",
                "WIX_DEVELOPERS.MANAGE_CHARGE",
            ],
        },
        "site": {
            "locale": "he",
            "multilingual": {"isMultiLingual": False, "supportedLanguages": []},
            "paymentCurrency": "ILS",
            "siteDisplayName": f"Mysite {index}",
            "url": f"https://user{index}.wixsite.com/mysite-{index}",
            "description": "My awesome site is all about selling stuff",
            "ownerEmail": f"owner{index}@example.com",
            "ownerInfo": {"email": f"owner{index}@example.com", "emailStatus": "VERIFIED_OPT_IN"},
            "siteId": f"{index:08d}-1585-45ef-b1c3-6081185108c1",
        },
    }


async def fill(state: Any, settings: Any) -> dict[str, dict[str, float]]:
    """Fill every bounded structure to its bound; RSS growth per structure."""
    from wixapp.cache.layered import _Entry
    from wixapp.errors import InvalidTokenError
    from wixapp.identity.elevation import _Stored
    from wixapp.identity.identifier import _Rejected

    wix = state.wix
    now = time.time()
    later = now + 3600
    figures: dict[str, dict[str, float]] = {}

    def measured(name: str, count: int, work: Any, before: float | None = None) -> None:
        before = rss_mib() if before is None else before
        work()
        after = rss_mib()
        figures[name] = {
            "entries": count,
            "mib": round(after - before, 1),
            "mib_per_10000": round((after - before) / count * 10_000, 2),
        }
        print(f"  {name}: {count} entries, +{after - before:.1f} MiB", flush=True)

    verdicts = wix._identifier._cache
    size = settings.token_cache_size
    rejected = _Rejected.of(InvalidTokenError())

    def fill_verdicts() -> None:
        for index in range(size):
            key = secrets.token_hex(32)
            if index % 10 == 9:  # one in ten remembered as a refusal
                value: Any = rejected
            else:
                value = Caller(
                    instance_id=f"{index % 10_000:08d}-3a6f-4dd2-9973-028705762b2c",
                    subject_type=SubjectType.VISITOR,
                    subject_id=secrets.token_hex(16),
                    site_id=f"{index % 10_000:08d}-1585-45ef-b1c3-6081185108c1",
                    expires_at=later,
                )
            verdicts._memory.set(key, _Entry(value, later, now), expires_at=later)

    measured("token verdicts (WIXAPP_TOKEN_CACHE_SIZE)", size, fill_verdicts)
    instances = settings.instance_cache_size

    def fill_instances() -> None:
        for index in range(instances):
            data = AppInstance.model_validate(instance_document(index))
            stored = _Stored(data, now)
            key = data.instance.instance_id or str(index)
            wix._elevation._instances._memory.set(key, _Entry(stored, later, now), expires_at=later)

    measured("instance data (WIXAPP_INSTANCE_CACHE_SIZE)", instances, fill_instances)

    def fill_tokens() -> None:
        for index in range(instances):
            token = AppToken.model_validate(
                {
                    "access_token": "OauthNG.JWS." + secrets.token_urlsafe(600),
                    "token_type": "Bearer",
                    "expires_in": 14_400,
                }
            )
            wix._elevation._tokens._memory.set(
                f"{index:08d}-3a6f-4dd2-9973-028705762b2c",
                _Entry(token, later, now),
                expires_at=later,
            )

    measured("app tokens (WIXAPP_INSTANCE_CACHE_SIZE)", instances, fill_tokens)
    budget = wix._identifier._budget
    table = settings.budget_table_size

    before = rss_mib()
    for index in range(table):
        await budget.spend(f"10.{index // 65536}.{index // 256 % 256}.{index % 256}")
        await budget.rejected(f"172.{16 + index // 256}.{index % 256}.1")  # a /24 each
        await budget.confirmed(f"{index:08d}-budget")
    measured(
        "budget tables: addresses, networks, instances (WIXAPP_BUDGET_TABLE_SIZE each)",
        3 * table,
        lambda: None,
        before,
    )

    def fill_seen() -> None:
        for index in range(instances):
            state.seen.note(f"{index:08d}-seen-4dd2-9973-028705762b2c", f"{index:08d}-site")

    measured("last-seen notes (WIXAPP_INSTANCE_CACHE_SIZE)", instances, fill_seen)

    def fill_removed() -> None:
        for index in range(instances):
            wix.removals._remember(f"{index:08d}-gone-4dd2-9973-028705762b2c", now)

    measured("removed instances (WIXAPP_INSTANCE_CACHE_SIZE)", instances, fill_removed)
    from datetime import UTC, datetime

    from wixapp.server import lean
    from wixapp.store import SettingsRecord

    encoded = lean._MAX_ENCODED - 1

    def fill_encoded() -> None:
        # Answers encoded once per cached object: settings documents and instance data.
        for index in range(encoded):
            record = SettingsRecord(
                instance_id=f"{index:08d}-3a6f-4dd2-9973-028705762b2c",
                document={
                    "greeting": f"Hello {index}",
                    "accentColor": "#116dff",
                    "showInstanceId": True,
                    "theme": "light",
                },
                version=index,
                updated_at=datetime.now(UTC),
                updated_by=None,
            )
            lean._encoded_once(record, lean._dump_document)

    measured("encoded answers (lean path, fixed at 20000)", encoded, fill_encoded)
    return figures


async def load(
    app: Any, control: EmulatorControl, seconds: float, sites: list[str]
) -> dict[str, Any]:
    rng = random.Random(8)
    owners = {site: (await control.mint_token(site, "USER")).token for site in sites}
    visitors = [(await control.mint_token(rng.choice(sites))).token for _ in range(50)]
    samples: list[tuple[float, float]] = []
    statuses: dict[int, int] = {}
    transport = httpx.ASGITransport(app=app)
    started = time.monotonic()
    async with httpx.AsyncClient(transport=transport, base_url="http://backend") as client:

        async def one() -> None:
            pick = rng.random()
            if pick < 0.4:
                answer = await client.get(
                    "/get-instance", headers={"Authorization": rng.choice(visitors)}
                )
            elif pick < 0.6:
                answer = await client.get(
                    "/get-instance?include=instance",
                    headers={"Authorization": rng.choice(visitors)},
                )
            elif pick < 0.9:
                site = rng.choice(sites)
                answer = await client.get("/api/settings", headers={"Authorization": owners[site]})
                if answer.status_code == 200:
                    answer = await client.put(
                        "/api/settings",
                        json={"greeting": f"n={rng.random()}"},
                        headers={"Authorization": owners[site], "If-Match": answer.headers["ETag"]},
                    )
            else:
                token = (await control.mint_token(rng.choice(sites))).token
                answer = await client.get("/get-instance", headers={"Authorization": token})
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

        next_sample = started
        while (elapsed := time.monotonic() - started) < seconds:
            if time.monotonic() >= next_sample:
                samples.append((round(elapsed), round(rss_mib(), 1)))
                next_sample += 10
            await asyncio.gather(*(one() for _ in range(16)))
    samples.append((round(time.monotonic() - started), round(rss_mib(), 1)))
    return {"seconds": seconds, "rss_samples_mib": samples, "statuses": statuses}


async def main_async(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    port = _free_port()
    emulator = subprocess.Popen(  # noqa: ASYNC220 (once, before anything is measured)
        [sys.executable, "-m", "wixapp", "-q", "emulator", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://{LOOPBACK}:{port}"
        await _wait(url)
        async with EmulatorControl.for_url(url) as control:
            registered = await control.register_app()
            sites = []
            for index in range(10):
                site = await control.create_site(display_name=f"Bounds {index}")
                sites.append((await control.install(registered.app_id, site.site_id)).instance_id)
            settings = settings_for_emulator(
                registered,
                base_url=url,
                database_url=f"sqlite:///{work / 'bounds.db'}",
                WIXAPP_TOKEN_INFO_BUDGET=0,
                WIXAPP_TOKEN_INFO_PER_INSTANCE=0,
            )
            app = create_app(settings)
            async with app.router.lifespan_context(app):
                state = app.state.wixapp
                start = rss_mib()
                print(f"RSS at start: {start:.1f} MiB", flush=True)
                figures = await fill(state, settings)
                full = rss_mib()
                print(
                    f"RSS at full bounds: {full:.1f} MiB; load for {args.seconds:g} s", flush=True
                )
                soaked = await load(app, control, args.seconds, sites)
    finally:
        emulator.terminate()
        emulator.wait(10)
    samples = soaked["rss_samples_mib"]
    return {
        "bounds": {
            "WIXAPP_TOKEN_CACHE_SIZE": settings.token_cache_size,
            "WIXAPP_INSTANCE_CACHE_SIZE": settings.instance_cache_size,
            "WIXAPP_BUDGET_TABLE_SIZE": settings.budget_table_size,
        },
        "rss_start_mib": round(start, 1),
        "rss_full_mib": round(full, 1),
        "per_structure": figures,
        "soak": soaked,
        "soak_rss_first_mib": samples[0][1],
        "soak_rss_last_mib": samples[-1][1],
        "soak_rss_max_mib": max(each[1] for each in samples),
    }


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


async def _wait(url: str) -> None:
    async with httpx.AsyncClient(timeout=1) as client:
        for _ in range(300):
            try:
                if (await client.get(url + "/_emulator/calls")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("bounds: the emulator did not start")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=float(os.environ.get("BOUNDS_SECONDS", 300))
    )
    parser.add_argument("--output", type=Path, default=ROOT / "artifacts" / "bounds.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        result = asyncio.run(main_async(args, Path(work)))
    args.output.parent.mkdir(exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "soak"}, indent=2))
    print(
        f"soak RSS: first {result['soak_rss_first_mib']} MiB, last {result['soak_rss_last_mib']} "
        f"MiB, max {result['soak_rss_max_mib']} MiB; statuses {result['soak']['statuses']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
