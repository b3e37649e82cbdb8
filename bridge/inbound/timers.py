"""Routes' `for` timers: fire each one that has run out, once, from the outbox.

A timer is armed, kept and cancelled by the outbox in the transaction that stores an event
(`bridge.outbox_state`); this task only watches the clock. When one runs out it is rendered
from the latest message kept for its key (`pipeline.fire`, with the runtime in force) and its
deliveries are stored in the transaction that marks it fired (`Outbox.fire_timer`): a crash
before that commit leaves it armed, to fire at the next start; after it, it has fired. So a
timer fires once, across restarts and a SIGKILL too. One that ran out while the bridge was not
running fires at start-up, and its reports say so (`note`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from bridge.errors import OutboxError
from bridge.outbox import endings
from bridge.outbox.runner import OutboxRunner
from bridge.outbox.store import Outbox
from bridge.pipeline import plan as pipeline
from bridge.pipeline.runtime import LiveRuntime
from bridge.tasks import wake_loop

log = logging.getLogger(__name__)

#: Pause before trying again after the outbox failed (disk full, I/O error): the timers stay armed.
RETRY_SECONDS = 1.0
#: The shortest sleep: a wake-up computed a hair early must not spin.
MIN_SLEEP_SECONDS = 0.01


class Timers:
    def __init__(self, *, live: LiveRuntime, store: OutboxRunner, on_stored: Callable[[], None],
                 clock: Callable[[], float] = time.time, started: float | None = None) -> None:
        self._live = live
        self._store = store
        self._on_stored = on_stored
        self._clock = clock
        #: Timers due before this ran out while the bridge was stopped.
        self._started = clock() if started is None else started
        self._wake = asyncio.Event()

    def nudge(self) -> None:
        """Look again now: an event may have armed a timer sooner than the one waited for."""
        self._wake.set()

    async def run(self) -> None:
        await wake_loop(self.step, wake=self._wake, what="for timers", log=log, retry_after=RETRY_SECONDS,
                        errors=(OutboxError,))

    async def step(self) -> float | None:
        """Fire what has run out; returns how long until the next one (None: none is armed)."""
        now = self._clock()
        fired = again = False
        for timer in await self._store.run(Outbox.due_timers, now):
            late = now - timer.due_at
            note = endings.fired_late(late=late) if timer.due_at < self._started else None
            outcomes = pipeline.fire(self._live.current, route_name=timer.route, event_id=timer.event_id,
                                     message=timer.message, rooms=timer.rooms, now=now,
                                     condition_since=timer.since, note=note)
            refused = await self._store.run(Outbox.fire_timer, timer, outcomes, now=now)
            if refused is None:
                again = True  # a newer message or a cancel came in between: read it again
                continue
            fired = True
            log.info("route %s: 'for' timer of key %r armed by event %s ran out%s: %d deliveries queued, %d refused",
                     timer.route, timer.key, timer.event_id, f" {late:.0f} s late" if note else "",
                     len(outcomes) - len(refused), len(refused))
        if fired:
            self._on_stored()
        if again:
            return 0
        due = await self._store.run(Outbox.next_timer)
        return None if due is None else max(due - self._clock(), MIN_SLEEP_SECONDS)
