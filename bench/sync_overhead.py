"""What the sync facade costs per identify, against the async path (not part of make test).

    .venv/bin/python bench/sync_overhead.py [--calls 20000] [--repeats 5]

Both paths identify one cached token (the hot path: no Wix call) through the same WixApp
configuration against the in-process emulator. The async path awaits ``wix.identify`` in a
loop; the sync path calls ``SyncWixApp.identify`` from one thread, then from 4 threads at
once. Prints, per call, wall-clock microseconds and CPU microseconds of the whole process
(both threads; steadier than wall time on a busy machine), best of the repeats.
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
from wixapp.testing import settings_for_emulator


def _setup(folder: Path) -> tuple[Settings, httpx.ASGITransport, str]:
    emulator = create_emulator(seed=1)
    state = emulator.state.emulator
    app = state.register_app()
    site = state.create_site(display_name="Bench")
    instance = state.install(app.app_id, site.site_id)
    token = state.mint_token(instance.instance_id, "VISITOR").token
    settings = settings_for_emulator(app, database_url=f"sqlite:///{folder / 'bench.db'}")
    return settings, httpx.ASGITransport(app=emulator), token


Timing = tuple[float, float]
"""Wall-clock and process CPU seconds per call."""


def _per_call(started: Timing, calls: int) -> Timing:
    return (
        (time.perf_counter() - started[0]) / calls,
        (time.process_time() - started[1]) / calls,
    )


def _now() -> Timing:
    return time.perf_counter(), time.process_time()


async def _async_path(
    settings: Settings, transport: httpx.ASGITransport, token: str, calls: int
) -> Timing:
    async with WixApp(settings, transport=transport) as wix:
        await wix.identify(token)
        started = _now()
        for _ in range(calls):
            await wix.identify(token)
        return _per_call(started, calls)


def _sync_path(facade: SyncWixApp, token: str, calls: int, threads: int) -> Timing:
    facade.identify(token)
    per_thread = calls // threads

    def work(_: int) -> None:
        for _ in range(per_thread):
            facade.identify(token)

    started = _now()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    return _per_call(started, per_thread * threads)


def _best(runs: list[Timing]) -> Timing:
    return min(wall for wall, _ in runs), min(cpu for _, cpu in runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings, transport, token = _setup(Path(folder))
        rounds = range(args.repeats)
        direct = _best(
            [asyncio.run(_async_path(settings, transport, token, args.calls)) for _ in rounds]
        )
        with SyncWixApp(settings, transport=transport) as facade:
            one = _best([_sync_path(facade, token, args.calls, 1) for _ in rounds])
            four = _best([_sync_path(facade, token, args.calls, 4) for _ in rounds])
    print(f"identify of a cached token, {args.calls} calls per run, best of {args.repeats} runs")
    print("path                                     wall µs/call   CPU µs/call")
    for name, (wall, cpu) in (
        ("async: await wix.identify(token)", direct),
        ("sync: facade.identify(token), 1 thread", one),
        ("sync: facade.identify(token), 4 threads", four),
    ):
        print(f"{name:40s} {wall * 1e6:12.1f} {cpu * 1e6:13.1f}")
    print(
        f"facade overhead per identify (1 thread): {(one[0] - direct[0]) * 1e6:.1f} µs wall, "
        f"{(one[1] - direct[1]) * 1e6:.1f} µs CPU"
    )


if __name__ == "__main__":
    main()
