"""How often the installed redis-py swallows a cancellation that lands inside a command.

Starts GETs on one connection pool and cancels each after a given number of event-loop
passes (as it is sent, or while its reply is awaited). A cancelled task should end in
``CancelledError``; one that returns its value instead has swallowed the cancellation.
redis-py 8 sends each command under ``asyncio.wait_for``, which on Python 3.11 returns the
inner result when a cancellation lands as the send finishes (CPython gh-86296, fixed by
Python 3.12's rewrite). That is why wixapp stops its own background tasks with
``wixapp.tasks.cancel_and_wait``, which cancels again until the task ends. Run it after
upgrading redis-py or Python to see whether that is still needed.

    .venv/bin/python bench/redis_cancel.py        # 1000 GETs at each of 4 landing points
    .venv/bin/python bench/redis_cancel.py --url redis://127.0.0.1:6379/9 --passes 6
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis

KEY = "wixapp:bench:redis-cancel"


@dataclass
class Tally:
    cancelled: int = 0  # the cancel landed before the command finished, as asked
    swallowed: int = 0  # ... and the task returned its value anyway
    too_late: int = 0  # the command had finished before the cancel: not counted


async def cancel_one(client: aioredis.Redis, tally: Tally, passes: int) -> None:
    """Cancel a GET after ``passes`` turns of the event loop: the first lands as the command
    is sent, later ones while the reply is awaited or read."""
    task = asyncio.create_task(client.get(KEY))
    for _ in range(passes):
        await asyncio.sleep(0)
    if task.done():
        tally.too_late += 1
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        tally.cancelled += 1
        return
    tally.cancelled += 1
    tally.swallowed += 1


async def measure(url: str, calls: int, passes: int) -> Tally:
    client = aioredis.Redis.from_url(url)
    tally = Tally()
    try:
        await client.set(KEY, b"x" * 64)
        for _ in range(calls):
            await cancel_one(client, tally, passes)
        await client.delete(KEY)
    finally:
        await client.aclose()
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--calls", type=int, default=1000, help="GETs per landing point")
    parser.add_argument("--passes", type=int, default=4, help="landing points: 1..N passes")
    args = parser.parse_args()
    print(f"redis-py {redis.__version__}, {args.calls} GETs per landing point")
    for passes in range(1, args.passes + 1):
        tally = asyncio.run(measure(args.url, args.calls, passes))
        share = tally.swallowed / tally.cancelled if tally.cancelled else 0.0
        print(
            f"  cancelled after {passes} loop pass(es): {tally.swallowed} of {tally.cancelled} "
            f"returned their value instead ({share:.0%}); {tally.too_late} had already ended"
        )


if __name__ == "__main__":
    main()
