"""cancel_and_wait: a background task is stopped and waited for, without a cancellation of
the waiter being taken for the task's own."""

from __future__ import annotations

import asyncio

import pytest

from wixapp.tasks import cancel_and_wait


async def test_a_task_is_cancelled_and_done_when_it_returns() -> None:
    task = asyncio.create_task(asyncio.Event().wait())
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert task.cancelled()


async def test_an_error_the_task_raised_while_stopping_is_raised_to_the_caller() -> None:
    async def fails_on_cancel() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed") from None

    task = asyncio.create_task(fails_on_cancel())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="cleanup failed"):
        await cancel_and_wait(task)


async def test_the_waiters_own_cancellation_propagates_while_the_task_finishes() -> None:
    let_go = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await let_go.wait()  # finishes its cleanup first

    task = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(cancel_and_wait(task))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not task.done()
    let_go.set()
    await asyncio.wait([task])
    assert task.done()
    assert not task.cancelled()


async def test_a_task_that_swallows_cancellations_is_cancelled_again_until_it_ends() -> None:
    swallowed = 0

    async def swallows_twice() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                if swallowed == 2:
                    raise
                swallowed += 1  # as redis-py 8 does, now and then, mid-command

    task = asyncio.create_task(swallows_twice())
    await asyncio.sleep(0)
    await cancel_and_wait(task, every=0.001)
    assert task.cancelled()
    assert swallowed == 2
