"""The loop every background task runs: do a step, then sleep until nudged or until the step said.

The worker, the reporter, the `for` timers, the fallback and the outbox's upkeep each ran their own
copy of it; a change to how a failing step is retried (or logged) had to be made five times.

    while running():
        clear the wake-up
        delay = await step()          None: sleep until nudged; 0: step again now; n: at most n s
        (a step that raises one of `errors`: logged, and tried again after `retry_after`)
        sleep until nudged or `delay` has passed
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable

#: How a loop sleeps: until the event is set or the seconds have passed (None: no limit). The
#: worker and the fallback pass their injected clock's `wait`, so their tests run on a fake clock.
Wait = Callable[[asyncio.Event, float | None], Awaitable[None]]


async def wait_or_timeout(event: asyncio.Event, seconds: float | None) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


async def wake_loop(step: Callable[[], Awaitable[float | None]], *, wake: asyncio.Event, what: str,
                    log: logging.Logger, retry_after: float = 1.0,
                    errors: tuple[type[Exception], ...] = (), unexpected: bool = False,
                    wait: Wait = wait_or_timeout, running: Callable[[], bool] = lambda: True) -> None:
    """Run `step` until `running()` is false (or the task is cancelled); see the module docstring.

    `errors`: what a step may meet and recover from (the outbox's disk, say), logged as one line.
    `unexpected`: any other exception too, logged with its traceback, so that one broken extension
    is logged without stopping the bridge.
    """
    while running():
        wake.clear()
        try:
            delay = await step()
        except errors as exc:
            log.error("%s: %s; retrying in %.0f s", what, exc, retry_after)
            delay = retry_after
        except Exception:
            if not unexpected:
                raise
            log.exception("%s: a step failed; trying again in %.0f s", what, retry_after)
            delay = retry_after
        if delay is None or delay > 0:
            await wait(wake, delay)


class Backoff:
    """How long a reconnect loop waits: `first`, doubling each failure up to `cap`, with ±20 % jitter
    so that many clients restarted together do not retry in step. `reset()` after a connection that
    worked. The sleep and the jitter are injected, so its tests run on a fake clock."""

    def __init__(self, *, first: float, cap: float, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 uniform: Callable[[float, float], float] = random.uniform) -> None:
        self._first = first
        self._cap = cap
        self._sleep = sleep
        self._uniform = uniform
        #: The next wait, before jitter: what the log line announces.
        self.delay = first

    def reset(self) -> None:
        self.delay = self._first

    async def wait(self) -> None:
        """Sleep the announced delay (jittered), then double it for next time."""
        await self._sleep(self.delay * self._uniform(0.8, 1.2))
        self.delay = min(self.delay * 2, self._cap)
