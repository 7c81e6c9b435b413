"""A call's share of a request's Redis budget counts the time the event loop was free to hear
the reply, not the time the loop spent on other requests (a burst on a busy worker)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from wixapp.cache.budget import CallBudget, not_the_calls, stretched
from wixapp.cache.redis import RedisBackend, RedisOptions
from wixapp.cache.shared import SharedCacheUnavailable, SharedWait

ALLOWED = 0.01


async def test_a_call_with_no_reply_on_a_free_loop_is_cut_at_its_allowance() -> None:
    never = asyncio.get_running_loop().create_future()
    budgets: list[CallBudget] = []

    async def call() -> None:
        async with asyncio.timeout(5) as timeout:
            budgets.append(CallBudget(timeout, ALLOWED))
            await never

    with pytest.raises(TimeoutError):
        await call()
    budget = budgets[0]
    assert budget.cut
    assert ALLOWED <= budget.stop() < ALLOWED * 2


async def test_time_the_loop_spent_on_other_work_is_not_the_calls() -> None:
    loop = asyncio.get_running_loop()
    reply = loop.create_future()

    def other_requests_then_the_reply() -> None:
        time.sleep(ALLOWED * 4)  # the loop is busy elsewhere while the reply waits
        reply.set_result("ok")

    async with asyncio.timeout(5) as timeout:
        budget = CallBudget(timeout, ALLOWED)
        loop.call_soon(other_requests_then_the_reply)
        assert await reply == "ok"
    used = budget.stop()
    assert not budget.cut
    assert used < ALLOWED  # by the wall clock: 40 ms


async def test_a_late_loop_does_not_cut_a_call_that_is_answered_after_the_lag() -> None:
    loop = asyncio.get_running_loop()
    reply = loop.create_future()

    def busy(rounds: int) -> None:
        time.sleep(ALLOWED)  # each tick of the budget comes late
        if rounds:
            loop.call_soon(busy, rounds - 1)
        else:
            reply.set_result("ok")

    async with asyncio.timeout(5) as timeout:
        budget = CallBudget(timeout, ALLOWED)
        loop.call_soon(busy, 4)
        assert await reply == "ok"
    assert not budget.cut


async def test_a_wait_for_a_pooled_connection_is_not_the_calls() -> None:
    async with asyncio.timeout(5) as timeout:
        budget = CallBudget(timeout, ALLOWED)
        with not_the_calls():
            await asyncio.sleep(ALLOWED * 3)  # other calls hold every connection
    assert not budget.cut
    assert budget.stop() < ALLOWED


def test_a_budget_grows_with_the_workers_other_calls_at_redis() -> None:
    assert stretched(ALLOWED, beside=0) == ALLOWED  # a quiet worker: the budget as set
    assert stretched(ALLOWED, beside=3) == pytest.approx(ALLOWED * 4)


def backend(ticks: Callable[[], float]) -> RedisBackend:
    options = RedisOptions(request_budget=ALLOWED)
    # Never connects: these tests only drive the budget's and the circuit's bookkeeping.
    return RedisBackend(
        "redis://127.0.0.1:1", prefix="t", scope="a", secret="s", options=options, ticks=ticks
    )


def test_a_reply_slower_than_the_budget_does_not_close_the_circuit() -> None:
    now = [0.0]
    shared = backend(lambda: now[0])
    shared.circuit.failed("slow", certain=True)
    now[0] += 60  # past the probe interval
    assert shared.circuit.allow()
    shared._succeeded(ALLOWED * 15)  # a flight's poll answered at 150 ms
    assert not shared.circuit.up
    assert shared.circuit.allow()
    shared._succeeded(ALLOWED / 2)
    assert shared.circuit.up


def test_a_request_whose_calls_answered_in_time_keeps_half_a_budget_per_call() -> None:
    shared = backend(time.monotonic)
    wait = SharedWait()
    wait.seconds = ALLOWED * 3  # several calls, each in time, slow in sum on a starved host
    assert shared._time_left(wait) == ALLOWED / 2
    wait.cut = True  # one of its calls was cut: Redis is slow for it
    with pytest.raises(SharedCacheUnavailable):
        shared._time_left(wait)
    assert shared._time_left(None) is None  # outside a request: no budget
