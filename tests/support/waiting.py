"""The one waiting helper of the tests: wait until a piece of state says what the test expects.

Tests wait on state (a message on the broker, a row in the outbox, what the gateway or Home
Assistant recorded), never on a log line or a fixed sleep: `wait_for(check)` calls `check`
until it returns something truthy, and returns that (`wait_for_async` inside an event loop).
`wait_on(condition, check)` is the same for
state a background thread changes under a `threading.Condition`: woken by it, not by polling.
Every other helper that waits (the gateway's, the notification server's, the MQTT client's) is
built on these two.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Between two looks: short next to any timeout here, long next to a look (a list scan, a query).
POLL_SECONDS = 0.02


def wait_for(check: Callable[[], T], *, timeout: float, what: str, detail: Callable[[], str] | None = None,
             interval: float = POLL_SECONDS) -> T:
    """`check()`'s first truthy result; AssertionError naming `what` (and `detail()`) after `timeout` s.

    `check` may raise AssertionError itself to give up at once (a process that exited, say).
    """
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() >= deadline:
            extra = f":\n{detail()}" if detail is not None else ""
            raise AssertionError(f"waited {timeout:g} s for {what}{extra}")
        time.sleep(interval)


async def wait_for_async(check: Callable[[], T], *, timeout: float, what: str,  # noqa: ASYNC109 - as wait_for
                         detail: Callable[[], str] | None = None, interval: float = POLL_SECONDS) -> T:
    """`wait_for` from inside an event loop (a test's own, while a server of it runs on that loop)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() >= deadline:
            extra = f":\n{detail()}" if detail is not None else ""
            raise AssertionError(f"waited {timeout:g} s for {what}{extra}")
        await asyncio.sleep(interval)


def wait_on(condition: threading.Condition, check: Callable[[], T], *, timeout: float, what: str,
            detail: Callable[[], str] | None = None, error: Callable[[str], Exception] = AssertionError) -> T:
    """`check()`'s first truthy result, looked at each time `condition` is notified (and at least
    every half second); `error(sentence)` naming `what` (and `detail()`) after `timeout` s.

    `check` runs holding the condition's lock; it may raise itself to give up at once.
    """
    deadline = time.monotonic() + timeout
    with condition:
        while True:
            found = check()
            if found:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                extra = f":\n{detail()}" if detail is not None else ""
                raise error(f"waited {timeout:g} s for {what}{extra}")
            condition.wait(min(remaining, 0.5))
