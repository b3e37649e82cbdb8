"""The one polling helper of the tests: wait until a piece of state says what the test expects.

Tests wait on state (a message on the broker, a row in the outbox, what the gateway or Home
Assistant recorded), never on a log line or a fixed sleep: `wait_for(check)` calls `check`
until it returns something truthy, and returns that.
"""

from __future__ import annotations

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
