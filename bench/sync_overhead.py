"""What the sync facade costs per identify, against the async path (not part of make test).

    .venv/bin/python bench/sync_overhead.py [--calls 20000] [--repeats 5]

Both paths identify one cached token (the hot path: no Wix call) through the same WixApp
configuration against the in-process emulator. The async path awaits ``wix.identify`` in a
loop; the sync path calls ``SyncWixApp.identify`` from one thread, then from 4 threads at
once. Prints microseconds per call (best of the repeats) and the facade's overhead.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from wixapp import WixApp
from wixapp.adapters.sync import SyncWixApp
from wixapp.config import Settings
from wixapp.emulator import create_emulator
from wixapp.emulator.settings import settings_for_emulator


def _setup(folder: Path) -> tuple[Settings, httpx.ASGITransport, str]:
    emulator = create_emulator(seed=1)
    state = emulator.state.emulator
    app = state.register_app()
    site = state.create_site(display_name="Bench")
    instance = state.install(app.app_id, site.site_id)
    token = state.mint_token(instance.instance_id, "VISITOR").token
    settings = settings_for_emulator(app, database_url=f"sqlite:///{folder / 'bench.db'}")
    return settings, httpx.ASGITransport(app=emulator), token


async def _async_path(
    settings: Settings, transport: httpx.ASGITransport, token: str, calls: int
) -> float:
    async with WixApp(settings, transport=transport) as wix:
        await wix.identify(token)
        started = time.perf_counter()
        for _ in range(calls):
            await wix.identify(token)
        return (time.perf_counter() - started) / calls


def _sync_path(facade: SyncWixApp, token: str, calls: int, threads: int) -> float:
    facade.identify(token)
    per_thread = calls // threads

    def work(_: int) -> None:
        for _ in range(per_thread):
            facade.identify(token)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    return (time.perf_counter() - started) / (per_thread * threads)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings, transport, token = _setup(Path(folder))
        async_s = min(
            asyncio.run(_async_path(settings, transport, token, args.calls))
            for _ in range(args.repeats)
        )
        with SyncWixApp(settings, transport=transport) as facade:
            one = min(_sync_path(facade, token, args.calls, 1) for _ in range(args.repeats))
            four = min(_sync_path(facade, token, args.calls, 4) for _ in range(args.repeats))
    print(f"calls per run: {args.calls}, best of {args.repeats} runs")
    print(f"async  await wix.identify(token)      : {async_s * 1e6:8.2f} µs/call")
    print(
        f"sync   facade.identify(token), 1 thread: {one * 1e6:8.2f} µs/call "
        f"(overhead {(one - async_s) * 1e6:.2f} µs, {one / async_s:.1f}×)"
    )
    print(f"sync   facade.identify(token), 4 threads: {four * 1e6:8.2f} µs/call (wall / calls)")


if __name__ == "__main__":
    main()
