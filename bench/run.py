"""``make bench``: what identification costs, beside the documented per-request flow, the
bare framework and the server's own ceiling, with every speed target judged side by side.

One run starts the Wix emulator (its own process, every Wix endpoint delayed by a real
``--latency``), copies of the bench server (``bench/benchapp.py``: the production backend
plus ``GET /bare`` and a user's routes) under uvicorn (caches on, caches off, a cold one that
keeps no token verdict, PostgreSQL, two workers), a raw ASGI app on the same stack
(``bench/rawasgi.py``) and the Node peers (``bench/node``), and drives them from separate
processes (wrk, and ``bench/loadgen.py``) over 127.0.0.1 (``THROUGHPUT`` lists the
scenarios):

  A, R, C, F, FC, L, X   warm paths, the raw app, the bare routes, a user's routes  (wrk)
  K, N                   cold identify, wixapp and Express + axios, 256 connections (wrk)
  B, D, ND, S, W2        uncached, instance data, page views, two workers           (wrk)
  fixed   A, B, C at a moderate fixed rate, open loop                     (loadgen)
          A, C at half A's measured throughput, paced                     (wrk)
  tail    include=instance while instance data expire (TTL 2 s), and
          the same load with nothing expiring                             (loadgen)
  E       a storm: K concurrent requests with one new token               (loadgen)
  mix     visitors over sites, each token reused a few times              (loadgen)

Throughput scenarios run ``--repeats`` times, interleaved (A, R, C, ... then again), so the
spread of the repeats is the noise, and the ratios (``RATIOS``) are taken per repeat, in
requests/s and in requests per server CPU second (``/proc``). Emulator call counts are reset
before and read after every measurement. Results go to ``bench/results/latest.json`` (and a
time-stamped copy), ``latest.png``, and tables; the last is the targets table.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import harness
from capacity import run_capacity
from harness import LOOPBACK, PYTHON, Proc, Processes

from wixapp.emulator.control import EmulatorControl
from wixapp.emulator.records import FaultSpec

RESULTS = harness.BENCH_DIR / "results"
APP_ID = "0b5e1f9a-bench-4a6e-9c1d-000000000001"  # any string the emulator accepts
APP_SECRET = "bench-secret-not-a-real-one"
TOKEN_CACHE_SECONDS = 300.0  # WIXAPP_TOKEN_CACHE_MAX_AGE's default, which the bench keeps

THROUGHPUT = {
    # name: (server, path, label). Servers: "cached" and "uncached" (SQLite), "cold" (cached,
    # budgets that never refuse, no verdict kept until a token's next use), "pg" (cached,
    # PostgreSQL), "w2" (cached, --workers 2), "raw" (bench/rawasgi.py), "node"
    # (bench/node/server.js).
    "A": ("cached", "/get-instance", "A  /get-instance, cached (wixapp)"),
    "R": ("raw", "/const", "R  raw ASGI constant JSON (the stack's ceiling)"),
    "C": ("cached", "/bare", "C  /bare: wixapp's bare route, no identification"),
    "F": ("cached", "/bare-fastapi", "F  /bare-fastapi: a user's own FastAPI route"),
    "FC": ("cached", "/caller-fastapi", "FC the same with Depends(current_caller)"),
    "L": ("cached", "/app/lean", "L  a user's lean_route(...), identified"),
    "X": ("node", "/const", "X  Express constant JSON (the Node ceiling)"),
    "K": ("cold", "/get-instance", "K  cold identify: no token's verdict in the cache"),
    "N": ("node", "/get-instance", "N  Express+axios /get-instance (Node sample)"),
    "B": ("uncached", "/get-instance", "B  /get-instance, uncached (wixapp)"),
    "D_cached": ("cached", "/get-instance?include=instance", "D  include=instance, cached"),
    "D_uncached": ("uncached", "/get-instance?include=instance", "D  include=instance, uncached"),
    "ND": ("node", "/get-instance-data", "ND Express+axios instance data (REST elevation)"),
    "S_sqlite": ("cached", "/api/settings", "S  page view (GET /api/settings), SQLite"),
    "S_pg": ("pg", "/api/settings", "S  page view (GET /api/settings), PostgreSQL"),
    "W2": ("w2", "/bare", "W2 /bare on --workers 2"),
}
# Cold identification waits on Wix (--latency-ms): at wrk's usual 8 connections it is
# bounded by latency, not CPU, so the cold pair runs with --cold-connections.
COLD_SCENARIOS = ("K", "N")
PYTHON_SERVERS = ("cached", "uncached", "cold", "pg", "w2")
# The cold server keeps one token verdict, so each of K's tokens (--cold-tokens, round-robin)
# has been evicted before it comes again: every request is a cold identify (cache miss, shape
# check, budget, token-info, trust rules, cache write), without minting a token per request.
# Its budgets are set high enough never to refuse (each request still pays their
# accounting); its tokens are spread over --cold-sites sites, each under the per-instance cap.
# Its cap on concurrent Wix calls (100 by default) would bound it at 100 / latency requests/s
# (~1900 at 50 ms) where Express has none: raised above --cold-connections, so that CPU
# bounds both.
COLD_ENV = {
    "WIXAPP_TOKEN_CACHE_SIZE": "1",
    "WIXAPP_UPSTREAM_CONCURRENCY": "1024",
    "WIXAPP_TOKEN_INFO_BUDGET": "1000000000",
    "WIXAPP_TOKEN_INFO_BUDGET_PER_IP": "1000000",
    "WIXAPP_TOKEN_INFO_BUDGET_PER_NETWORK": "1000000",
    "WIXAPP_TOKEN_INFO_PER_INSTANCE": "200",
}
STACKS = {"uvloop": ("uvloop", "httptools"), "asyncio": ("asyncio", "h11")}
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
NODE_DIR = harness.BENCH_DIR / "node"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--latency-ms", type=float, default=50.0, help="upstream latency (all Wix calls)"
    )
    p.add_argument("--workers", type=int, default=1, help="uvicorn workers per server")
    p.add_argument(
        "--scale-workers", type=int, default=2, help="workers of the W2 server (0: no W2)"
    )
    p.add_argument(
        "--stack",
        choices=sorted(STACKS),
        default="uvloop",
        help="server stack: uvloop+httptools (wixapp serve's default) or asyncio+h11",
    )
    p.add_argument(
        "--postgres-url",
        default=POSTGRES_ADMIN_URL,
        help="a PostgreSQL server where the bench may create (and drops) a database; '' skips S_pg",
    )
    p.add_argument("--duration", type=float, default=5.0, help="seconds per measured wrk run")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of wrk before each run")
    p.add_argument("--repeats", type=int, default=3, help="runs of each throughput scenario")
    p.add_argument("--connections", type=int, default=8, help="wrk connections")
    p.add_argument(
        "--cold-connections",
        type=int,
        default=256,
        help="wrk connections of the cold pair (K, N): enough that CPU, not Wix's latency, "
        "bounds them",
    )
    p.add_argument("--cold-sites", type=int, default=1000, help="sites of K's tokens")
    p.add_argument("--cold-tokens", type=int, default=3000, help="K's tokens, round-robin")
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument("--rate", type=float, default=100.0, help="moderate fixed rate, requests/s")
    p.add_argument(
        "--high-rate-share",
        type=float,
        default=0.5,
        help="high fixed rate, as a share of A's measured throughput",
    )
    p.add_argument("--rate-duration", type=float, default=3.0, help="seconds per fixed-rate run")
    p.add_argument("--rate-rounds", type=int, default=3, help="interleaved fixed-rate rounds")
    p.add_argument("--pool-tokens", type=int, default=1000, help="pre-warmed tokens for A-D")
    p.add_argument("--storm-k", type=int, default=200)
    p.add_argument("--storms", type=int, default=3, help="storms against the cached server")
    p.add_argument("--mix-visitors", type=int, default=1000)
    p.add_argument("--mix-sites", type=int, default=50)
    p.add_argument("--mix-reuse", type=int, default=5, help="requests per visitor token")
    p.add_argument(
        "--mix-span", type=float, default=20.0, help="seconds over which visitors arrive"
    )
    p.add_argument(
        "--mix-think", type=float, default=0.5, help="seconds between a visitor's requests"
    )
    p.add_argument(
        "--mix-measure-uncached",
        action="store_true",
        help="also run the mix on the uncached server (else derived: 1 call per request)",
    )
    p.add_argument(
        "--only",
        default="throughput,fixed,tail,storm,mix,capacity",
        help="comma-separated groups: throughput, fixed, tail, storm, mix, capacity",
    )
    p.add_argument("--tail-sites", type=int, default=20, help="tail: sites (instances)")
    p.add_argument(
        "--tail-ttl", type=float, default=2.0, help="tail: its server's WIXAPP_INSTANCE_CACHE_TTL"
    )
    p.add_argument("--tail-rate", type=float, default=200.0, help="tail: requests/s, open loop")
    p.add_argument("--tail-duration", type=float, default=20.0, help="tail: seconds per round")
    p.add_argument("--tail-rounds", type=int, default=2, help="tail: rounds")
    p.add_argument("--capacity-visitors", type=int, default=600, help="capacity: new tokens")
    p.add_argument(
        "--capacity-page-views", type=int, default=5, help="capacity: page views per visitor"
    )
    p.add_argument(
        "--capacity-span", type=float, default=30.0, help="capacity: seconds of arrivals"
    )
    p.add_argument(
        "--capacity-think", type=float, default=3.0, help="capacity: seconds between page views"
    )
    p.add_argument(
        "--capacity-settings-ttl",
        type=float,
        default=10.0,
        help="capacity: WIXAPP_SETTINGS_CACHE_TTL of its workers",
    )
    p.add_argument(
        "--scenarios",
        default=",".join(THROUGHPUT),
        help=f"comma-separated throughput scenarios (default all: {','.join(THROUGHPUT)})",
    )
    p.add_argument("--quick", action="store_true", help="short smoke run (harness check)")
    p.add_argument(
        "--profile",
        choices=["auto", "always", "never"],
        default="auto",
        help="py-spy profile of A's hot path: auto = when an A target is missed",
    )
    p.add_argument("--profile-seconds", type=float, default=8.0, help="per profiled scenario")
    p.add_argument("--profile-rounds", type=int, default=4, help="interleaved profile slices")
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for both servers (e.g. WIXAPP_REDIS_URL=redis://127.0.0.1)",
    )
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.repeats = 2.0, 0.5, 1
        args.rate_duration, args.rate_rounds, args.storms = 2.0, 1, 1
        args.mix_visitors, args.mix_span, args.pool_tokens = 100, 3.0, 200
        args.profile_seconds, args.profile_rounds = 2.0, 2
        args.capacity_visitors, args.capacity_span, args.capacity_think = 100, 5.0, 1.0
        args.cold_tokens, args.cold_sites = 500, 100
        args.tail_duration, args.tail_rounds = 8.0, 1
    args.groups = {g.strip() for g in args.only.split(",") if g.strip()}
    args.chosen = [n.strip() for n in args.scenarios.split(",") if n.strip() in THROUGHPUT]
    if not args.postgres_url:
        args.chosen = [n for n in args.chosen if THROUGHPUT[n][0] != "pg"]
    if args.scale_workers < 2:
        args.chosen = [n for n in args.chosen if THROUGHPUT[n][0] != "w2"]
    return args


# ---- the world: emulator, app, sites, tokens


class Bench:
    def __init__(self, args: argparse.Namespace, procs: Processes, tmp: Path) -> None:
        self.args = args
        self.procs = procs
        self.tmp = tmp
        self.emulator: Proc | None = None
        self.emulator_url = ""
        self.control: EmulatorControl | None = None
        self.servers: dict[str, tuple[Proc, str]] = {}
        self.metered: set[str] = set()  # servers whose /metrics counts every request
        self.pg_database: str | None = None
        self.pg_databases: list[str] = []
        self.instances: list[str] = []
        self.pool_tokens: list[str] = []
        self.pool_file = tmp / "pool-tokens.txt"
        self.cold_instances: list[str] = []  # K's sites, its tokens spread over them
        self.cold_file = tmp / "cold-tokens.txt"

    @property
    def emu(self) -> EmulatorControl:
        assert self.control is not None
        return self.control

    def start_emulator(self) -> None:
        port = harness.free_port()
        self.emulator_url = f"http://{LOOPBACK}:{port}"
        argv = [
            PYTHON,
            "-m",
            "uvicorn",
            "wixapp.emulator.service:create_emulator",
            "--factory",
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        self.emulator = self.procs.start("emulator", argv, harness.clean_env())
        harness.wait_ready(self.emulator, f"{self.emulator_url}/_emulator/clock")
        self.control = EmulatorControl.for_url(self.emulator_url, timeout=30.0)

    async def setup_world(self) -> None:
        emu = self.emu
        await emu.register_app(APP_ID, APP_SECRET)
        self.instances = await self.install_sites(self.args.mix_sites, "Bench site")
        self.pool_tokens = await self.mint(self.args.pool_tokens)
        self.pool_file.write_text("\n".join(self.pool_tokens) + "\n")
        self.pool_warmed_at = 0.0
        if "K" in self.args.chosen:
            self.cold_instances = await self.install_sites(self.args.cold_sites, "Cold site")
            await self.mint_cold()
        # Real upstream latency: the emulator sleeps this long on every Wix call.
        await emu.add_fault(FaultSpec(latency=self.args.latency_ms / 1000))

    async def install_sites(self, count: int, name: str) -> list[str]:
        """``count`` new sites with the app installed; their instance IDs."""
        sites = await harness.gather_limited(
            [self.emu.create_site(display_name=f"{name} {i}") for i in range(count)], 16
        )
        installs = await harness.gather_limited(
            [self.emu.install(APP_ID, site.site_id) for site in sites], 16
        )
        return [install.instance_id for install in installs]

    async def mint_cold(self) -> None:
        """K's file of ``--cold-tokens`` tokens, spread over its sites."""
        minted = await harness.gather_limited(
            [
                self.emu.mint_token(self.cold_instances[i % len(self.cold_instances)], "VISITOR")
                for i in range(self.args.cold_tokens)
            ],
            32,
        )
        text = "\n".join(m.token for m in minted) + "\n"
        await asyncio.to_thread(self.cold_file.write_text, text)

    async def mint(self, count: int, offset: int = 0) -> list[str]:
        """``count`` fresh VISITOR tokens; token i belongs to site (offset + i) % sites."""
        minted = await harness.gather_limited(
            [
                self.emu.mint_token(self.instances[(offset + i) % len(self.instances)], "VISITOR")
                for i in range(count)
            ],
            32,
        )
        return [m.token for m in minted]

    def needed_servers(self) -> list[str]:
        """The servers the chosen scenarios use; "cached" and "uncached" always (storm, mix)."""
        chosen = {THROUGHPUT[n][0] for n in self.args.chosen}
        optional = ("cold", "pg", "w2", "raw", "node")
        return ["cached", "uncached", *(s for s in optional if s in chosen)]

    def start_server(
        self,
        name: str,
        *,
        cache_enabled: bool,
        database_url: str | None = None,
        workers: int = 1,
        extra_env: dict[str, str] | None = None,
        migrate_first: str | None = None,
    ) -> None:
        """bench/benchapp.py under uvicorn with the stack `wixapp serve` uses by default."""
        if migrate_first is not None:  # once, before several workers start
            harness.migrate(migrate_first)
        port = harness.free_port()
        env = harness.clean_env(
            {
                "WIX_APP_ID": APP_ID,
                "WIX_APP_SECRET": APP_SECRET,
                "WIX_API_BASE_URL": self.emulator_url,
                "WIXAPP_DATABASE_URL": database_url or f"sqlite:///{self.tmp / f'{name}.db'}",
                "WIXAPP_CACHE_ENABLED": "true" if cache_enabled else "false",
            }
        )
        env.update(extra_env or {})
        for item in self.args.server_env:
            key, _, value = item.partition("=")
            env[key] = value
        loop, http = STACKS[self.args.stack]
        argv = [
            PYTHON, "-m", "uvicorn", "benchapp:create_bench_app", "--factory",
            "--app-dir", str(harness.BENCH_DIR), "--host", LOOPBACK, "--port", str(port),
            "--workers", str(workers), "--loop", loop, "--http", http,
            "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        proc = self.procs.start(f"server-{name}", argv, env)
        url = f"http://{LOOPBACK}:{port}"
        harness.wait_ready(proc, f"{url}/healthz")
        self.servers[name] = (proc, url)
        if workers == 1:
            self.metered.add(name)

    def start_raw(self) -> None:
        """bench/rawasgi.py on the same uvicorn stack: the server's own ceiling."""
        port = harness.free_port()
        loop, http = STACKS[self.args.stack]
        argv = [
            PYTHON, "-m", "uvicorn", "rawasgi:app", "--app-dir", str(harness.BENCH_DIR),
            "--host", LOOPBACK, "--port", str(port), "--loop", loop, "--http", http,
            "--lifespan", "off", "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        proc = self.procs.start("server-raw", argv, harness.clean_env())
        url = f"http://{LOOPBACK}:{port}"
        harness.wait_ready(proc, f"{url}/const")
        self.servers["raw"] = (proc, url)

    def start_node(self) -> None:
        """bench/node/server.js: Express + axios as Wix documents it, and a constant route."""
        node = shutil.which("node")
        if node is None or not (NODE_DIR / "node_modules").is_dir():
            raise RuntimeError("the Node peers need node and `npm ci` in bench/node (make bench)")
        port = harness.free_port()
        env = harness.clean_env(
            {
                "PORT": str(port),
                "HOST": LOOPBACK,
                "WIX_API_BASE_URL": self.emulator_url,
                "WIX_APP_ID": APP_ID,
                "WIX_APP_SECRET": APP_SECRET,
                "NODE_ENV": "production",
            }
        )
        proc = self.procs.start("server-node", [node, "server.js"], env, cwd=NODE_DIR)
        url = f"http://{LOOPBACK}:{port}"
        harness.wait_ready(proc, f"{url}/healthz")
        self.servers["node"] = (proc, url)

    def create_pg_database(self) -> str:
        """A throwaway PostgreSQL database for the "pg" server (dropped by drop_pg_database)."""
        import secrets

        from sqlalchemy.engine import make_url

        self.pg_database = f"wixapp_bench_{secrets.token_hex(6)}"
        harness.postgres_admin(self.args.postgres_url, f'CREATE DATABASE "{self.pg_database}"')
        self.pg_databases.append(self.pg_database)
        url = make_url(self.args.postgres_url).set(database=self.pg_database)
        return url.render_as_string(hide_password=False)

    def drop_pg_database(self) -> None:
        """Drop every database create_pg_database made."""
        while self.pg_databases:
            name = self.pg_databases.pop()
            statement = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
            harness.postgres_admin(self.args.postgres_url, statement)
        self.pg_database = None

    async def save_settings(self, server: str) -> None:
        """Every site saves its settings once (as its owner would in the panel), so a page
        view reads a real row."""
        import httpx

        owners = await harness.gather_limited(
            [self.emu.mint_token(instance, "USER") for instance in self.instances], 16
        )
        url = self.servers[server][1]
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:

            async def save(index: int, token: str) -> None:
                body = {"greeting": f"Hello from bench site {index}", "theme": "dark"}
                headers = {"Authorization": token, "If-Match": '"v0"'}
                answer = await client.put("/api/settings", json=body, headers=headers)
                if answer.status_code != 200:
                    raise RuntimeError(f"saving settings on {server}: {answer.status_code}")

            await harness.gather_limited(
                [save(i, owner.token) for i, owner in enumerate(owners)], 8
            )

    def port(self, server: str) -> int:
        return int(self.servers[server][1].rsplit(":", 1)[1])

    async def loadgen(self, spec: dict[str, Any], limit: float = 120.0) -> dict[str, Any]:
        """Run bench/loadgen.py in its own process; ``limit`` bounds its wall time."""
        return await asyncio.to_thread(harness.run_loadgen, spec, timeout=limit)

    async def warm(self, server: str, path: str, tokens: list[str]) -> dict[str, Any]:
        spec = {"mode": "warm", "port": self.port(server), "path": path, "tokens": tokens}
        result = await self.loadgen({**spec, "concurrency": 64})
        if result["error_count"]:
            raise RuntimeError(f"warming {server} {path} failed: {result['errors']}")
        return result

    def served(self, server: str) -> int | None:
        """The server's own count of answered requests (wixapp with one worker only)."""
        return harness.served_requests(self.servers[server][1]) if server in self.metered else None

    async def warm_pool(self) -> None:
        """Every pool token through the cached server once (per worker, as well as can be),
        then instance data for every instance."""
        passes = 1 if self.args.workers == 1 else 3 * self.args.workers
        first_of_each_site = self.pool_tokens[: len(self.instances)]
        for _ in range(passes):
            await self.warm("cached", "/get-instance", self.pool_tokens)
            await self.warm("cached", "/get-instance?include=instance", first_of_each_site)
            await self.warm("cached", "/api/settings", first_of_each_site)
            if "pg" in self.servers:
                await self.warm("pg", "/get-instance", self.pool_tokens)
                await self.warm("pg", "/api/settings", first_of_each_site)
        self.pool_warmed_at = time.monotonic()

    async def fresh_pool(self, needed: float) -> None:
        """Make sure the warm pool lasts ``needed`` more seconds. A cached token answer is
        kept for WIXAPP_TOKEN_CACHE_MAX_AGE (300 s) from when it was fetched, whatever its
        use, so a long run would see the whole pool expire at once in mid-measurement:
        before that, swap in a new pool of tokens and warm it."""
        age = time.monotonic() - self.pool_warmed_at
        if age + needed < TOKEN_CACHE_SECONDS - 20:
            return
        self.pool_tokens = await self.mint(self.args.pool_tokens)
        await asyncio.to_thread(self.pool_file.write_text, "\n".join(self.pool_tokens) + "\n")
        await self.warm_pool()
        log(f"  (new warm pool of {len(self.pool_tokens)} tokens: the old one was {age:.0f} s old)")

    async def calls(self) -> dict[str, int]:
        return await self.emu.calls()

    # ---- measurements

    async def wrk_run(
        self,
        server: str,
        path: str,
        connections: int,
        *,
        duration: float | None = None,
        warmup: float | None = None,
        delay_ms: int | None = None,
        tokens_file: Path | None = None,
    ) -> dict[str, Any]:
        proc, url = self.servers[server]
        args = self.args
        tokens_file = tokens_file or self.pool_file
        warmup = args.warmup if warmup is None else warmup
        if warmup > 0:
            await asyncio.to_thread(
                harness.run_wrk,
                url=url,
                path=path,
                tokens_file=tokens_file,
                duration=warmup,
                connections=connections,
                threads=args.threads,
            )
        await asyncio.sleep(0.5)  # let the warm-up's last requests land
        await self.emu.reset_calls()
        served_before = self.served(server)
        load_before = harness.loadavg()
        cpu_before = harness.tree_cpu_seconds(proc.pid)
        out = await asyncio.to_thread(
            harness.run_wrk,
            url=url,
            path=path,
            tokens_file=tokens_file,
            duration=args.duration if duration is None else duration,
            connections=connections,
            threads=args.threads,
            delay_ms=delay_ms,
        )
        cpu = harness.tree_cpu_seconds(proc.pid) - cpu_before
        await asyncio.sleep(0.5)  # requests in flight when wrk stopped finish their Wix calls
        calls = await self.calls()
        requests = out["requests"]
        # Calls per request are counted against what the server answered (wrk does not count
        # the requests in flight when it stops, but the server still makes their Wix calls).
        served_after = self.served(server)
        served = (
            served_after - served_before
            if served_before is not None and served_after is not None
            else requests
        )
        seconds = out["duration_us"] / 1e6
        errors = sum(out["errors"].values())
        return {
            "rps": requests / seconds,
            "requests": requests,
            "served": served,
            "seconds": seconds,
            "p50_ms": out["latency_us"]["p50"] / 1000,
            "p90_ms": out["latency_us"]["p90"] / 1000,
            "p99_ms": out["latency_us"]["p99"] / 1000,
            "max_ms": out["latency_us"]["max"] / 1000,
            "errors": errors,
            "error_detail": out["errors"],
            "upstream_calls": calls,
            "calls_per_request": sum(calls.values()) / served if served else None,
            "server_cpu_ms_per_request": cpu * 1000 / served if served else None,
            "server_cpu_us_per_request": cpu * 1e6 / served if served else None,
            "server_cpu_share": cpu / seconds,
            "connections": connections,
            "loadavg_before": load_before,
        }

    async def scenario_run(self, name: str) -> dict[str, Any]:
        """One measured wrk run of a throughput scenario; the cold pair (K, N) with more
        connections and K's tokens."""
        server, path, _label = THROUGHPUT[name]
        if name not in COLD_SCENARIOS:
            return await self.wrk_run(server, path, self.args.connections)
        connections = self.args.cold_connections
        return await self.wrk_run(server, path, connections, tokens_file=self.cold_file)


# ---- scenario groups


RATIOS = {
    # name: (numerator, denominator, goal, measure), per paired repeat. "rps": requests/s
    # over requests/s, at least the goal; "cpu": server CPU per request over the other's, at
    # most the goal. A goal of None: reported, not judged.
    "A/R": ("A", "R", 0.5, "rps"),
    "A/X": ("A", "X", 1.0, "rps"),
    "A/C": ("A", "C", 0.9, "rps"),
    "K/N": ("K", "N", 1.5, "rps"),
    "K/N cpu": ("K", "N", 0.5, "cpu"),
    "S_sqlite/A": ("S_sqlite", "A", 0.95, "rps"),
    "S_pg/A": ("S_pg", "A", 0.95, "rps"),
    "FC/F": ("FC", "F", 0.9, "rps"),
    "L/A": ("L", "A", 0.9, "rps"),
    "D_cached/A": ("D_cached", "A", 0.9, "rps"),
    "D_cached/ND": ("D_cached", "ND", 50.0, "rps"),
    "W2/C": ("W2", "C", 1.6, "rps"),
    "A/N": ("A", "N", None, "rps"),
    "A/B": ("A", "B", None, "rps"),
    "D_cached/D_uncached": ("D_cached", "D_uncached", None, "rps"),
}


def ratio_values(
    top: list[dict[str, Any]], bottom: list[dict[str, Any]], measure: str
) -> list[float]:
    """The ratio of each paired repeat."""
    key = "rps" if measure == "rps" else "server_cpu_us_per_request"
    return [x[key] / y[key] for x, y in zip(top, bottom, strict=True) if x[key] and y[key]]


def ratio_met(value: float, goal: float, measure: str) -> bool:
    return value >= goal if measure == "rps" else value <= goal


async def run_throughput(bench: Bench, results: dict[str, Any]) -> None:
    args = bench.args
    chosen = {name: THROUGHPUT[name] for name in args.chosen}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in chosen}
    for repeat in range(args.repeats):
        await bench.fresh_pool(len(chosen) * (args.duration + args.warmup + 3))
        for name, (_server, _path, label) in chosen.items():
            run = await bench.scenario_run(name)
            runs[name].append(run)
            cpu = run["server_cpu_us_per_request"]
            log(
                f"  [{repeat + 1}/{args.repeats}] {label:<48} {run['rps']:8.0f} req/s  "
                f"p50 {run['p50_ms']:7.2f} ms  p99 {run['p99_ms']:7.2f} ms  "
                f"cpu {cpu or 0:6.0f} us/req  calls/req {run['calls_per_request']:.3f}  "
                f"errors {run['errors']}  load {run['loadavg_before'][0]}"
            )
    for name, (server, path, label) in chosen.items():
        results["scenarios"][name] = {
            "label": label,
            "tool": f"wrk -t{args.threads} -c{runs[name][0]['connections']} -d{args.duration:g}s",
            "server": server,
            "path": path,
            "runs": runs[name],
            "summary": summarize_runs(runs[name]),
        }
    ratios: dict[str, Any] = {
        "note": "per repeat (interleaved: every scenario once, then again); median, min, max"
    }
    for ratio, (top, bottom, goal, measure) in RATIOS.items():
        values = (
            ratio_values(runs[top], runs[bottom], measure) if top in runs and bottom in runs else []
        )
        if values:
            ratios[ratio] = {**ratio_summary(values), "goal": goal, "measure": measure}
    results["ratios"] = ratios


async def fixed_rate_run(bench: Bench, name: str, rate: float, tag: str) -> dict[str, Any]:
    args = bench.args
    server, path, label = THROUGHPUT[name]
    proc, _url = bench.servers[server]
    await bench.emu.reset_calls()
    served_before = bench.served(server)
    cpu_before = harness.tree_cpu_seconds(proc.pid)
    spec = {
        "mode": "rate",
        "port": bench.port(server),
        "path": path,
        "tokens": bench.pool_tokens,
        "rate": rate,
        "duration": args.rate_duration,
    }
    out = await bench.loadgen(spec, limit=args.rate_duration + 60)
    cpu = harness.tree_cpu_seconds(proc.pid) - cpu_before
    await asyncio.sleep(0.5)
    calls = await bench.calls()
    served_after = bench.served(server)
    served = (
        served_after - served_before
        if served_before is not None and served_after is not None
        else out["requests"]
    )
    lat = out["latency"]
    log(
        f"  {label:<42} at {rate:5.0f} req/s ({tag}): p50 {lat.get('p50_ms', 0):7.2f} ms  "
        f"p99 {lat.get('p99_ms', 0):7.2f} ms  errors {out['error_count']}"
    )
    return {
        "label": label,
        "scenario": name,
        "rate_kind": tag,
        "offered_rps": rate,
        "achieved_rps": out["achieved_rate"],
        "requests": out["requests"],
        "p50_ms": lat.get("p50_ms"),
        "p90_ms": lat.get("p90_ms"),
        "p99_ms": lat.get("p99_ms"),
        "max_ms": lat.get("max_ms"),
        "errors": out["error_count"],
        "error_detail": out["errors"],
        "upstream_calls": calls,
        "calls_per_request": sum(calls.values()) / max(1, served),
        "server_cpu_share": cpu / out["seconds"],
        "connections": out["connections"],
    }


async def paced_run(bench: Bench, name: str, rate: float, tag: str) -> dict[str, Any]:
    """wrk with each of its connections pausing before every request, so that together
    they offer about ``rate`` requests/s: a load below saturation that costs the load
    generator far less CPU than the Python open-loop one (on 2 shared cores that matters)."""
    args = bench.args
    server, path, label = THROUGHPUT[name]
    # A cycle is the pause, the answer's latency and ~2 ms of timer and event-loop slack.
    delay_ms = max(0, round(1000 * args.connections / rate) - 3)
    run = await bench.wrk_run(
        server, path, args.connections, duration=args.rate_duration, warmup=0, delay_ms=delay_ms
    )
    log(
        f"  {label:<42} at {rate:5.0f} req/s ({tag}, wrk paced, {delay_ms} ms pauses): "
        f"{run['rps']:.0f} served, p50 {run['p50_ms']:7.2f} ms  p99 {run['p99_ms']:7.2f} ms  "
        f"errors {run['errors']}"
    )
    return {
        "label": label,
        "scenario": name,
        "rate_kind": tag,
        "offered_rps": rate,
        "achieved_rps": run["rps"],
        "requests": run["requests"],
        "p50_ms": run["p50_ms"],
        "p90_ms": run["p90_ms"],
        "p99_ms": run["p99_ms"],
        "max_ms": run["max_ms"],
        "errors": run["errors"],
        "error_detail": run["error_detail"],
        "upstream_calls": run["upstream_calls"],
        "calls_per_request": run["calls_per_request"] or 0.0,
        "server_cpu_share": run["server_cpu_share"],
        "connections": args.connections,
        "tool": f"wrk -c{args.connections}, {delay_ms} ms pause before each request",
    }


async def run_fixed(bench: Bench, results: dict[str, Any]) -> None:
    """Latency below saturation: A, B and C at one moderate rate, open loop (loadgen); A and
    C at a share of A's measured throughput (when the throughput group ran), paced wrk.
    ``--rate-rounds`` interleaved rounds; the medians of the rounds are reported, so one
    burst of load from elsewhere on the machine does not decide the figure."""
    args = bench.args
    measured = results.get("scenarios", {}).get("A", {}).get("summary", {}).get("rps_median")
    high = round(measured * args.high_rate_share) if measured else None
    plan: list[tuple[str, float, str]] = [(n, args.rate, "moderate") for n in ("A", "B", "C")]
    if high:
        plan += [(n, float(high), "high") for n in ("A", "C")]
    w2 = results.get("scenarios", {}).get("W2", {}).get("summary", {}).get("rps_median")
    if w2:  # --workers 2 below saturation: the keep-alive stall would show here
        plan.append(("W2", float(round(w2 * args.high_rate_share)), "high"))
    raw: dict[tuple[str, str], list[dict[str, Any]]] = {(n, k): [] for n, _, k in plan}
    for _ in range(args.rate_rounds):
        await bench.fresh_pool(len(plan) * (args.rate_duration + 3))
        for name, rate, kind in plan:
            run = (
                await fixed_rate_run(bench, name, rate, kind)
                if kind == "moderate"
                else await paced_run(bench, name, rate, kind)
            )
            raw[(name, kind)].append(run)
    runs = []
    for (name, kind), rounds in raw.items():
        p50s = [r["p50_ms"] for r in rounds if r["p50_ms"] is not None]
        p99s = [r["p99_ms"] for r in rounds if r["p99_ms"] is not None]
        runs.append(
            {
                "label": rounds[0]["label"],
                "scenario": name,
                "rate_kind": kind,
                "offered_rps": rounds[0]["offered_rps"],
                "achieved_rps": statistics.mean(r["achieved_rps"] for r in rounds),
                "requests": sum(r["requests"] for r in rounds),
                "p50_ms": statistics.median(p50s) if p50s else None,
                "p50_ms_min": min(p50s, default=None),
                "p50_ms_max": max(p50s, default=None),
                "p99_ms": statistics.median(p99s) if p99s else None,
                "errors": sum(r["errors"] for r in rounds),
                "calls_per_request": statistics.mean(r["calls_per_request"] for r in rounds),
                "rounds": rounds,
            }
        )
    results["fixed_rate"] = {
        "moderate_rps": args.rate,
        "high_rps": high,
        "high_rate_share": args.high_rate_share,
        "rounds": args.rate_rounds,
        "runs": runs,
    }


async def tail_round(bench: Bench, server: str, path: str, tokens: list[str]) -> dict[str, Any]:
    """One open-loop round of the tail group: latency percentiles and Wix calls a minute.
    Each site is read once first: the server sat idle through the other rounds, and a copy
    not read in the last quarter of its TTL has expired (its first reader then waits for
    Wix, which is the design, not the tail under steady load that this measures)."""
    args = bench.args
    sites = len(bench.instances[: args.tail_sites])
    await bench.warm(server, path, tokens[:sites])  # token i is of site i % sites
    await bench.emu.reset_calls()
    spec = {
        "mode": "rate",
        "port": bench.port(server),
        "path": path,
        "tokens": tokens,
        "rate": args.tail_rate,
        "duration": args.tail_duration,
    }
    out = await bench.loadgen(spec, limit=args.tail_duration + 60)
    await asyncio.sleep(0.5)
    calls = await bench.calls()
    lat = out["latency"]
    return {
        "requests": out["requests"],
        "achieved_rps": out["achieved_rate"],
        "errors": out["error_count"],
        "error_detail": out["errors"],
        "p50_ms": lat.get("p50_ms"),
        "p99_ms": lat.get("p99_ms"),
        "p999_ms": lat.get("p999_ms"),
        "max_ms": lat.get("max_ms"),
        "upstream_calls": calls,
        "wix_calls_per_minute": sum(calls.values()) / (out["seconds"] / 60),
        "loadavg": harness.loadavg(),
    }


def tail_text(run: dict[str, Any]) -> str:
    return (
        f"p50 {run['p50_ms']:.2f} ms  p99 {run['p99_ms']:.2f} ms  p99.9 {run['p999_ms']:.2f} ms"
        f"  max {run['max_ms']:.1f} ms; {run['wix_calls_per_minute']:.0f} Wix calls/min "
        f"{run['upstream_calls']}; errors {run['errors']}; load {run['loadavg'][0]}"
    )


async def run_tail(bench: Bench, results: dict[str, Any]) -> None:
    """The tail while cached instance data keep expiring: ``?include=instance`` over
    ``--tail-sites`` sites on a server with WIXAPP_INSTANCE_CACHE_TTL=``--tail-ttl``, at a fixed
    ``--tail-rate`` (open loop) for ``--tail-duration`` s per round, so that every site's entry
    expires many times; p50/p99/p99.9 and the Wix calls a minute it takes."""
    args = bench.args
    sites = bench.instances[: args.tail_sites]
    path = "/get-instance?include=instance"
    ttl_env = {"WIXAPP_INSTANCE_CACHE_TTL": f"{args.tail_ttl:g}"}
    bench.start_server("ttl", cache_enabled=True, extra_env=ttl_env)
    try:
        minted = await harness.gather_limited(
            [bench.emu.mint_token(sites[i % len(sites)], "VISITOR") for i in range(5 * len(sites))],
            32,
        )
        tokens = [m.token for m in minted]
        await bench.warm("ttl", path, tokens)
        await bench.warm("cached", path, tokens)
        rounds: list[dict[str, Any]] = []
        control: list[dict[str, Any]] = []
        for number in range(args.tail_rounds):
            # The same load on the cached server (TTL 60 s: nothing expires meanwhile), so
            # what the machine's own noise does to the tail is measured beside it.
            for server, kept in (("ttl", rounds), ("cached", control)):
                kept.append(await tail_round(bench, server, path, tokens))
                log(f"  [{number + 1}/{args.tail_rounds}] {server:>6}: {tail_text(kept[-1])}")
    finally:
        bench.procs.stop(bench.servers.pop("ttl")[0])
    # The first read after the TTL is answered from the copy and reloads it in the background
    # (stale-while-revalidate), so a site read steadily is read from Wix once per TTL (plus
    # the wait for that first read and Wix's latency): never more than one a TTL. Waiting
    # for Wix at expiry, as before refresh in the background, made as many.
    limit = len(sites) * 60 / args.tail_ttl
    results["tail"] = {
        "label": f"T  include=instance over {len(sites)} sites, instance TTL {args.tail_ttl:g} s",
        "sites": len(sites),
        "ttl_s": args.tail_ttl,
        "rate": args.tail_rate,
        "duration_s": args.tail_duration,
        "rounds": rounds,
        "control": {
            "label": "the same load on the cached server (instance TTL 60 s)",
            "rounds": control,
        },
        "one_per_site_per_ttl_per_minute": len(sites) * 60 / args.tail_ttl,
        "wix_calls_per_minute_limit": limit,
    }


async def run_storm(bench: Bench, results: dict[str, Any]) -> None:
    args = bench.args
    storms: list[dict[str, Any]] = []
    plan = [("cached", i) for i in range(args.storms)] + [("uncached", 0)]
    for server, i in plan:
        token = (await bench.mint(1, offset=i))[0]
        await bench.emu.reset_calls()
        spec = {
            "mode": "storm",
            "port": bench.port(server),
            "path": "/get-instance",
            "token": token,
            "k": args.storm_k,
        }
        out = await bench.loadgen(spec, limit=60)
        await asyncio.sleep(0.3)
        calls = await bench.calls()
        storms.append(
            {
                "server": server,
                "k": args.storm_k,
                "ok": out["ok"],
                "errors": out["error_count"],
                "error_detail": out["errors"],
                "token_info_calls": calls["token-info"],
                "upstream_calls": calls,
                "p50_ms": out["latency"].get("p50_ms"),
                "max_ms": out["latency"].get("max_ms"),
            }
        )
        log(
            f"  storm of {args.storm_k} on the {server} server, one new token: "
            f"{calls['token-info']} token-info call(s), {out['ok']} ok, "
            f"{out['error_count']} errors, slowest {out['latency'].get('max_ms', 0):.0f} ms"
        )
    cached = [s for s in storms if s["server"] == "cached"]
    results["storm"] = {
        "label": f"E  cold storm: {args.storm_k} concurrent requests, one new token",
        "storms": storms,
        "cached_token_info_calls": [s["token_info_calls"] for s in cached],
        "uncached_token_info_calls": [s["token_info_calls"] for s in storms if s not in cached],
        "workers": args.workers,
    }


async def mix_run(bench: Bench, server: str) -> dict[str, Any]:
    args = bench.args
    sites = len(bench.instances)
    tokens = await bench.mint(args.mix_visitors)
    visitors = [[token, i % sites] for i, token in enumerate(tokens)]
    await bench.emu.set_behaviour(rate_limit=True)  # Wix's 200/min per instance, enforced
    await bench.emu.reset_calls()
    spec = {
        "mode": "mix",
        "port": bench.port(server),
        "path": "/get-instance",
        "visitors": visitors,
        "reuse": args.mix_reuse,
        "span": args.mix_span,
        "think": args.mix_think,
    }
    out = await bench.loadgen(spec, limit=args.mix_span + args.mix_reuse * 3 + 120)
    await asyncio.sleep(0.5)
    calls = await bench.calls()
    await bench.emu.set_behaviour(rate_limit=False)
    total_calls = sum(calls.values())
    minutes = out["seconds"] / 60
    # The emulator counts calls by endpoint, not by instance. Each token belongs to one
    # instance, so when the calls are one per token (cached) they are attributed by tokens;
    # otherwise (uncached: one per request) by requests.
    per_site_requests = {int(k): v for k, v in out["requests_per_site"].items()}
    tokens_per_site = [sum(1 for _, s in visitors if s == site) for site in range(sites)]
    if calls["token-info"] <= len(tokens):
        per_site_calls = [total_calls * n / len(tokens) for n in tokens_per_site]
    else:
        per_site_calls = [
            total_calls * per_site_requests.get(site, 0) / max(1, out["requests"])
            for site in range(sites)
        ]
    per_minute = [c / minutes for c in per_site_calls]
    entry = {
        "measured": True,
        "requests": out["requests"],
        "ok": out["ok"],
        "errors": out["error_count"],
        "error_detail": out["errors"],
        "seconds": out["seconds"],
        "rps": out["requests"] / out["seconds"],
        "p50_ms": out["latency"].get("p50_ms"),
        "p99_ms": out["latency"].get("p99_ms"),
        "first_request_p50_ms": out["first_request"].get("p50_ms"),
        "later_requests_p50_ms": out["later_requests"].get("p50_ms"),
        "upstream_calls": calls,
        "calls_per_request": total_calls / max(1, out["requests"]),
        "calls_per_token": total_calls / len(tokens),
        "floor_calls_per_request": 1 / args.mix_reuse,
        "calls_per_minute_per_instance_mean": statistics.mean(per_minute),
        "calls_per_minute_per_instance_max": max(per_minute),
        "requests_per_minute_per_instance_max": max(per_site_requests.values()) / minutes,
        "visitors_per_minute_per_instance": args.mix_visitors / sites / minutes,
    }
    log(
        f"  mix, {server:>8}: {out['requests']} requests in {out['seconds']:.1f} s, "
        f"{total_calls} Wix calls = {entry['calls_per_request']:.3f}/request "
        f"({entry['calls_per_token']:.2f}/token); "
        f"{entry['calls_per_minute_per_instance_max']:.0f} calls/min on the busiest "
        f"instance (limit 200); p50 {entry['p50_ms']:.2f} ms, errors {out['error_count']}"
    )
    return entry


async def run_mix(bench: Bench, results: dict[str, Any]) -> None:
    """Visitors arrive evenly over ``--mix-span`` s, spread evenly over the sites, each with a
    new token used for ``--mix-reuse`` requests. Measured on the cached server. The uncached
    (Node sample) figure is derived, one call per request as B measures, unless
    ``--mix-measure-uncached`` (on 2 busy cores the uncached server cannot keep this pace)."""
    args = bench.args
    mix: dict[str, Any] = {
        "visitors": args.mix_visitors,
        "sites": len(bench.instances),
        "reuse": args.mix_reuse,
        "span_s": args.mix_span,
        "think_s": args.mix_think,
        "wix_limit_per_minute_per_instance": 200,
    }
    mix["cached"] = await mix_run(bench, "cached")
    if args.mix_measure_uncached:
        mix["uncached"] = await mix_run(bench, "uncached")
    else:
        cached = mix["cached"]
        per_minute = cached["requests_per_minute_per_instance_max"]
        mix["uncached"] = {
            "measured": False,
            "note": "derived: one token-info call per request (B measures exactly 1.000), "
            "at the cached run's pace",
            "requests": cached["requests"],
            "rps": cached["rps"],
            "calls_per_request": 1.0,
            "calls_per_token": float(args.mix_reuse),
            "calls_per_minute_per_instance_mean": cached["requests"]
            / len(bench.instances)
            / (cached["seconds"] / 60),
            "calls_per_minute_per_instance_max": per_minute,
            "errors": None,
            "p50_ms": None,
            "p99_ms": None,
        }
        log(
            f"  mix, uncached (derived, 1 call/request): {per_minute:.0f} calls/min on the "
            f"busiest instance (limit 200)"
        )
    results["mix"] = mix


# ---- statistics and targets


def summarize_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    rps = [r["rps"] for r in runs]
    mean = statistics.mean(rps)
    cpu = [r["server_cpu_ms_per_request"] for r in runs if r["server_cpu_ms_per_request"]]
    return {
        "rps_median": statistics.median(rps),
        "rps_mean": mean,
        "rps_min": min(rps),
        "rps_max": max(rps),
        "rps_spread_pct": (max(rps) - min(rps)) / statistics.median(rps) * 100 if mean else 0.0,
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p50_ms_max": max(r["p50_ms"] for r in runs),
        "p99_ms": statistics.median(r["p99_ms"] for r in runs),
        "p99_ms_max": max(r["p99_ms"] for r in runs),
        "calls_per_request": statistics.mean(r["calls_per_request"] or 0 for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "server_cpu_ms_per_request": statistics.mean(cpu) if cpu else None,
        "server_cpu_us_per_request": statistics.median(cpu) * 1000 if cpu else None,
        "server_cpu_us_min": min(cpu) * 1000 if cpu else None,
        "server_cpu_us_max": max(cpu) * 1000 if cpu else None,
        "loadavg": [r["loadavg_before"][0] for r in runs],
    }


def ratio_summary(values: list[float]) -> dict[str, Any]:
    return {
        "per_repeat": values,
        "median": statistics.median(values),
        "mean": statistics.mean(values),
        "min": min(values),
        "max": max(values),
    }


def judge(results: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []
    sc = results.get("scenarios", {})
    upstream_ms = args.latency_ms

    def add(name: str, met: bool | None, measured: str, goal: str, why: str = "") -> None:
        targets.append(
            {"target": name, "met": met, "measured": measured, "goal": goal, "note": why}
        )

    def fixed(name: str, kind: str) -> dict[str, Any] | None:
        for run in results.get("fixed_rate", {}).get("runs", []):
            if run["scenario"] == name and run["rate_kind"] == kind:
                found: dict[str, Any] = run
                return found
        return None

    for ratio, (top, bottom, goal, measure) in RATIOS.items():
        r = results.get("ratios", {}).get(ratio)
        if r is None or goal is None:
            continue
        if measure == "cpu":
            met = ratio_met(r["median"], goal, measure)
            add(
                f"{ratio} <= {goal:g} (server CPU per request)",
                met,
                f"{r['median']:.2f} (median of paired repeats; {r['min']:.2f}..{r['max']:.2f}); "
                f"{sc[top]['summary']['server_cpu_us_per_request']:.0f} vs "
                f"{sc[bottom]['summary']['server_cpu_us_per_request']:.0f} us",
                f"<= {goal:g}",
                "" if met else f"over by {(r['median'] - goal) / goal * 100:.0f} %",
            )
            continue
        cpu_top = sc[top]["summary"]["server_cpu_us_per_request"]
        cpu_bottom = sc[bottom]["summary"]["server_cpu_us_per_request"]
        by_cpu = (
            f"; CPU per request {cpu_top:.0f} vs {cpu_bottom:.0f} us"
            if cpu_top and cpu_bottom
            else ""
        )
        met = r["median"] >= goal
        extra = ""
        if ratio == "D_cached/ND":
            calls = sc[top]["summary"]["calls_per_request"]
            met = met and calls == 0
            extra = f"; {calls:.3f} Wix calls per warm request"
        add(
            f"{ratio} >= {goal:g} (requests/s)",
            met,
            f"{r['median']:.2f} (median of paired repeats; {r['min']:.2f}..{r['max']:.2f})"
            f"{by_cpu}{extra}",
            f">= {goal:g}",
            "" if met else f"short by {(goal - r['median']) / goal * 100:.0f} %; see the profile",
        )
    w2 = fixed("W2", "high")
    if w2 is not None:
        add(
            "W2 (--workers 2) p50 < 2 ms below saturation",
            w2["p50_ms"] < 2.0,
            f"{w2['p50_ms']:.2f} ms at {w2['offered_rps']:.0f} req/s offered, "
            f"{w2['achieved_rps']:.0f} served (paced wrk, keep-alive; median of "
            f"{len(w2['rounds'])} rounds, {w2['p50_ms_min']:.2f}..{w2['p50_ms_max']:.2f})",
            "< 2 ms",
            "" if w2["p50_ms"] < 2.0 else f"over by {w2['p50_ms'] - 2:.2f} ms",
        )
    memory = results.get("memory")
    if memory:
        add(
            "memory per worker after the mix (RSS)",
            None,
            f"{memory['after_mix_mib']} MiB (after warm-up {memory['start_mib']} MiB; "
            f"growth {memory['growth_mib']:+.1f} MiB over {memory['requests']} requests)",
            "reported",
        )
    if "A" in sc:
        m = sc["A"]["summary"]
        add(
            "A p50 < 5 ms at saturation",
            m["p50_ms"] < 5.0,
            f"{m['p50_ms']:.2f} ms at {m['rps_median']:.0f} req/s (wrk, {args.connections} "
            f"connections: closed loop, so p50 ~ connections / throughput)",
            "< 5 ms",
            "" if m["p50_ms"] < 5.0 else f"over by {m['p50_ms'] - 5:.2f} ms",
        )
    high = fixed("A", "high")
    if high is not None:
        add(
            f"A p50 < 5 ms at {args.high_rate_share:.0%} of its measured throughput",
            high["p50_ms"] < 5.0,
            f"{high['p50_ms']:.2f} ms at {high['offered_rps']:.0f} req/s offered, "
            f"{high['achieved_rps']:.0f} served (paced wrk; median of "
            f"{len(high['rounds'])} rounds, {high['p50_ms_min']:.2f}..{high['p50_ms_max']:.2f})",
            "< 5 ms",
            "" if high["p50_ms"] < 5.0 else f"over by {high['p50_ms'] - 5:.2f} ms",
        )
    if "B" in sc:
        p50 = sc["B"]["summary"]["p50_ms"]
        moderate = fixed("B", "moderate")
        extra = (
            f"; {moderate['p50_ms']:.2f} ms at a fixed {moderate['offered_rps']:.0f} req/s"
            if moderate
            else ""
        )
        add(
            f"B p50 > upstream latency ({upstream_ms:g} ms)",
            p50 > upstream_ms and (moderate is None or moderate["p50_ms"] > upstream_ms),
            f"{p50:.2f} ms at saturation{extra}",
            f"> {upstream_ms:g} ms",
        )
    if "storm" in results:
        calls = results["storm"]["cached_token_info_calls"]
        add(
            "E: exactly 1 upstream call per storm",
            all(c == 1 for c in calls),
            f"{calls} token-info calls for {len(calls)} storms of {args.storm_k} "
            f"(uncached: {results['storm']['uncached_token_info_calls']})",
            "1 each",
            ""
            if all(c == 1 for c in calls)
            else f"with {args.workers} workers each keeps its own cache: up to one call per worker",
        )
    if "mix" in results and "cached" in results["mix"]:
        m = results["mix"]["cached"]
        met = m["calls_per_request"] < 0.02
        add(
            "mix: < 0.02 upstream calls per request",
            met,
            f"{m['calls_per_request']:.3f} calls/request = {m['calls_per_token']:.2f} per "
            f"token; busiest instance {m['calls_per_minute_per_instance_max']:.0f} calls/min "
            f"(uncached {results['mix']['uncached']['calls_per_minute_per_instance_max']:.0f})",
            "< 0.020",
            ""
            if met
            else f"over by {m['calls_per_request'] / 0.02:.1f}x: a new token can only be checked "
            f"by asking Wix, so {args.mix_reuse} requests per token cannot go below "
            f"1/{args.mix_reuse} = {1 / args.mix_reuse:.3f}; the target needs >= 50 requests "
            f"per token",
        )
    return targets


# The speed targets side by side: (ratio, what it compares), in the order printed.
TARGET_RATIOS = (
    ("K/N cpu", "cold identify: server CPU/request vs Express+axios"),
    ("K/N", "cold identify: requests/s vs Express+axios"),
    ("A/R", "warm /get-instance vs raw ASGI (same uvicorn stack)"),
    ("A/X", "warm /get-instance vs Express constant route"),
    ("S_sqlite/A", "warm /api/settings (SQLite) vs /get-instance"),
    ("S_pg/A", "warm /api/settings (PostgreSQL) vs /get-instance"),
    ("FC/F", "FastAPI route + Depends(current_caller) vs bare"),
    ("L/A", "a user's lean_route vs /get-instance"),
)


def targets_table(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target: what it compares, its goal, the measured values (per repeat or round),
    and met (judged on the median; ``repeats_met`` says how many of them met it)."""
    rows: list[dict[str, Any]] = []

    def row(
        name: str, what: str, goal: float, values: list[float], at_most: bool, by_cpu: str = ""
    ) -> None:
        median = statistics.median(values)
        ok = [v <= goal if at_most else v >= goal for v in values]
        rows.append(
            {
                "target": name,
                "what": what,
                "goal": f"{'<=' if at_most else '>='} {goal:g}",
                "values": values,
                "median": median,
                "min": min(values),
                "max": max(values),
                "met": median <= goal if at_most else median >= goal,
                "repeats_met": f"{sum(ok)}/{len(ok)}",
                "by_cpu": by_cpu,
            }
        )

    ratios = results.get("ratios", {})
    runs = {name: s["runs"] for name, s in results.get("scenarios", {}).items()}
    for name, what in TARGET_RATIOS:
        r = ratios.get(name)
        if not r or r.get("goal") is None:
            continue
        top, bottom, _goal, measure = RATIOS[name]
        by_cpu = ""
        if measure == "rps":  # the same comparison in requests per CPU second, per repeat
            per_cpu = ratio_values(runs[bottom], runs[top], "cpu")
            if per_cpu:
                by_cpu = (
                    f"{statistics.median(per_cpu):.2f} ({min(per_cpu):.2f}..{max(per_cpu):.2f})"
                )
        row(name, what, r["goal"], r["per_repeat"], measure == "cpu", by_cpu)
    tail = results.get("tail")
    if tail:
        rounds = tail["rounds"]
        what = f"tail under expiry ({tail['sites']} sites, TTL {tail['ttl_s']:g} s)"
        control = tail["control"]["rounds"]
        same = "the same load, nothing expiring (control)"
        row("T p99 ms", what, 2.0, [r["p99_ms"] for r in rounds], True)
        row("T0 p99 ms", same, 2.0, [r["p99_ms"] for r in control], True)
        row("T p99.9 ms", what, 5.0, [r["p999_ms"] for r in rounds], True)
        row("T0 p99.9 ms", same, 5.0, [r["p999_ms"] for r in control], True)
        row(
            "T Wix calls/min",
            f"one per site per TTL = {tail['wix_calls_per_minute_limit']:.0f}/min",
            round(tail["wix_calls_per_minute_limit"]),
            [r["wix_calls_per_minute"] for r in rounds],
            True,
        )
    return rows


def targets_table_text(rows: list[dict[str, Any]], loadavg: list[float]) -> str:
    lines = [
        f"targets (load average at the end {loadavg}); measured: median, min..max over "
        "paired repeats (tail: rounds); result on the median; by CPU: the same ratio in "
        "requests per server CPU second",
        f"{'target':<16} {'compares':<54} {'goal':>8} {'median':>8} {'min..max':>15} "
        f"{'repeats':>7}  {'result':<6}  by CPU",
    ]
    for r in rows:
        span = f"{r['min']:.2f}..{r['max']:.2f}"
        lines.append(
            f"{r['target']:<16} {r['what']:<54} {r['goal']:>8} {r['median']:8.2f} {span:>15} "
            f"{r['repeats_met']:>7}  {'met' if r['met'] else 'MISSED':<6}  {r['by_cpu']}"
        )
    return "\n".join(lines)


# ---- output


def log(message: str) -> None:
    print(message, flush=True)


def summary_table(results: dict[str, Any]) -> str:
    rows = [
        ("scenario", "req/s", "min..max", "p50 ms", "p99 ms", "calls/req", "cpu us/req", "errors")
    ]
    for s in results.get("scenarios", {}).values():
        m = s["summary"]
        cpu = m["server_cpu_us_per_request"]
        rows.append(
            (
                s["label"],
                f"{m['rps_median']:.0f}",
                f"{m['rps_min']:.0f}..{m['rps_max']:.0f}",
                f"{m['p50_ms']:.2f}",
                f"{m['p99_ms']:.2f}",
                f"{m['calls_per_request']:.3f}",
                f"{cpu:.0f} ({m['server_cpu_us_min']:.0f}..{m['server_cpu_us_max']:.0f})"
                if cpu
                else "-",
                str(m["errors"]),
            )
        )
    for f in results.get("fixed_rate", {}).get("runs", []):
        rows.append(
            (
                f"{f['scenario']} at a fixed {f['offered_rps']:.0f} req/s, open loop"
                if f["rate_kind"] == "moderate"
                else f"{f['scenario']} paced at ~{f['offered_rps']:.0f} req/s (wrk)",
                f"{f['achieved_rps']:.0f}",
                "",
                f"{f['p50_ms']:.2f}",
                f"{f['p99_ms']:.2f}",
                f"{f['calls_per_request']:.3f}",
                "",
                str(f["errors"]),
            )
        )
    if "storm" in results:
        for s in results["storm"]["storms"]:
            rows.append(
                (
                    f"E  storm of {s['k']}, {s['server']}",
                    "",
                    "",
                    f"{s['p50_ms']:.2f}",
                    "",
                    f"{s['token_info_calls']} total",
                    "",
                    str(s["errors"]),
                )
            )
    mix = results.get("mix", {})
    for server in ("cached", "uncached"):
        if server in mix:
            m = mix[server]
            measured = m.get("measured", True)
            rows.append(
                (
                    f"mix {mix['visitors']} visitors/{mix['sites']} sites "
                    f"x{mix['reuse']}, {server}{'' if measured else ' (derived)'}",
                    f"{m['rps']:.0f}",
                    "",
                    f"{m['p50_ms']:.2f}" if measured else "-",
                    f"{m['p99_ms']:.2f}" if measured else "-",
                    f"{m['calls_per_request']:.3f}",
                    "",
                    str(m["errors"]) if measured else "-",
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, r in enumerate(rows):
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    for name, r in results.get("ratios", {}).items():
        if isinstance(r, dict):
            sign = "<=" if r.get("measure") == "cpu" else ">="
            goal = f"   goal {sign} {r['goal']:g}" if r.get("goal") else ""
            lines.append(
                f"{name:<22} {r['median']:6.2f}  (median of paired repeats; "
                f"{r['min']:.2f}..{r['max']:.2f}){goal}"
            )
    mix_line = []
    for server in ("cached", "uncached"):
        if server in mix:
            m = mix[server]
            mix_line.append(
                f"{server}{'' if m.get('measured', True) else ' (derived)'}: "
                f"{m['calls_per_minute_per_instance_max']:.0f} Wix calls/min on the "
                f"busiest instance"
            )
    if mix_line:
        lines.append(
            f"mix at {mix['cached']['visitors_per_minute_per_instance']:.0f} new visitors/min "
            f"per site: " + "; ".join(mix_line) + " (Wix allows 200)"
        )
    return "\n".join(lines)


def capacity_text(results: dict[str, Any]) -> str:
    cap = results.get("capacity")
    if not cap:
        return ""
    m, p = cap["measured"], cap["predicted"]
    rows = [
        ("Wix calls/min/instance", m["wix_calls_per_minute_per_instance"],
         p["wix_calls_per_minute_per_instance"], "="),
        ("Redis commands/s", m["redis_commands_per_second"],
         p["redis_commands_per_second_max"], "<="),
        ("PostgreSQL rows written/s", m["postgres_row_writes_per_second"],
         p["postgres_row_writes_per_second"], "="),
        ("PostgreSQL transactions/s", m["postgres_transactions_per_second"],
         p["postgres_transactions_per_second_max"], "<="),
        ("CPU us/request", m["cpu_us_per_request"], p["cpu_us_per_request"], "="),
    ]  # fmt: skip
    lines = [
        f"capacity check: {cap['sites']} sites, {m['page_views_per_minute_per_site']:.0f} page "
        f"views/min/site, {m['new_share']:.0%} new visitors, 2 workers, Redis, PostgreSQL; "
        f"{m['requests']} page views, {m['errors']} errors, p50 {m['p50_ms']:.2f} ms",
        "  measure                       measured    model",
    ]
    for name, measured, predicted, how in rows:
        lines.append(f"  {name:<28} {measured:9.1f}  {how} {predicted:8.1f}")
    return "\n".join(lines)


def targets_text(targets: list[dict[str, Any]]) -> str:
    out = []
    for t in targets:
        mark = "INFO  " if t["met"] is None else "MET   " if t["met"] else "MISSED"
        out.append(f"[{mark}] {t['target']}: {t['measured']} (goal {t['goal']})")
        if t["note"]:
            out.append(f"         {t['note']}")
    return "\n".join(out)


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "sched_cpus": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().split()[1]
        info["mem_gib"] = round(int(mem) / 1024 / 1024, 1)
    except (OSError, IndexError, ValueError):
        pass
    import importlib.util

    info["uvicorn_loop"] = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    info["uvicorn_http"] = "httptools" if importlib.util.find_spec("httptools") else "h11"
    try:
        import uvicorn

        info["uvicorn"] = uvicorn.__version__
    except ImportError:
        pass
    info["wrk"] = shutil.which("wrk")
    return info


async def start_world(bench: Bench) -> None:
    """Emulator, app, sites, tokens, the servers the chosen scenarios need, saved settings,
    and warm caches."""
    args = bench.args
    log(f"bench: emulator with {args.latency_ms:g} ms on every Wix call")
    bench.start_emulator()
    await bench.setup_world()
    servers = bench.needed_servers()
    log(
        f"bench: {len(bench.instances)} sites, {len(bench.pool_tokens)} pool tokens; "
        f"servers {', '.join(servers)} ({args.stack} stack, {args.workers} worker(s) each, "
        f"W2 {args.scale_workers})"
    )
    bench.start_server("cached", cache_enabled=True, workers=args.workers)
    bench.start_server("uncached", cache_enabled=False, workers=args.workers)
    if "pg" in servers:
        url = bench.create_pg_database()
        bench.start_server("pg", cache_enabled=True, database_url=url, workers=args.workers)
    if "w2" in servers:
        bench.start_server("w2", cache_enabled=True, workers=args.scale_workers)
    if "cold" in servers:
        bench.start_server("cold", cache_enabled=True, workers=args.workers, extra_env=COLD_ENV)
    if "raw" in servers:
        bench.start_raw()
    if "node" in servers:
        bench.start_node()
    for server in ("cached", "pg"):
        if server in bench.servers:
            await bench.save_settings(server)
    # Pre-warm. Each worker has its own cache and the kernel picks the worker per
    # connection: with several workers, warm_pool passes several times.
    await bench.warm_pool()


def memory_now(bench: Bench) -> list[float]:
    return harness.worker_rss_mib(bench.servers["cached"][0].pid)


async def profile_scenarios(bench: Bench, names: list[str]) -> dict[str, Any]:
    """py-spy profiles of the named throughput scenarios (wixapp servers only), interleaved
    in slices; each against C when C is among them."""
    import profile_hot_path

    args = bench.args
    names = [n for n in names if THROUGHPUT[n][0] in PYTHON_SERVERS and THROUGHPUT[n][0] != "w2"]
    log(
        f"bench: profiling {', '.join(names)} with py-spy, {args.profile_seconds:g} s each in "
        f"{args.profile_rounds} interleaved slices"
    )
    await bench.fresh_pool(len(names) * (args.profile_seconds + 2 * args.profile_rounds))
    targets = [(name, *bench.servers[THROUGHPUT[name][0]], THROUGHPUT[name][1]) for name in names]
    out = await profile_hot_path.profile_interleaved(
        targets,
        bench.pool_file,
        seconds=args.profile_seconds,
        rounds=args.profile_rounds,
        connections=args.connections,
        out_dir=args.output,
        single_worker=args.workers == 1,
    )
    texts = [out[name]["text"] for name in names]
    for name in names:
        if name != "C" and "C" in out:
            out[f"{name}_vs_C"] = profile_hot_path.compare(out[name], out["C"], (name, "C"))
            texts.append(out[f"{name}_vs_C"])
    out["text"] = "\n".join(texts)
    return out


# The scenarios whose targets a profile explains when missed.
PROFILED_FOR = {
    "A/R": ["A", "C"],
    "FC/F": ["FC", "F"],
    "L/A": ["L", "A"],
    "A/X": ["A", "C"],
    "A/C": ["A", "C"],
    "D_cached/A": ["D_cached", "A"],
    "A/N": ["A", "C"],
    "D_cached/ND": ["D_cached", "C"],
    "S_sqlite/A": ["S_sqlite", "C"],
    "S_pg/A": ["S_pg", "C"],
}


async def bench_main(args: argparse.Namespace, results: dict[str, Any], bench: Bench) -> None:
    try:
        await start_world(bench)
        results["memory"] = {"start_mib": memory_now(bench)}
        steps = [
            ("throughput", "throughput (wrk, interleaved repeats)", run_throughput),
            ("fixed", "latency below saturation (fixed rates)", run_fixed),
            ("tail", "the tail under expiry (instance data TTL)", run_tail),
            ("storm", "E: cold storm", run_storm),
            ("mix", "realistic mix", run_mix),
            ("capacity", "capacity check: 2 workers, Redis, PostgreSQL", run_capacity),
        ]
        for group, title, step in steps:
            if group in args.groups:
                log(f"bench: {title}")
                started = time.monotonic()
                await step(bench, results)
                results["timings"][group] = round(time.monotonic() - started, 1)
        memory = results["memory"]
        memory["after_mix_mib"] = memory_now(bench)
        memory["growth_mib"] = sum(memory["after_mix_mib"]) - sum(memory["start_mib"])
        memory["requests"] = harness.served_requests(bench.servers["cached"][1])
        results["targets"] = judge(results, args)
        missed = [t["target"].split(" ")[0] for t in results["targets"] if t["met"] is False]
        names: list[str] = []
        for ratio in missed:
            names += [n for n in PROFILED_FOR.get(ratio, []) if n in args.chosen]
        if args.profile == "always":
            names = [n for n in ("A", "C", "S_sqlite") if n in args.chosen]
        names = list(dict.fromkeys(names))
        if args.profile != "never" and names:
            started = time.monotonic()
            results["profile"] = await profile_scenarios(bench, names)
            results["timings"]["profile"] = round(time.monotonic() - started, 1)
    finally:
        bench.drop_pg_database()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    results: dict[str, Any] = {
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "config": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k != "groups"
        },
        "loadavg_start": harness.loadavg(),
        "scenarios": {},
        "timings": {},
    }
    log(f"bench: {results['machine']['nproc']} cores, load average {results['loadavg_start']}")
    tmp = Path(tempfile.mkdtemp(prefix="wixapp-bench-"))
    log_dir = args.output / "logs"  # the processes' own output, kept for a post-mortem
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = Processes(log_dir)
    bench = Bench(args, procs, tmp)
    failed = False

    def terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # so the finally below stops every process we started

    signal.signal(signal.SIGTERM, terminate)
    try:
        asyncio.run(bench_main(args, results, bench))
    except KeyboardInterrupt:
        log("bench: interrupted")
        failed = True
    except Exception as error:
        failed = True
        log(f"bench: FAILED: {type(error).__name__}: {error}")
        traceback.print_exc()
        for proc in procs.started:
            if proc.tail():
                log(f"--- {proc.name} log ---\n{proc.tail()}")
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    results["loadavg_end"] = harness.loadavg()
    results["total_seconds"] = round(time.monotonic() - started, 1)
    results["failed"] = failed
    if failed and not results["scenarios"]:
        return 1
    results["targets_table"] = targets_table(results)
    path = args.output / f"run-{stamp}.json"
    path.write_text(json.dumps(results, indent=2))
    shutil.copyfile(path, args.output / "latest.json")
    try:
        import chart

        chart.draw(results, args.output / "latest.png")
        shutil.copyfile(args.output / "latest.png", args.output / f"run-{stamp}.png")
    except ImportError as error:
        log(f"bench: no chart ({error}); `make bench` installs matplotlib")
    log("")
    log(summary_table(results))
    if results.get("capacity"):
        log("")
        log(capacity_text(results))
    if results.get("targets"):
        log("")
        log(targets_text(results["targets"]))
    if "profile" in results:
        log("")
        log(results["profile"]["text"])
    if results["targets_table"]:
        log("")
        log(targets_table_text(results["targets_table"], results["loadavg_end"]))
    log("")
    log(
        f"bench: {results['total_seconds']:.0f} s on {results['machine']['nproc']} cores "
        f"(load average {results['loadavg_start']} -> {results['loadavg_end']}); "
        f"results in {args.output / 'latest.json'} and latest.png"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
