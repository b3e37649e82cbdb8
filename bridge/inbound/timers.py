"""Routes' `for` timers: fire each one that has run out, once, from the outbox.

A timer is armed, kept and cancelled by the outbox in the transaction that stores an event
(`bridge.outbox_state`); this task only watches the clock. When one runs out it is rendered
from the latest message kept for its key (`pipeline.fire`, with the runtime in force) and its
deliveries are stored in the transaction that marks it fired (`Outbox.fire_timer`): a crash
before that commit leaves it armed, to fire at the next start; after it, it has fired. So a
timer fires once, across restarts and a SIGKILL too. One that ran out while the bridge was not
running fires at start-up, and its reports say so (`note`).

The same task sends what `silence` and `batch` routes wait for (`bridge.outbox.watches`): a
silence timer that ran out (once per silence; one that ran out while the bridge was stopped is
sent at start-up with a `note`), a "back" when a silent key is heard again, and a batch whose
window ran out, composed into one message per room (`bridge.pipeline.watch`).
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
from bridge.pipeline.watch import Gathered, SilenceFiring, batch_texts, silence_message
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
        fired, again = await self._for_timers(now)
        silences_fired, silences_again = await self._silences(now)
        batches_again = await self._batches(now)
        if fired or silences_fired or batches_again is not None:
            self._on_stored()
        if again or silences_again or batches_again:
            return 0
        found = [due for due in (await self._store.run(Outbox.next_timer), await self._store.run(Outbox.next_silence),
                                 await self._store.run(Outbox.next_batch)) if due is not None]
        return max(min(found) - self._clock(), MIN_SLEEP_SECONDS) if found else None

    async def _for_timers(self, now: float) -> tuple[bool, bool]:
        """`for` timers: (something fired, something to read again)."""
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
        return fired, again

    async def _silences(self, now: float) -> tuple[bool, bool]:
        """Silence timers that ran out and silences that ended: (something stored, something to read again)."""
        fired = again = False
        for silence in await self._store.run(Outbox.due_silences, now):
            back = silence.back_at is not None
            note = None
            if not back and silence.due_at < self._started:
                note = endings.silent_while_stopped(late=now - silence.due_at)
            since = silence.silent_since if back and silence.silent_since is not None else silence.heard_at
            firing = SilenceFiring(route=silence.route, rooms=silence.rooms, message=silence.message, silent=not back,
                                   silent_since=since, silent_for=(silence.back_at or now) - since,
                                   event_id=silence.event_id if back else None, note=note)
            outcomes = silence_message(self._live.current, firing, now=now)
            if outcomes is None:
                log.info("route %s no longer watches for silence: forgetting key %r", silence.route, silence.key)
                await self._store.run(Outbox.forget_silence, silence)
                continue
            if await self._store.run(Outbox.fire_silence, silence, outcomes, now=now) is None:
                again = True  # heard in between: read it again
                continue
            fired = True
            log.info("route %s: key %r %s after %.0f s: %d deliveries stored", silence.route, silence.key,
                     "was heard again" if back else "went silent", firing.silent_for, len(outcomes))
        return fired, again

    async def _batches(self, now: float) -> bool | None:
        """Batches whose window ran out, composed and released: None when there was none, True when
        one must be read again (an event joined it meanwhile)."""
        found: bool | None = None
        for batch in await self._store.run(Outbox.due_batches, now):
            texts = batch_texts(self._live.current, batch.route,
                                [Gathered(m.room_key, m.text, m.item) for m in batch.members])
            flushed = await self._store.run(Outbox.flush_batch, batch, texts, now=now)
            found = found or not flushed
            if flushed:
                log.info("route %s: batch of %d deliveries released", batch.route, len(batch.members))
        return found
