"""The capacity check of ``make bench`` (``--only capacity``): a scaled-down deployment on this
machine, measured, beside what the model of docs/CAPACITY.md predicts for it.

Two wixapp workers (``--workers 2``) on a private ``redis-server`` (so its counters are ours
alone) and a throwaway PostgreSQL database, behind one port; visitors of ``sites`` sites load
the widget (``GET /api/settings``, one request per page view), each visitor with a new token
for ``page_views`` page views, so the share of new visitors is ``1 / page_views``. Measured:
Wix calls per minute per instance (the emulator's counts); the workers' Redis calls by term
of the model (a MONITOR client, :class:`RedisTap`), every command Redis ran and its CPU
(INFO); PostgreSQL writes per second (pg_stat_database: transactions and rows of our
database); the workers' CPU per request (/proc), also net of their idle work.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import harness

LOOPBACK = harness.LOOPBACK
LAST_SEEN_INTERVAL = 10.0  # short, so that its writes show within the measurement
# Idle before and after the load: the workers' own CPU is measured, and PostgreSQL's
# statistics catch up (an idle backend reports its counts up to 10 s late, so rows written
# by the warm-up would otherwise be counted in the load, and the last batches left out).
SETTLE_SECONDS = 11.0


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


class RedisTap:
    """Every command Redis runs, counted by (caller, command, key family), through MONITOR:
    the caller is "call" for a command a worker sent (one round trip, or one in a pipeline)
    and "lua" for one a script ran. The key family is the key's name without the app's
    prefix and scope and without the key itself (``ti``, ``lock:ic:settings``,
    ``budget:c``...). MONITOR costs Redis some CPU: its CPU figures are upper bounds."""

    def __init__(self, url: str, prefix: str = "wixapp") -> None:
        import redis

        self._prefix = prefix + ":"
        self._client = redis.Redis.from_url(url, socket_timeout=None)  # quiet moments are fine
        self._monitor = self._client.monitor()  # type: ignore[no-untyped-call]
        self._monitor.__enter__()
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self._counting = False
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def start(self) -> None:
        self.counts.clear()
        self._counting = True

    def stop(self) -> Counter[tuple[str, str, str]]:
        self._counting = False
        return Counter(self.counts)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._monitor.__exit__()
        self._thread.join(5)
        self._client.close()

    def _read(self) -> None:
        while True:
            try:
                line = self._monitor.connection.read_response()
            except Exception as error:
                if self._counting:
                    self.error = error
                return
            if self._counting:
                self.counts[self._classify(line)] += 1

    def _classify(self, line: bytes) -> tuple[str, str, str]:
        text = line.decode("latin-1")
        _stamp, _, rest = text.partition(" [")
        origin, _, command = rest.partition("] ")
        words = command.split('" "')
        name = words[0].strip('"').lower()
        caller = "lua" if origin.endswith(" lua") else "call"
        key = words[1] if len(words) > 1 else ""
        if name in ("evalsha", "eval") and len(words) > 3:
            key = words[3]
        return caller, name, self._family(key.strip('"'))

    def _family(self, key: str) -> str:
        if not key.startswith(self._prefix):
            return "-"
        parts = key[len(self._prefix) :].split(":")[1:]  # without the scope (the app ID)
        if parts[0] == "budget" and len(parts) > 1:
            return "budget:" + parts[1]
        take = 2 if parts[0] in ("lock", "fail") else 1
        if len(parts) > take and parts[take - 1] == "ic":
            take += 1
        return ":".join(parts[:take])


def redis_stats(url: str) -> dict[str, float]:
    """Commands Redis has run (scripts' own included), its CPU seconds, and the seconds it
    spent executing the workers' calls (INFO commandstats: EVALSHA's include its script's
    commands; neither counts reading and answering the call), so far."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        stats, cpu = client.info("stats"), client.info("cpu")
        commands = client.info("commandstats")
    finally:
        client.close()
    executing = sum(each["usec"] for name, each in commands.items() if name not in _NOT_THE_WORKERS)
    return {
        "commands": float(stats["total_commands_processed"]),
        "cpu": float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]),
        "executing": executing / 1e6,
    }


# The bench's own commands, and those a script runs (counted in its EVALSHA's time too).
_NOT_THE_WORKERS = {
    f"cmdstat_{name}"
    for name in ("info", "monitor", "hello", "hmget", "hset", "hsetnx", "pexpire", "pttl", "del")
}


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


REFRESH_AHEAD = 0.25  # wixapp.cache.layered.REFRESH_AHEAD: a value's last quarter
NEW_TOKEN_CALLS = 6  # GET (miss), lock, GET (under the lock), store; budget spend, confirm
SETTINGS_REFRESH_CALLS = 3  # lock, GET (under the lock), store


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
    flush_period: float = 1.0,
    utilisation: float = 0.7,
) -> dict[str, Any]:
    """docs/CAPACITY.md's model: per-second loads of a deployment, from measured unit costs.

    Redis, in calls a worker sends (a script is one call, whatever it runs):

    - a new token: ``NEW_TOKEN_CALLS`` (its verdict's flight, and the token-check budget),
      once across all processes;
    - any other page view: at most one GET of its token's verdict (none when this worker
      confirmed it in the last ``local_ttl`` s);
    - settings: a worker re-reads an instance's entry when its copy was confirmed more than
      ``local_ttl`` s ago. With page views of one instance reaching one worker at a rate
      ``lam`` (Poisson), a re-read is followed by ``local_ttl`` s of free reads and then a
      wait for the next: ``lam / (1 + lam * local_ttl)`` re-reads a second per worker and
      instance (``workers * sites / local_ttl`` when busy, every page view when quiet);
    - each instance's settings are refreshed once a period (the first read in the last
      ``REFRESH_AHEAD`` of the TTL): ``SETTINGS_REFRESH_CALLS`` calls by one worker. Another
      worker whose memory copy turns due before it re-reads Redis tries too (one refused
      lock, or lock, GET and release): the bound counts that for every worker;
    - last-seen: one claim script per worker per flush that has notes (``flush_period``),
      at most one per worker and instance per ``last_seen_interval``.

    PostgreSQL: one settings read per instance per refresh period; last-seen writes one row
    per instance per ``last_seen_interval`` across all processes (the claims), in at most
    one statement per worker per flush.
    """
    requests = sites * page_views_per_minute / 60
    new = requests * new_share
    per_instance = requests / sites
    lam = per_instance / workers
    rereads = workers * sites * lam / (1 + lam * local_ttl)
    refresh_period = (1 - REFRESH_AHEAD) * settings_ttl + 1 / per_instance
    refreshes = sites / refresh_period
    claims = min(workers / flush_period, workers * sites / last_seen_interval)
    terms = {
        "token verdicts": 4 * new + (requests - new),
        "token-check budget": 2 * new,
        "settings re-reads": rereads,
        "settings refreshes": SETTINGS_REFRESH_CALLS * refreshes * workers,
        "last-seen claims": claims,
    }
    cpu_us = (1 - new_share) * cpu_warm_us + new_share * cpu_new_us
    return {
        "requests_per_second": requests,
        "wix_calls_per_minute_per_instance": page_views_per_minute * new_share,
        "wix_calls_per_second": new,
        "redis_calls_per_second": terms,
        "redis_commands_per_second_max": sum(terms.values()),
        "postgres_row_writes_per_second": sites / last_seen_interval,
        "postgres_write_batches_per_second": claims,
        "postgres_transactions_per_second_max": refreshes + claims,
        "postgres_settings_reads_per_second": refreshes,
        "cpu_us_per_request": cpu_us,
        "cores_busy": requests * cpu_us / 1e6,
        "workers_needed": requests * cpu_us / 1e6 / utilisation,
    }


# The calls of each term of the model, by the key family the tap names.
TERM_FAMILIES = {
    "token verdicts": ("ti", "lock:ti"),
    "token-check budget": ("budget:c", "budget:i", "budget:n", "budget:all", "budget:s"),
    "settings re-reads": ("ic:settings",),
    "settings refreshes": ("lock:ic:settings",),
    "last-seen claims": ("seen",),
}


def measured_terms(tapped: Counter[tuple[str, str, str]], refreshes: int) -> dict[str, int]:
    """The workers' calls by term; the refreshes' own GET (one per lock taken) and store
    are counted as refreshes. Calls of no term are counted as "other"."""
    calls: Counter[str] = Counter()
    for (caller, name, family), count in tapped.items():
        if caller != "call":
            continue
        term = next((t for t, families in TERM_FAMILIES.items() if family in families), "other")
        if family == "ic:settings" and name == "evalsha":  # a store, under a refresh's lock
            term = "settings refreshes"
        calls[term] += count
    calls["settings re-reads"] -= refreshes
    calls["settings refreshes"] += refreshes
    return dict(calls)


async def run_capacity(bench: Any, results: dict[str, Any]) -> None:
    """Start the deployment, drive the widget's page views, measure; store in results."""
    args = bench.args
    sites = len(bench.instances)
    visitors, page_views = args.capacity_visitors, args.capacity_page_views
    with private_redis(bench.tmp) as redis_url:
        tap = RedisTap(redis_url)
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
        # The workers' own background work (Redis listener, flushes), charged to no request.
        idle_before = harness.tree_cpu_seconds(proc.pid)
        await asyncio.sleep(SETTLE_SECONDS)
        idle_per_second = (harness.tree_cpu_seconds(proc.pid) - idle_before) / SETTLE_SECONDS
        await bench.emu.reset_calls()
        redis_before = redis_stats(redis_url)
        tap.start()
        pg_before = postgres_writes(args.postgres_url, database)
        cpu_before = harness.tree_cpu_seconds(proc.pid)
        out = await bench.loadgen(spec, limit=span + page_views * think * 2 + 120)
        seconds = out["seconds"]
        cpu = harness.tree_cpu_seconds(proc.pid) - cpu_before
        await asyncio.sleep(SETTLE_SECONDS)  # the last last-seen batch, and its statistics
        calls = await bench.calls()
        tapped = tap.stop()
        redis_after = redis_stats(redis_url)
        if tap.error is not None:
            raise RuntimeError(f"the MONITOR tap failed: {tap.error!r}")
        tap.close()
        pg_after = postgres_writes(args.postgres_url, database)
        bench.procs.stop(proc)
        del bench.servers["capacity"]
    requests = out["requests"]
    refreshes = tapped[("lua", "set", "lock:ic:settings")]  # locks taken: loads of settings
    terms = measured_terms(tapped, refreshes)
    worker_calls = sum(count for term, count in terms.items() if term != "other")
    redis_all = redis_after["commands"] - redis_before["commands"]
    measured = {
        "requests": requests,
        "errors": out["error_count"],
        "seconds": seconds,
        "requests_per_second": requests / seconds,
        "page_views_per_minute_per_site": requests / sites / (seconds / 60),
        "new_share": len(tokens) / requests,
        "wix_calls": sum(calls.values()),
        "wix_calls_per_minute_per_instance": sum(calls.values()) / sites / (seconds / 60),
        # the workers' calls (a script is one); and every command Redis ran, scripts' too
        "redis_commands_per_second": worker_calls / seconds,
        "redis_commands_per_request": worker_calls / requests,
        "redis_calls_per_second": {term: count / seconds for term, count in terms.items()},
        "redis_all_commands_per_second": redis_all / seconds,
        "redis_all_commands_per_request": redis_all / requests,
        "redis_cpu_us_per_request": (redis_after["cpu"] - redis_before["cpu"]) * 1e6 / requests,
        "redis_executing_us_per_request": (redis_after["executing"] - redis_before["executing"])
        * 1e6
        / requests,
        "redis_calls_by_family": {
            " ".join(key): count for key, count in sorted(tapped.items(), key=lambda kv: -kv[1])
        },
        "postgres_transactions_per_second": (pg_after["transactions"] - pg_before["transactions"])
        / seconds,
        "postgres_row_writes_per_second": (pg_after["rows"] - pg_before["rows"]) / seconds,
        "cpu_us_per_request": cpu * 1e6 / requests,
        "idle_cpu_per_second": idle_per_second,
        "cpu_us_per_request_net": (cpu - idle_per_second * seconds) * 1e6 / requests,
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
        f"(model {predicted['wix_calls_per_minute_per_instance']:.1f}); errors {out['error_count']}"
    )
    harness_log(terms_text(measured, predicted))


def terms_text(measured: dict[str, Any], predicted: dict[str, Any]) -> str:
    """The model's Redis and PostgreSQL terms beside what the run measured."""
    lines = ["  capacity, per second          measured    model"]
    rows: list[tuple[str, float, str, float | None]] = []
    for term, value in predicted["redis_calls_per_second"].items():
        how = "=" if term in ("token-check budget",) else "<="
        rows.append(
            (f"Redis: {term}", measured["redis_calls_per_second"].get(term, 0.0), how, value)
        )
    rows += [
        ("Redis: calls (a script is one)", measured["redis_commands_per_second"], "<=",
         predicted["redis_commands_per_second_max"]),
        ("Redis: commands, scripts' too", measured["redis_all_commands_per_second"], "", None),
        ("PostgreSQL: rows written", measured["postgres_row_writes_per_second"], "=",
         predicted["postgres_row_writes_per_second"]),
        ("PostgreSQL: transactions", measured["postgres_transactions_per_second"], "<=",
         predicted["postgres_transactions_per_second_max"]),
    ]  # fmt: skip
    for name, value, how, model_value in rows:
        expected = "" if model_value is None else f"{how:>2} {model_value:8.1f}"
        lines.append(f"  {name:<30} {value:8.1f}  {expected}")
    lines.append(
        f"  per page view: {measured['redis_commands_per_request']:.2f} Redis calls, "
        f"{measured['redis_all_commands_per_request']:.2f} commands with the scripts', "
        f"{measured['redis_cpu_us_per_request']:.1f} us of Redis CPU (MONITOR on; "
        f"{measured['redis_executing_us_per_request']:.1f} executing the calls), "
        f"{measured['cpu_us_per_request']:.0f} us of the workers' CPU "
        f"({measured['cpu_us_per_request_net']:.0f} without their idle "
        f"{measured['idle_cpu_per_second'] * 1e3:.0f} ms a second)"
    )
    return "\n".join(lines)


def harness_log(message: str) -> None:
    print(message, flush=True)
