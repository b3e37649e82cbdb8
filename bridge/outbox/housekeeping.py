"""Outbox upkeep: the recovery at start-up, a periodic log line on the queue, and deletion of old
finished rows."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from bridge.errors import OutboxError
from bridge.outbox.records import OutboxStats
from bridge.outbox.runner import OutboxRunner
from bridge.outbox.store import Outbox
from bridge.tasks import wake_loop

log = logging.getLogger(__name__)

#: How often the queue is looked at; it is logged when something is waiting or has changed.
STATS_SECONDS = 60.0
#: How often old rows are deleted (also once at start-up).
PRUNE_SECONDS = 3600.0


class Housekeeping:
    def __init__(self, *, store: OutboxRunner, keep_finished: float, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._keep_finished = keep_finished
        self._clock = clock
        #: The last queue figures logged: the periodic line is written when they change (or a queue waits).
        self._last_logged: tuple[int, int, dict[str, int]] | None = None
        self._next_prune = 0.0

    async def recover(self) -> None:
        """At start-up: the rows that were being sent when the bridge stopped are in doubt (`Outbox.recover`)."""
        for row in await self._store.run(Outbox.recover, self._clock()):
            if row.status == "pending":
                log.warning("delivery %s to room %r was being sent when the bridge stopped: sending it again "
                            "(WeChat may show it twice)", row.event_id, row.room_key)
            else:
                log.warning("delivery %s to room %r was being sent when the bridge stopped, and an earlier "
                            "send of it was in doubt too: not sent again; it ends failed", row.event_id,
                            row.room_key)

    async def log_stats(self, when: str = "") -> OutboxStats:
        stats = await self._store.run(Outbox.stats, self._clock())
        log.info("outbox%s: %s", f" {when}" if when else "", stats)
        return stats

    async def run(self) -> None:
        await wake_loop(self._upkeep, wake=asyncio.Event(), what="outbox upkeep", log=log, retry_after=STATS_SECONDS,
                        errors=(OutboxError,))

    async def _upkeep(self) -> float:
        if time.monotonic() >= self._next_prune:
            rows, keys = await self._store.run(Outbox.prune, self._clock(), keep_finished=self._keep_finished)
            if rows or keys:
                log.info("outbox: deleted %d finished deliveries and %d expired idempotency keys", rows, keys)
            self._next_prune = time.monotonic() + PRUNE_SECONDS
        stats = await self._store.run(Outbox.stats, self._clock())
        summary = (stats.depth, stats.unreported, dict(stats.by_status))
        if stats.depth or stats.unreported or summary != self._last_logged:
            log.info("outbox: %s", stats)
        self._last_logged = summary
        return STATS_SECONDS
