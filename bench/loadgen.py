"""The bench's Python load generator, run as its own process: a JSON spec on stdin, a JSON
result on stdout. For what wrk cannot do: open-loop fixed-rate load (latency at a chosen
rate, not at saturation), a storm of concurrent requests with one new token, a mix of
visitors each with their own token, and warming caches.

It speaks HTTP/1.1 keep-alive on raw asyncio streams on uvloop (no client library overhead) and
only to 127.0.0.1. Latency is measured (with ``time.perf_counter``: uvloop's clock counts
whole milliseconds) from the moment a request was *due*, so a client
that falls behind counts the wait against the server (no coordinated omission).

Modes (``spec["mode"]``):
  warm   send every token once (``concurrency`` at a time), report statuses
  rate   ``rate`` requests a second for ``duration`` s, tokens round-robin
  storm  open ``k`` connections, then send ``k`` requests with one token at once
  mix    ``visitors`` (token, site) arriving evenly over ``span`` s, each sending ``reuse``
         requests ``think`` s apart (±50 %, seeded)
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections import Counter
from typing import Any

import uvloop

HOST = "127.0.0.1"
MAX_CONNECTIONS = 512


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.used = 0  # requests sent on it
        self.idle_since = 0.0

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer)

    async def request(self, data: bytes) -> int:
        """Send one request; read the whole response; return its status."""
        self.used += 1
        self.writer.write(data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"transfer-encoding":
                raise RuntimeError("chunked responses are not expected here")
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


class Pool:
    """Idle keep-alive connections, opened on demand (up to MAX_CONNECTIONS).

    Like a browser: a connection idle for longer than the server keeps it (uvicorn: 5 s) is
    not reused, and a request that fails on a reused connection before any answer (the
    server closed it meanwhile) is sent again once on a new one.
    """

    IDLE_LIMIT = 4.0

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[Connection] = []
        self.opened = 0
        self.retried = 0
        self.slots = asyncio.Semaphore(MAX_CONNECTIONS)

    async def _acquire(self) -> Connection:
        now = asyncio.get_running_loop().time()
        while self.idle:
            conn = self.idle.pop()
            if now - conn.idle_since < self.IDLE_LIMIT:
                return conn
            conn.close()
        self.opened += 1
        return await Connection.open(self.port)

    async def send(self, data: bytes) -> int:
        async with self.slots:
            conn = await self._acquire()
            try:
                status = await conn.request(data)
            except (asyncio.IncompleteReadError, ConnectionError) as error:
                conn.close()
                partial = getattr(error, "partial", b"")
                if conn.used <= 1 or partial:
                    raise
                self.retried += 1
                self.opened += 1
                conn = await Connection.open(self.port)
                status = await conn.request(data)
            except BaseException:
                conn.close()
                raise
            conn.idle_since = asyncio.get_running_loop().time()
            self.idle.append(conn)
            return status

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


def request_bytes(port: int, path: str, token: str | None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}:{port}", "User-Agent: wixapp-bench"]
    if token is not None:
        lines.append(f"Authorization: {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def summarize(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"count": 0}
    values = sorted(latencies)

    def pct(q: float) -> float:
        rank = max(1, min(len(values), round(q / 100 * len(values) + 0.5)))
        return values[rank - 1] * 1000

    return {
        "count": len(values),
        "mean_ms": sum(values) / len(values) * 1000,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "p999_ms": pct(99.9),
        "max_ms": values[-1] * 1000,
    }


class Recorder:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    async def timed(self, pool: Pool, data: bytes, due: float) -> float | None:
        try:
            async with asyncio.timeout(10.0):
                status = await pool.send(data)
        except Exception as error:  # a failed request is counted, never fatal
            self.errors[type(error).__name__] += 1
            return None
        latency = time.perf_counter() - due
        self.statuses[str(status)] += 1
        if 200 <= status < 300:
            self.latencies.append(latency)
        else:
            self.errors[f"http_{status}"] += 1
        return latency

    def result(self) -> dict[str, Any]:
        return {
            "requests": sum(self.statuses.values())
            + sum(count for name, count in self.errors.items() if not name.startswith("http_")),
            "ok": len(self.latencies),
            "statuses": dict(self.statuses),
            "errors": dict(self.errors),
            "error_count": sum(self.errors.values()),
            "latency": summarize(self.latencies),
        }


async def warm(spec: dict[str, Any]) -> dict[str, Any]:
    port, path, tokens = spec["port"], spec["path"], spec["tokens"]
    pool, recorder = Pool(port), Recorder()
    semaphore = asyncio.Semaphore(int(spec.get("concurrency", 64)))

    async def one(token: str) -> None:
        async with semaphore:
            await recorder.timed(pool, request_bytes(port, path, token), time.perf_counter())

    await asyncio.gather(*(one(token) for token in tokens))
    pool.close()
    return recorder.result()


async def rate(spec: dict[str, Any]) -> dict[str, Any]:
    port, path, tokens = spec["port"], spec["path"], spec["tokens"]
    per_second, duration = float(spec["rate"]), float(spec["duration"])
    requests = [request_bytes(port, path, token) for token in tokens]
    pool, recorder = Pool(port), Recorder()
    total = int(per_second * duration)
    tasks: list[asyncio.Task[float | None]] = []
    started = time.perf_counter() + 0.05
    for i in range(total):
        due = started + i / per_second
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(recorder.timed(pool, requests[i % len(requests)], due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    pool.close()
    return {
        **recorder.result(),
        "offered_rate": per_second,
        "achieved_rate": recorder.result()["ok"] / elapsed,
        "seconds": elapsed,
        "connections": pool.opened,
        "resent_on_new_connection": pool.retried,
    }


async def storm(spec: dict[str, Any]) -> dict[str, Any]:
    port, path, token, k = spec["port"], spec["path"], spec["token"], int(spec["k"])
    conns = await asyncio.gather(*(Connection.open(port) for _ in range(k)))
    data = request_bytes(port, path, token)
    recorder = Recorder()
    start = time.perf_counter()

    async def one(conn: Connection) -> None:
        try:
            async with asyncio.timeout(10.0):
                status = await conn.request(data)
        except Exception as error:
            recorder.errors[type(error).__name__] += 1
            return
        recorder.statuses[str(status)] += 1
        if 200 <= status < 300:
            recorder.latencies.append(time.perf_counter() - start)
        else:
            recorder.errors[f"http_{status}"] += 1

    await asyncio.gather(*(one(conn) for conn in conns))
    for conn in conns:
        conn.close()
    return {**recorder.result(), "k": k}


async def mix(spec: dict[str, Any]) -> dict[str, Any]:
    port, path = spec["port"], spec["path"]
    visitors: list[list[Any]] = spec["visitors"]  # [token, site index]
    reuse, span, think = int(spec["reuse"]), float(spec["span"]), float(spec["think"])
    rng = random.Random(spec.get("seed", 7))
    pool = Pool(port)
    first, later = Recorder(), Recorder()
    per_site: Counter[int] = Counter()
    started = time.perf_counter() + 0.05
    pauses = [[think * rng.uniform(0.5, 1.5) for _ in range(reuse - 1)] for _ in visitors]

    async def visit(index: int, token: str, site: int) -> None:
        due = started + index * span / len(visitors)
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        data = request_bytes(port, path, token)
        for n in range(reuse):
            if n:
                due = time.perf_counter() + pauses[index][n - 1]
                await asyncio.sleep(pauses[index][n - 1])
            await (first if n == 0 else later).timed(pool, data, due)
            per_site[site] += 1

    await asyncio.gather(*(visit(i, token, int(site)) for i, (token, site) in enumerate(visitors)))
    elapsed = time.perf_counter() - started
    pool.close()
    everything = Recorder()
    for part in (first, later):
        everything.latencies += part.latencies
        everything.statuses.update(part.statuses)
        everything.errors.update(part.errors)
    return {
        **everything.result(),
        "first_request": first.result()["latency"],
        "later_requests": later.result()["latency"],
        "seconds": elapsed,
        "requests_per_site": {str(site): count for site, count in sorted(per_site.items())},
        "connections": pool.opened,
        "resent_on_new_connection": pool.retried,
    }


MODES = {"warm": warm, "rate": rate, "storm": storm, "mix": mix}


def main() -> int:
    spec = json.load(sys.stdin)
    if spec.get("host", HOST) != HOST:
        print("loadgen: loopback only", file=sys.stderr)
        return 2
    started = time.monotonic()
    # uvloop (wixapp's own dependency): the generator's own latency is the floor of every
    # percentile it reports, and uvloop's is a fraction of asyncio's.
    result = uvloop.run(MODES[spec["mode"]](spec))
    result["wall_seconds"] = time.monotonic() - started
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
