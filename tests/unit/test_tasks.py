"""The loop every background task runs and the reconnect backoff, on a fake clock."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bridge.errors import OutboxError
from bridge.tasks import Backoff, wake_loop


class FakeSleep:
    """Records each sleep and returns at once: time moves only in the record."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


async def test_backoff_doubles_from_first_to_its_cap_and_starts_over_after_reset() -> None:
    sleep = FakeSleep()
    backoff = Backoff(first=0.5, cap=4.0, sleep=sleep, uniform=lambda low, high: 1.0)
    announced = []
    for _ in range(6):
        announced.append(backoff.delay)
        await backoff.wait()
    assert announced == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert sleep.slept == announced
    backoff.reset()
    assert backoff.delay == 0.5


async def test_backoff_jitters_each_sleep_within_twenty_percent() -> None:
    sleep = FakeSleep()
    backoff = Backoff(first=10.0, cap=10.0, sleep=sleep, uniform=lambda low, high: high)
    await backoff.wait()
    backoff = Backoff(first=10.0, cap=10.0, sleep=sleep, uniform=lambda low, high: low)
    await backoff.wait()
    assert sleep.slept == [12.0, 8.0]


class Steps:
    """A step that returns (or raises) what it is given, in order, then stops the loop."""

    def __init__(self, *results: float | Exception | None) -> None:
        self.results = list(results)
        self.calls = 0

    async def __call__(self) -> float | None:
        self.calls += 1
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    def running(self) -> bool:
        return bool(self.results)


async def test_wake_loop_sleeps_what_the_step_says_and_retries_a_known_error(
        caplog: pytest.LogCaptureFixture) -> None:
    waits: list[float | None] = []

    async def wait(event: asyncio.Event, seconds: float | None) -> None:
        waits.append(seconds)

    steps = Steps(2.5, 0, OutboxError("disk full"), None)
    await wake_loop(steps, wake=asyncio.Event(), what="upkeep", log=logging.getLogger("t"), retry_after=7.0,
                    errors=(OutboxError,), wait=wait, running=steps.running)
    # 0: step again at once, no sleep; the error: one line and the retry pause; None: until nudged.
    assert steps.calls == 4
    assert waits == [2.5, 7.0, None]
    assert [r.getMessage() for r in caplog.records] == ["upkeep: disk full; retrying in 7 s"]


async def test_wake_loop_lets_an_unknown_error_through_unless_told_to_survive_it() -> None:
    async def wait(event: asyncio.Event, seconds: float | None) -> None:
        return None

    with pytest.raises(RuntimeError):
        await wake_loop(Steps(RuntimeError("bug")), wake=asyncio.Event(), what="x", log=logging.getLogger("t"),
                        wait=wait)
    steps = Steps(RuntimeError("bug"), None)
    await wake_loop(steps, wake=asyncio.Event(), what="x", log=logging.getLogger("t"), unexpected=True,
                    wait=wait, running=steps.running)
    assert steps.calls == 2


async def test_a_nudge_cuts_the_sleep_short() -> None:
    wake = asyncio.Event()
    stepped = asyncio.Event()
    steps = Steps(None, 0)

    async def step() -> float | None:
        stepped.set()
        return await steps()

    task = asyncio.create_task(wake_loop(step, wake=wake, what="x", log=logging.getLogger("t"),
                                         running=steps.running))
    await stepped.wait()
    wake.set()
    await asyncio.wait_for(task, 5)  # would hang on the first (unbounded) sleep without the nudge
    assert steps.calls == 2
