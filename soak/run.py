"""The soak: mixed load with injected faults on loopback, for a while (``make soak``).

The emulator and the backend run as subprocesses (``wixapp emulator``; ``uvicorn
wixapp.server:create_app --factory``, what ``wixapp serve`` runs). Clients then mix warm
``/get-instance``, ``?include=instance``, settings reads, settings increments (read, add
one, write with If-Match, again on 412) and new tokens, while a fault (latency, 5xx, 429
with Retry-After, hangs, connection resets, malformed bodies) is switched on and off at
Wix every few seconds.

It reports the backend's RSS (start, end, max), every outcome, the 5xx that no injected
fault explains (must be 0) and lost writes (each site's counter must equal the increments
the backend acknowledged), and that the backend stops within 10 s of SIGTERM once the load
ends (its workers too: a worker still waiting on a request then would outlive a
deployment's grace period). Results go to ``artifacts/soak.json``; the exit status is 1 if
a check failed.

    python soak/run.py                      # SOAK_SECONDS (default 600) of load
    python soak/run.py --seconds 90         # a shorter run
    python soak/run.py --database-url postgresql://postgres@127.0.0.1/wixapp_soak
    python soak/run.py --database-url ... --redis-url redis://127.0.0.1:6379/0 --workers 2
    python soak/run.py --sqlite-busy-timeout 0.5   # SQLite refusing writes under load (503s)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from wixapp.emulator import EmulatorControl, FaultSpec
from wixapp.store import migrate

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
COUNT = re.compile(r"count=(\d+)")
# Codes a backend answers with when Wix misbehaves: the injected faults explain them.
UPSTREAM_CODES = {
    "upstream_unavailable",
    "upstream_timeout",
    "circuit_open",
    "upstream_protocol_error",
    "upstream_error",
    "upstream_rejected",
    "rate_limited",
}
# (name, fault) switched on in turn; each is on for half a period, then off for half.
FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("latency spike", {"endpoint": "*", "latency": 0.4, "share": 0.5}),
    ("5xx burst", {"endpoint": "*", "status": 503, "share": 0.4}),
    ("429 with Retry-After", {"endpoint": "*", "status": 429, "retry_after": 2, "share": 0.3}),
    ("hangs", {"endpoint": "*", "hang": True, "share": 0.2}),
    ("connection resets", {"endpoint": "*", "reset": True, "share": 0.3}),
    ("malformed bodies", {"endpoint": "*", "malformed": True, "share": 0.3}),
    ("outage", {"endpoint": "*", "status": 503}),
]
BACKEND_SETTINGS = {
    "WIXAPP_HTTP_TIMEOUT": "1",
    "WIXAPP_HTTP_RETRIES": "2",
    "WIXAPP_UPSTREAM_DEADLINE": "2.5",
    "WIXAPP_BREAKER_RESET": "2",
    "WIXAPP_INSTANCE_CACHE_TTL": "20",  # instance data refreshed often, so faults meet it
    "WIXAPP_TOKEN_CACHE_MAX_AGE": "60",  # tokens re-checked often too
}


def log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def clean_environment(extra: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WIX_", "WIXAPP_"))}
    return {**base, **extra}


STOP_SECONDS = 10.0
"""How long a process may take to stop after SIGTERM (a deployment's grace period)."""


@dataclass
class Stopped:
    """How a process stopped after the load: seconds from SIGTERM to its exit, or None if it
    outlived ``STOP_SECONDS`` and was killed (with every process of its group)."""

    seconds: float | None = None


@contextlib.contextmanager
def process(
    name: str, argv: list[str], env: dict[str, str], logs: Path, stopped: Stopped | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with (logs / f"{name}.log").open("ab") as sink:
        # A group of its own: uvicorn's workers are stopped with it, never left behind.
        child = subprocess.Popen(
            argv, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield child
    finally:
        if child.poll() is None:
            asked = time.monotonic()
            child.terminate()  # SIGTERM to the process itself, as a deployment stops it
            try:
                child.wait(STOP_SECONDS)
                if stopped is not None:
                    stopped.seconds = round(time.monotonic() - asked, 2)
            except subprocess.TimeoutExpired:
                log(f"the {name} did not stop within {STOP_SECONDS:g} s of SIGTERM: killed")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, 9)  # whatever of the group is left (workers included)
        child.wait(10)


def wait_until_up(url: str, child: subprocess.Popen[bytes], name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1) as client:
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise SystemExit(f"soak: the {name} exited at start (see its log)")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url).status_code == 200:
                    return
            time.sleep(0.05)
    raise SystemExit(f"soak: the {name} did not start within {timeout:g} s")


def rss_kib(pid: int) -> int:
    """The process's RSS and its children's (uvicorn's workers, with --workers)."""
    total = 0
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        total += sum(rss_kib(int(child)) for child in children)
    return total


# ---- bookkeeping ------------------------------------------------------------------------


@dataclass
class FaultWindow:
    name: str
    started: float
    ended: float | None = None


@dataclass
class Books:
    grace: float
    outcomes: Counter[str] = field(default_factory=Counter)
    by_operation: dict[str, Counter[str]] = field(default_factory=dict)
    windows: list[FaultWindow] = field(default_factory=list)
    unexplained: list[dict[str, Any]] = field(default_factory=list)
    client_errors: Counter[str] = field(default_factory=Counter)
    acknowledged: Counter[str] = field(default_factory=Counter)  # site → increments
    unknown: Counter[str] = field(default_factory=Counter)  # site → writes of unknown fate
    latencies: list[float] = field(default_factory=list)

    def explained(self, started: float, ended: float) -> bool:
        """Did a fault overlap this request (or end shortly before it: the breaker)?"""
        for window in self.windows:
            window_end = (window.ended or float("inf")) + self.grace
            if started <= window_end and ended >= window.started:
                return True
        return False

    def record(self, operation: str, answer: httpx.Response, started: float) -> str:
        ended = time.monotonic()
        self.latencies.append(ended - started)
        outcome = str(answer.status_code)
        if answer.status_code >= 400:
            try:
                outcome += " " + str(answer.json().get("error"))
            except ValueError:
                outcome += " (not JSON)"
        self.outcomes[outcome] += 1
        self.by_operation.setdefault(operation, Counter())[outcome] += 1
        if answer.status_code >= 500:
            code = outcome.split(" ", 1)[-1]
            if code not in UPSTREAM_CODES or not self.explained(started, ended):
                self.unexplained.append(
                    {"operation": operation, "outcome": outcome, "at": round(started, 3)}
                )
        return outcome


# ---- the load ---------------------------------------------------------------------------


@dataclass
class World:
    backend: httpx.AsyncClient
    control: EmulatorControl
    sites: list[str]
    visitors: list[str]
    owners: dict[str, str]
    books: Books
    rng: random.Random


async def warm_get(world: World, path: str, operation: str) -> None:
    token = world.rng.choice(world.visitors)
    started = time.monotonic()
    answer = await world.backend.get(path, headers={"Authorization": token})
    world.books.record(operation, answer, started)


async def read_settings(world: World) -> None:
    site = world.rng.choice(world.sites)
    started = time.monotonic()
    answer = await world.backend.get("/api/settings", headers={"Authorization": world.owners[site]})
    world.books.record("settings GET", answer, started)


async def increment(world: World) -> None:
    """Read, add one, write with If-Match; on 412 read again (up to 10 times)."""
    site = world.rng.choice(world.sites)
    headers = {"Authorization": world.owners[site]}
    for _ in range(10):
        started = time.monotonic()
        read = await world.backend.get("/api/settings", headers=headers)
        if world.books.record("increment: read", read, started) != "200":
            return
        found = COUNT.fullmatch(read.json()["settings"]["greeting"])
        count = int(found[1]) if found else 0
        started = time.monotonic()
        try:
            written = await world.backend.put(
                "/api/settings",
                json={**read.json()["settings"], "greeting": f"count={count + 1}"},
                headers={**headers, "If-Match": read.headers["ETag"]},
            )
        except httpx.HTTPError:
            world.books.unknown[site] += 1  # sent: it may have been written
            raise
        outcome = world.books.record("increment: write", written, started)
        if outcome == "200":
            world.books.acknowledged[site] += 1
            return
        if outcome != "412 precondition_failed":
            return


async def new_token(world: World) -> None:
    site = world.rng.choice(world.sites)
    token = (await world.control.mint_token(site, "VISITOR")).token
    started = time.monotonic()
    answer = await world.backend.get("/get-instance", headers={"Authorization": token})
    world.books.record("new token", answer, started)


async def warm_identify(world: World) -> None:
    await warm_get(world, "/get-instance", "get-instance")


async def warm_instance(world: World) -> None:
    await warm_get(world, "/get-instance?include=instance", "include=instance")


OPERATIONS: list[tuple[int, Callable[[World], Awaitable[None]]]] = [
    (40, warm_identify),
    (20, warm_instance),
    (15, read_settings),
    (15, increment),
    (10, new_token),
]


async def client_loop(world: World, until: float) -> None:
    weights = [weight for weight, _ in OPERATIONS]
    actions = [action for _, action in OPERATIONS]
    while time.monotonic() < until:
        action = world.rng.choices(actions, weights)[0]
        try:
            await action(world)
        except httpx.HTTPError as error:
            world.books.client_errors[type(error).__name__] += 1
            await asyncio.sleep(0.05)


async def fault_loop(control: EmulatorControl, books: Books, period: float, until: float) -> None:
    for name, fault in itertools.cycle(FAULTS):
        if time.monotonic() + period > until:
            return
        await asyncio.sleep(period / 2)  # quiet half
        window = FaultWindow(name, time.monotonic())
        books.windows.append(window)
        await control.add_fault(FaultSpec(**fault))
        log(f"fault on: {name}")
        await asyncio.sleep(period / 2)
        await control.clear_faults()  # also lets hung calls go
        window.ended = time.monotonic()


async def rss_loop(pid: int, samples: list[int], until: float) -> None:
    while time.monotonic() < until:
        samples.append(rss_kib(pid))
        await asyncio.sleep(2)


# ---- the run ----------------------------------------------------------------------------


async def setup(
    control: EmulatorControl, sites: int
) -> tuple[Any, list[str], list[str], dict[str, str]]:
    app = await control.register_app()
    instances = []
    for index in range(sites):
        site = await control.create_site(display_name=f"Soak site {index}")
        instances.append((await control.install(app.app_id, site.site_id)).instance_id)
    visitors = [
        (await control.mint_token(instances[i % sites], "VISITOR")).token for i in range(sites * 10)
    ]
    owners = {site: (await control.mint_token(site, "USER")).token for site in instances}
    return app, instances, visitors, owners


async def soak(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    emulator_port, backend_port = free_port(), free_port()
    emulator_url = f"http://{LOOPBACK}:{emulator_port}"
    backend_url = f"http://{LOOPBACK}:{backend_port}"
    database_url = args.database_url or f"sqlite:///{workdir / 'soak.db'}"
    migrate(database_url)
    emulator_argv = [
        sys.executable,
        "-m",
        "wixapp.cli",
        "-q",
        "emulator",
        "--port",
        str(emulator_port),
        "--no-rate-limit",  # the soak's load is spread over few sites: not Wix's limit here
    ]
    with process("emulator", emulator_argv, clean_environment({}), workdir) as emulator:
        wait_until_up(f"{emulator_url}/_emulator/calls", emulator, "emulator")
        async with EmulatorControl.for_url(emulator_url, timeout=30) as control:
            app, sites, visitors, owners = await setup(control, args.sites)
            settings = {
                "WIX_APP_ID": app.app_id,
                "WIX_APP_SECRET": app.app_secret,
                "WIX_API_BASE_URL": emulator_url,
                "WIXAPP_DATABASE_URL": database_url,
                "WIXAPP_MIGRATE_ON_START": "false",
                **BACKEND_SETTINGS,
                **shared_cache(args.redis_url),
                **sqlite_busy_timeout(args.sqlite_busy_timeout),
            }
            backend_argv = [
                sys.executable,
                "-m",
                "uvicorn",
                "wixapp.server:create_app",
                "--factory",
            ]
            backend_argv += ["--host", LOOPBACK, "--port", str(backend_port)]
            backend_argv += ["--log-level", "warning", "--no-access-log"]
            backend_argv += ["--workers", str(args.workers)]
            stopped = Stopped()
            environment = clean_environment(settings)
            with process("backend", backend_argv, environment, workdir, stopped) as backend:
                wait_until_up(f"{backend_url}/readyz", backend, "backend")
                results = await drive(args, control, backend, backend_url, sites, visitors, owners)
            results["backend_stop_seconds"] = stopped.seconds
            return results


def shared_cache(redis_url: str | None) -> dict[str, str]:
    """The Redis tier's settings (a prefix of this run's own), or none."""
    if redis_url is None:
        return {}
    return {"WIXAPP_REDIS_URL": redis_url, "WIXAPP_REDIS_PREFIX": f"soak-{os.getpid()}"}


def sqlite_busy_timeout(seconds: float | None) -> dict[str, str]:
    """WIXAPP_SQLITE_BUSY_TIMEOUT when given: a short one shows what a busy SQLite answers."""
    return {} if seconds is None else {"WIXAPP_SQLITE_BUSY_TIMEOUT": f"{seconds:g}"}


async def drive(
    args: argparse.Namespace,
    control: EmulatorControl,
    backend: subprocess.Popen[bytes],
    backend_url: str,
    sites: list[str],
    visitors: list[str],
    owners: dict[str, str],
) -> dict[str, Any]:
    grace = (
        float(BACKEND_SETTINGS["WIXAPP_BREAKER_RESET"])
        + float(BACKEND_SETTINGS["WIXAPP_UPSTREAM_DEADLINE"])
        + 1.0
    )
    books = Books(grace=grace)
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with httpx.AsyncClient(base_url=backend_url, timeout=15, limits=limits) as client:
        world = World(client, control, sites, visitors, owners, books, random.Random(args.seed))
        for token in visitors:  # warm: every visitor known before the clock starts
            await client.get("/get-instance", headers={"Authorization": token})
        rss_start = rss_kib(backend.pid)
        samples: list[int] = [rss_start]
        started = time.monotonic()
        until = started + args.seconds
        every = f"a fault every {args.fault_period:g} s"
        log(f"{args.seconds:g} s of load, {args.concurrency} clients, {every}")
        await asyncio.gather(
            fault_loop(control, books, args.fault_period, until),
            rss_loop(backend.pid, samples, until),
            *(client_loop(world, until) for _ in range(args.concurrency)),
        )
        elapsed = time.monotonic() - started
        await control.clear_faults()
        rss_end = rss_kib(backend.pid)
        await asyncio.sleep(grace)  # let the breaker close before the final reads
        finals: dict[str, int] = {}
        for site in sites:
            read = await client.get("/api/settings", headers={"Authorization": owners[site]})
            read.raise_for_status()
            found = COUNT.fullmatch(read.json()["settings"]["greeting"])
            finals[site] = int(found[1]) if found else 0
    lost = {
        site: {
            "acknowledged": books.acknowledged[site],
            "final": finals[site],
            "unknown": books.unknown[site],
        }
        for site in sites
        if not books.acknowledged[site]
        <= finals[site]
        <= books.acknowledged[site] + books.unknown[site]
    }
    requests = sum(books.outcomes.values())
    latencies = sorted(books.latencies)
    return {
        "seconds": round(elapsed, 1),
        "concurrency": args.concurrency,
        "sites": len(sites),
        "backend_settings": BACKEND_SETTINGS,
        "database": args.database_url.split(":", 1)[0] if args.database_url else "sqlite",
        "redis": args.redis_url is not None,
        "workers": args.workers,
        "sqlite_busy_timeout": args.sqlite_busy_timeout,
        "requests": requests,
        "requests_per_second": round(requests / elapsed, 1),
        "latency_ms": {
            "p50": round(1000 * latencies[len(latencies) // 2], 1) if latencies else None,
            "p99": round(1000 * latencies[int(len(latencies) * 0.99)], 1) if latencies else None,
            "max": round(1000 * latencies[-1], 1) if latencies else None,
        },
        "outcomes": dict(books.outcomes.most_common()),
        "by_operation": {op: dict(c.most_common()) for op, c in books.by_operation.items()},
        "faults": [
            {
                "name": w.name,
                "from_s": round(w.started - started, 1),
                "to_s": round((w.ended or 0) - started, 1),
            }
            for w in books.windows
        ],
        "fault_grace_seconds": grace,
        "unexplained_5xx": len(books.unexplained),
        "unexplained_5xx_samples": books.unexplained[:20],
        "client_errors": dict(books.client_errors),
        "writes": {
            "acknowledged_increments": sum(books.acknowledged.values()),
            "unknown_fate": sum(books.unknown.values()),
            "final_counters": sum(finals.values()),
            "lost": lost,
        },
        "rss_kib": {"start": rss_start, "end": rss_end, "max": max(samples)},
        "rss_samples_kib": samples,
    }


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 600)))
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--fault-period", type=float, default=20.0, help="seconds per fault cycle")
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--database-url", default=None, help="default: a SQLite file (WAL)")
    parser.add_argument("--redis-url", default=None, help="the shared tier (default: none)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--sqlite-busy-timeout",
        type=float,
        default=None,
        help="seconds a SQLite write waits for the lock (default: the backend's, 10)",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "artifacts" / "soak.json")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    workdir = Path(tempfile.mkdtemp(prefix="wixapp-soak-"))
    try:
        results = asyncio.run(soak(args, workdir))
    finally:
        if args.keep:
            log(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    stopped_in = results["backend_stop_seconds"]
    passed = (
        results["unexplained_5xx"] == 0 and not results["writes"]["lost"] and stopped_in is not None
    )
    results["passed"] = passed
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    rss = results["rss_kib"]
    log(
        f"{results['requests']} requests in {results['seconds']} s "
        f"({results['requests_per_second']}/s); outcomes {results['outcomes']}"
    )
    mib = {key: f"{value / 1024:.1f} MiB" for key, value in rss.items()}
    log(f"backend RSS: start {mib['start']}, end {mib['end']}, max {mib['max']}")
    log(f"5xx not explained by an injected fault: {results['unexplained_5xx']}")
    writes = results["writes"]
    log(
        f"writes: {writes['acknowledged_increments']} increments acknowledged, counters sum "
        f"{writes['final_counters']}, {writes['unknown_fate']} of unknown fate, "
        f"lost: {writes['lost'] or 'none'}"
    )
    log(
        f"backend stopped {stopped_in} s after SIGTERM"
        if stopped_in is not None
        else f"backend did not stop within {STOP_SECONDS:g} s of SIGTERM"
    )
    log(f"{'PASSED' if passed else 'FAILED'}; results in {args.output}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
