"""The outbox on a thread of its own, so that SQLite's blocking calls never stall the event loop."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from bridge.errors import OutboxError
from bridge.outbox.store import Outbox

P = ParamSpec("P")
T = TypeVar("T")


class OutboxRunner:
    """Runs an `Outbox` on one thread of its own: `await runner.run(Outbox.claim, now)`.

    SQLite calls block, and a commit waits for the disk; on this thread they never stall the
    event loop, and MQTT messages that arrive during a commit make up the next batch.
    """

    def __init__(self, path: str | Path, *, idempotency_window: float, max_pending: int,
                 fallback_on: bool = False, forward_failed: bool = False) -> None:
        self.path = str(path)
        self._open = functools.partial(Outbox.open, path, idempotency_window=idempotency_window,
                                       max_pending=max_pending, fallback_on=fallback_on,
                                       forward_failed=forward_failed)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        self._outbox: Outbox | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._outbox = await loop.run_in_executor(self._executor, self._open)

    async def run(self, method: Callable[Concatenate[Outbox, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._outbox is None:
            raise OutboxError(f"the outbox {self.path} is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(method, self._outbox, *args, **kwargs))

    async def close(self) -> None:
        if self._outbox is not None:
            await self.run(Outbox.close)
            self._outbox = None
        self._executor.shutdown(wait=True)
