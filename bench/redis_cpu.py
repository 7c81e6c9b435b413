"""CPU of the shared tier's calls, in a worker and in Redis, for docs/CAPACITY.md.

A private ``redis-server`` (its CPU is ours alone, read from INFO); this process calls it
through ``RedisBackend`` one call at a time, as a worker does for one request:

    .venv/bin/python bench/redis_cpu.py

- a read (``get``: the circuit, the request budget, the AES-GCM open): the worker's CPU and
  Redis's;
- a flight's lock and store (two scripts), as for each new token and each settings load;
- a new token's budget: ``TokenCheckBudget.spend`` then ``confirmed`` (two scripts).

Sequential calls from one client are an upper bound for Redis: each call wakes it alone,
where many clients' calls share its event loop's turns.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import redis
import uvloop
from capacity import private_redis

from wixapp.cache import RedisBackend
from wixapp.identity.budget import BudgetPolicy, TokenCheckBudget


def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def measure(url: str, calls: int) -> None:
    backend = RedisBackend(url, prefix="bench", scope="redis-cpu", secret="s" * 32)
    budget = TokenCheckBudget(BudgetPolicy(per_minute=10**9, per_client=10**9), shared=backend)
    server = redis.Redis.from_url(url)
    lock = await backend.acquire("ns", "read")
    assert lock is not None
    await backend.put("ns", "read", b"v" * 300, ttl=600, lock=lock)

    async def read(_: int) -> None:
        await backend.get("ns", "read")

    async def flight(n: int) -> None:
        taken = await backend.acquire("ns", f"k{n}")
        assert taken is not None
        await backend.put("ns", f"k{n}", b"v" * 300, ttl=600, lock=taken)

    async def new_token(n: int) -> None:
        client = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        await budget.spend(client, f"instance-{n % 50}")
        await budget.confirmed(f"instance-{n % 50}", client)

    steps: list[tuple[str, Callable[[int], Awaitable[None]]]] = [
        ("read (GET)", read),
        ("lock + store (2 scripts)", flight),
        ("budget spend + confirm (2 scripts)", new_token),
    ]
    for name, step in steps:
        for n in range(calls // 10):  # warm: connections, scripts loaded
            await step(n)
        worker, server_before = time.process_time(), redis_cpu(server)
        for n in range(calls):
            await step(n)
        worker = (time.process_time() - worker) / calls * 1e6
        served = (redis_cpu(server) - server_before) / calls * 1e6
        print(f"{name:36} worker {worker:6.1f} us   Redis {served:6.1f} us   (CPU per step)")
    server.close()
    await backend.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000, help="steps measured per kind")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory, private_redis(Path(directory)) as url:
        uvloop.run(measure(url, args.calls))


if __name__ == "__main__":
    main()
