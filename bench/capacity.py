"""The capacity check of ``make bench`` (``--only capacity``): a scaled-down deployment on this
machine, measured, beside what the model of docs/CAPACITY.md predicts for it.

Two wixapp workers (``--workers 2``) on a private ``redis-server`` (so its counters are ours
alone) and a throwaway PostgreSQL database, behind one port; visitors of ``sites`` sites load
the widget (``GET /api/settings``, one request per page view), each visitor with a new token
for ``page_views`` page views, so the share of new visitors is ``1 / page_views``. Measured:
Wix calls per minute per instance (the emulator's counts), Redis commands per second (INFO),
PostgreSQL writes per second (pg_stat_database: transactions and rows of our database), and
the workers' CPU per request (/proc).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import harness

LOOPBACK = harness.LOOPBACK
LAST_SEEN_INTERVAL = 10.0  # short, so that its writes show within the measurement


@contextlib.contextmanager
def private_redis(directory: Path) -> Iterator[str]:
    """A redis-server of our own on a free port (no persistence); its URL."""
    import redis

    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = harness.free_port()
    argv = [binary, "--port", str(port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(directory)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host=LOOPBACK, port=port, socket_connect_timeout=0.5)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://{LOOPBACK}:{port}/0"
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def redis_commands(url: str) -> int:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        return int(client.info("stats")["total_commands_processed"])
    finally:
        client.close()


def postgres_writes(admin_url: str, database: str) -> dict[str, int]:
    """Committed transactions and rows written in ``database`` so far."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as connection:
        connection.execute("SELECT pg_stat_clear_snapshot()")
        row = connection.execute(
            "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted"
            " FROM pg_stat_database WHERE datname = %s",
            (database,),
        ).fetchone()
    assert row is not None
    return {"transactions": int(row[0]), "rows": int(row[1])}


def model(
    *,
    sites: int,
    page_views_per_minute: float,
    new_share: float,
    workers: int,
    cpu_warm_us: float,
    cpu_new_us: float,
    settings_ttl: float,
    last_seen_interval: float,
    local_ttl: float = 5.0,
    utilisation: float = 0.7,
) -> dict[str, float]:
    """docs/CAPACITY.md's model: per-second loads of a deployment, from measured unit costs.

    Redis: a new token costs a GET (miss), a lock, a second GET and a store (4 commands,
    once across all processes); any other request costs at most one GET (its token's
    verdict, when this process has not confirmed it in the last ``local_ttl`` s: the upper
    bound); each process re-checks each instance's settings once per ``local_ttl``, and
    each instance's settings are loaded again (4 commands and a database read) once per
    ``settings_ttl``. PostgreSQL: each process writes last-seen once per
    ``last_seen_interval`` per instance, batched once a second.
    """
    requests = sites * page_views_per_minute / 60
    new = requests * new_share
    cpu_us = (1 - new_share) * cpu_warm_us + new_share * cpu_new_us
    return {
        "requests_per_second": requests,
        "wix_calls_per_minute_per_instance": page_views_per_minute * new_share,
        "wix_calls_per_second": new,
        "redis_commands_per_second_max": 4 * new
        + (requests - new)
        + workers * sites / local_ttl
        + 4 * sites / settings_ttl,
        "postgres_row_writes_per_second": workers * sites / last_seen_interval,
        "postgres_write_batches_per_second": float(workers),
        # settings reads, plus at most one last-seen batch a second per process
        "postgres_transactions_per_second_max": sites / settings_ttl + workers,
        "postgres_settings_reads_per_second": sites / settings_ttl,
        "cpu_us_per_request": cpu_us,
        "cores_busy": requests * cpu_us / 1e6,
        "workers_needed": requests * cpu_us / 1e6 / utilisation,
    }


async def run_capacity(bench: Any, results: dict[str, Any]) -> None:
    """Start the deployment, drive the widget's page views, measure; store in results."""
    args = bench.args
    sites = len(bench.instances)
    visitors, page_views = args.capacity_visitors, args.capacity_page_views
    with private_redis(bench.tmp) as redis_url:
        database_url = bench.create_pg_database()
        database = bench.pg_database
        bench.start_server(
            "capacity",
            cache_enabled=True,
            database_url=database_url,
            workers=2,
            extra_env={
                "WIXAPP_REDIS_URL": redis_url,
                "WIXAPP_MIGRATE_ON_START": "false",
                "WIXAPP_SETTINGS_CACHE_TTL": str(args.capacity_settings_ttl),
                "WIXAPP_LAST_SEEN_INTERVAL": str(LAST_SEEN_INTERVAL),
            },
            migrate_first=database_url,
        )
        await bench.save_settings("capacity")
        # Steady state: every worker has seen every instance (its settings cached, its
        # last-seen written) before the measurement starts.
        warm_tokens = await bench.mint(sites)
        for _ in range(4):
            await bench.warm("capacity", "/api/settings", warm_tokens)
        await asyncio.sleep(1.5)
        tokens = await bench.mint(visitors)
        span = args.capacity_span
        think = args.capacity_think
        spec = {
            "mode": "mix",
            "port": bench.port("capacity"),
            "path": "/api/settings",
            "visitors": [[token, i % sites] for i, token in enumerate(tokens)],
            "reuse": page_views,
            "span": span,
            "think": think,
        }
        proc = bench.servers["capacity"][0]
        await bench.emu.reset_calls()
        redis_before = redis_commands(redis_url)
        pg_before = postgres_writes(args.postgres_url, database)
        cpu_before = harness.tree_cpu_seconds(proc.pid)
        out = await bench.loadgen(spec, limit=span + page_views * think * 2 + 120)
        await asyncio.sleep(1.5)  # the last last-seen batch
        seconds = out["seconds"]
        cpu = harness.tree_cpu_seconds(proc.pid) - cpu_before
        calls = await bench.calls()
        redis_ops = redis_commands(redis_url) - redis_before
        pg_after = postgres_writes(args.postgres_url, database)
        bench.procs.stop(proc)
        del bench.servers["capacity"]
    requests = out["requests"]
    measured = {
        "requests": requests,
        "errors": out["error_count"],
        "seconds": seconds,
        "requests_per_second": requests / seconds,
        "page_views_per_minute_per_site": requests / sites / (seconds / 60),
        "new_share": len(tokens) / requests,
        "wix_calls": sum(calls.values()),
        "wix_calls_per_minute_per_instance": sum(calls.values()) / sites / (seconds / 60),
        "redis_commands_per_second": redis_ops / seconds,
        "redis_commands_per_request": redis_ops / requests,
        "postgres_transactions_per_second": (pg_after["transactions"] - pg_before["transactions"])
        / seconds,
        "postgres_row_writes_per_second": (pg_after["rows"] - pg_before["rows"]) / seconds,
        "cpu_us_per_request": cpu * 1e6 / requests,
        "p50_ms": out["latency"].get("p50_ms"),
        "p99_ms": out["latency"].get("p99_ms"),
    }
    warm = results.get("scenarios", {}).get("S_pg", {}).get("summary", {})
    cpu_warm = warm.get("server_cpu_us_per_request") or measured["cpu_us_per_request"]
    share = measured["new_share"]
    # The CPU of a new visitor's request, from this run's mean and the warm page view's cost.
    cpu_new = max(cpu_warm, (measured["cpu_us_per_request"] - (1 - share) * cpu_warm) / share)
    predicted = model(
        sites=sites,
        page_views_per_minute=measured["page_views_per_minute_per_site"],
        new_share=share,
        workers=2,
        cpu_warm_us=cpu_warm,
        cpu_new_us=cpu_new,
        settings_ttl=args.capacity_settings_ttl,
        last_seen_interval=LAST_SEEN_INTERVAL,
    )
    results["capacity"] = {
        "sites": sites,
        "visitors": visitors,
        "page_views_per_visitor": page_views,
        "workers": 2,
        "settings_ttl": args.capacity_settings_ttl,
        "last_seen_interval": LAST_SEEN_INTERVAL,
        "measured": measured,
        "unit_costs": {"cpu_warm_us": cpu_warm, "cpu_new_us": cpu_new},
        "predicted": predicted,
        "loadavg": harness.loadavg(),
    }
    harness_log(
        f"  capacity: {requests} page views in {seconds:.1f} s over {sites} sites "
        f"({measured['page_views_per_minute_per_site']:.0f}/min/site, {share:.0%} new), "
        f"2 workers: Wix {measured['wix_calls_per_minute_per_instance']:.1f}/min/instance "
        f"(model {predicted['wix_calls_per_minute_per_instance']:.1f}), Redis "
        f"{measured['redis_commands_per_second']:.0f}/s (model <= "
        f"{predicted['redis_commands_per_second_max']:.0f}), PostgreSQL "
        f"{measured['postgres_row_writes_per_second']:.1f} rows written/s (model "
        f"{predicted['postgres_row_writes_per_second']:.1f}), "
        f"{measured['postgres_transactions_per_second']:.1f} transactions/s; CPU "
        f"{measured['cpu_us_per_request']:.0f} us/request; errors {out['error_count']}"
    )


def harness_log(message: str) -> None:
    print(message, flush=True)
