"""Backend CPU per cold identify: a token never seen, so one token-info call to Wix.

The emulator runs in a child process on a loopback port (its CPU is not counted); this
process drives the ASGI app that ``create_app()`` builds, in-process, with GET
/get-instance and a fresh token per request, and counts its own CPU (every thread). So
what is counted is wixapp's whole cold path: the edge, the shape check, the cache, the
budget, the upstream client over real TCP, the trust rules, the cache write, metrics.

    .venv/bin/python bench/cold_cpu.py                  # µs of CPU per cold identify
    .venv/bin/python bench/cold_cpu.py --profile 25     # and cProfile's top 25 by own time
    PYTHONPATH=<other checkout>/src .venv/bin/python bench/cold_cpu.py   # side by side

Tokens are spread over many sites and client addresses, and the budget is set high enough
never to refuse, so every request pays the budget's accounting but none is turned away.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from wixapp import Settings
from wixapp.server import create_app
from wixapp.testing.loopback import port_or_free

PER_SITE = 70  # below half the per-instance budget (150/min): no per-network share applies

EMULATOR = """
import asyncio, json, sys, uvloop
from wixapp.emulator import EmulatorState, create_emulator
from wixapp.testing.loopback import serving
port, tokens, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
state = EmulatorState(rate_limit=False)
app = state.register_app()
minted = []
for _ in range(-(-tokens // PER_SITE)):
    site = state.create_site()
    instance = state.install(app.app_id, site.site_id).instance_id
    minted += [state.mint_token(instance, "USER").token for _ in range(PER_SITE)]
async def main():
    async with serving(create_emulator(state=state), port=port):
        with open(out, "w") as f:
            json.dump({"app_id": app.app_id, "secret": app.app_secret, "tokens": minted}, f)
        await asyncio.Event().wait()
uvloop.run(main())
""".replace("PER_SITE", str(PER_SITE))


def _scope(token: str, number: int) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/get-instance",
        "raw_path": b"/get-instance",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", token.encode())],
        # a new network every 25 requests: the per-address and per-network budgets are
        # counted, never spent, and no network takes a quarter of a site's tokens (the
        # per-site cap would refuse it first once half the site's budget is spent)
        "client": (f"10.{number // 6_400 % 256}.{number // 25 % 256}.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _request(app: Any, scope: dict[str, Any]) -> int:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def measure(world: dict[str, Any], base_url: str, warmup: int, profile: int) -> float:
    tokens: list[str] = world["tokens"]
    with tempfile.TemporaryDirectory() as directory:
        settings = Settings(
            WIX_APP_ID=world["app_id"],
            WIX_APP_SECRET=world["secret"],
            WIX_API_BASE_URL=base_url,
            WIXAPP_DATABASE_URL=f"sqlite:///{Path(directory) / 'cold.db'}",
            WIXAPP_TOKEN_INFO_BUDGET=1_000_000_000,
            WIXAPP_TOKEN_INFO_BUDGET_PER_IP=1_000_000,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            for number, token in enumerate(tokens[:warmup]):  # connect, warm imports
                status = await _request(app, _scope(token, number))
                assert status == 200, (number, status)
            measured = list(enumerate(tokens))[warmup:]
            profiler = _profiler() if profile else None
            started = time.process_time()
            if profiler:
                profiler.enable()
            for number, token in measured:
                status = await _request(app, _scope(token, number))
                assert status == 200, status
            if profiler:
                profiler.disable()
            spent = time.process_time() - started
    if profiler:
        import pstats

        stats = pstats.Stats(profiler).sort_stats("tottime")
        stats.print_stats(profile)
        stats.print_callers("submit|_json_object|ipaddress.py.*__init__")
    return spent / len(measured) * 1e6


def _profiler() -> Any:
    # bench/profile.py, first on sys.path here, would shadow the standard library's profile.
    bench = sys.path.pop(0)
    try:
        import cProfile

        return cProfile.Profile(time.process_time)  # CPU, not the wall's waits
    finally:
        sys.path.insert(0, bench)


@contextlib.contextmanager
def _emulator(tokens: int) -> Any:
    port = port_or_free()
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "world.json"
        child = subprocess.Popen([sys.executable, "-c", EMULATOR, str(port), str(tokens), out])
        try:
            deadline = time.monotonic() + 60
            while not out.exists() or not out.stat().st_size:
                if time.monotonic() > deadline or child.poll() is not None:
                    raise RuntimeError("the emulator did not start")
                time.sleep(0.1)
            time.sleep(0.2)  # the file is written whole before the next poll reads it
            yield json.loads(out.read_text()), f"http://127.0.0.1:{port}"
        finally:
            child.terminate()
            child.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="measured per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--profile", type=int, default=0, help="print cProfile's top N")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    rounds = []
    with _emulator((args.requests + args.warmup) * args.rounds) as (world, base_url):
        tokens = world["tokens"]
        size = args.requests + args.warmup
        for number in range(args.rounds):
            part = {**world, "tokens": tokens[number * size : (number + 1) * size]}
            coroutine = measure(part, base_url, args.warmup, args.profile)
            if args.loop == "uvloop":
                import uvloop

                rounds.append(uvloop.run(coroutine))
            else:
                rounds.append(asyncio.run(coroutine))
    print(
        f"cold identify: {statistics.median(rounds):.1f} µs CPU per request "
        f"(median of {args.rounds} rounds of {args.requests}; "
        f"min {min(rounds):.1f}, max {max(rounds):.1f}; {args.loop})"
    )


if __name__ == "__main__":
    main()
