"""Outbox -> WeChat: claim the oldest due delivery, send it, record the outcome.

The worker is a loop over four parts, each with its own tests:

    pace    `Pacer.pace`: may anything be claimed now, which rooms must wait (`bridge.pacing`)
    claim   `Claim`: commit the last outcome, expire, take a digest or one row (`bridge.delivery_claim`)
    send    `Send`: the batch to WeChat, every error mapped to one `Outcome` (`bridge.delivery_send`)
    record  `Record`: the outcome to the outbox, then its log line and report (`bridge.delivery_record`)

Sends wait while WeChat is not logged in (the rows wait in the outbox) without spending an
attempt. A send that timed out or was cut off is in doubt (`SendInDoubt`): the client has
dropped that connection, and the row goes out again once after the reconnect and login, or ends
`failed` when it was in doubt before (`Outbox.mark_in_doubt`). A send WeChat refuses is retried with
the row's backoff until its attempts are used up, then ends `failed` with the last error; a room
that cannot be resolved after login ends `rejected`; a row past its `expire_after` ends
`expired`, logged in or not. Each finished row is handed to the reporter through `on_finished`.

Quiet hours (`bridge.quiet_hours`, read from the runtime at each step, so a reload applies):
normal rows of a room inside its window wait (or end `dropped`), and the worker wakes when a
window ends to send what waited as one digest.

Pacing: nothing is claimed while the global gap or bucket says wait, and rows of rooms whose
bucket is empty are left in the outbox while other rooms' rows go out, so a waiting send is never
marked as being sent. Pacing runs on the monotonic clock, the outbox's times are wall time
(`bridge.delivery_types.Clock`).

What the loop guarantees (docs/delivery-guarantees.md):

- One commit per send while pacing is off (the back-to-back case, where commits bound the rate):
  a delivered row's outcome is committed with the next claim, or on its own when nothing is
  claimed next. With pacing and digests on, it is committed on its own before the digest is
  looked for (`bridge.delivery_claim`): sends are seconds apart then, and a commit costs ~1 ms.
- At most one send in doubt: the next row is claimed only after the previous send ended.
- A delivered row's log line and report come only after its outcome is committed.
- The last outcome is committed when the worker stops, also when it is cancelled: a message that
  reached WeChat must not be found in doubt at the next start, and sent again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace

from bridge.config.rooms import ContactSettings
from bridge.config.routes import AttachmentsSettings
from bridge.delivery.claim import Claim, DigestPlan
from bridge.delivery.pacing import CLOSED, Pace, Pacer
from bridge.delivery.ports import Clock, Delivered, Download, OutboxThread, RoomLookup, Sender, Store, SystemClock
from bridge.delivery.record import Record
from bridge.delivery.send import Send
from bridge.events import Openings
from bridge.metrics import Metrics
from bridge.outbox.store import Outbox
from bridge.pipeline.quiet_hours import QuietHours, QuietNow
from bridge.tasks import wake_loop

log = logging.getLogger(__name__)

#: The shortest sleep between steps: a wake-up computed a hair early must not spin.
MIN_SLEEP_SECONDS = 0.01


class DeliveryWorker:
    def __init__(self, *, store: OutboxThread, wechat: Sender, directory: RoomLookup,
                 rooms_ready: asyncio.Event, on_finished: Callable[[], None], pacer: Pacer,
                 contacts: Callable[[], Mapping[str, ContactSettings]] = dict,
                 attachments: AttachmentsSettings | None = None, download: Download | None = None,
                 clock: Clock | None = None, metrics: Metrics | None = None,
                 quiet: Callable[[], QuietHours] = QuietHours,
                 openings: Callable[[float], Openings] | None = None) -> None:
        self._clock = clock or SystemClock()
        self._store = Store(store)
        self._wechat = wechat
        self._rooms_ready = rooms_ready
        #: Which rooms the transports can take now; by default all of them once the rooms are ready.
        self._openings = openings or (lambda now: Openings(ready=rooms_ready.is_set()))
        self._pacer = pacer
        digest = pacer.settings.digest
        folding = digest.enabled and pacer.enabled  # no pace, no backlog to fold
        plan = DigestPlan(digest, pacer.settings.max_text_chars)
        # A quiet window's release is one digest whatever the pacing: it is the point of the window.
        self._claim = Claim(self._store, digest=plan if folding else None, release=plan)
        self._quiet = quiet
        self._record = Record(store=self._store, clock=self._clock, on_finished=on_finished,
                              metrics=metrics or Metrics())
        self._send = Send(sender=wechat, rooms=directory, pacer=pacer, clock=self._clock,
                          on_text_sent=self._record.text_sent, contacts=contacts, attachments=attachments,
                          download=download)
        self._wake = asyncio.Event()
        self._stopping = False
        self._stopped = asyncio.Event()
        self._said_waiting = False
        #: A delivered row whose outcome is not committed yet: it goes with the next claim.
        self._delivered: Delivered | None = None

    def nudge(self) -> None:
        """Look again now: new rows were stored, or rooms became ready."""
        self._wake.set()

    async def stop(self) -> None:
        """Finish the send in progress, if any, and claim nothing more."""
        self._stopping = True
        self._wake.set()
        await self._stopped.wait()

    async def run(self) -> None:
        try:
            await wake_loop(self.step, wake=self._wake, what="delivery", log=log, wait=self._clock.wait,
                            running=lambda: not self._stopping)
        finally:
            try:
                await self._commit_delivered()  # also when cancelled: see the module docstring
            finally:
                self._stopped.set()

    async def step(self) -> float | None:
        """Claim, send and record one batch; returns how long to sleep (None: until nudged, 0: go on)."""
        now = self._clock.now()
        openings = self._openings(now)
        ready = openings.ready
        pace = self._pacer.pace(self._clock.monotonic()) if ready else CLOSED
        if openings.blocked:
            pace = replace(pace, blocked=(*pace.blocked, *sorted(openings.blocked - set(pace.blocked))))
        delivered = self._delivered
        quiet = self._quiet().at(now)
        if openings.fold:
            quiet = replace(quiet, released={**openings.fold, **quiet.released})
        taken = await self._claim(now, pace, delivered.finish if delivered is not None else None, quiet)
        # Cleared only now: cancelled during the claim, `run` commits it again (a no-op if it was).
        self._delivered = None
        self._record.announce(delivered)
        self._record.expired(taken.expired)
        if taken.batch is not None:
            self._delivered = await self._record(taken.batch, await self._send(taken.batch))
            return 0
        return await self._idle(ready, pace, quiet, openings.next_change)

    async def _idle(self, ready: bool, pace: Pace, quiet: QuietNow, reopens: float | None) -> float | None:
        """Nothing to send now: how long until something may be (a row due, an expiry, pacing's hold
        ending, a quiet window starting or ending)."""
        next_attempt, next_expiry = await self._store.call(Outbox.next_wakeup, skip_rooms=pace.blocked,
                                                           held=quiet.held)
        if not ready and next_attempt is not None and not self._said_waiting:
            state = self._wechat.state
            log.info("deliveries wait in the outbox until WeChat is logged in and its rooms are read (WeChat: %s%s)",
                     state.state, f", {state.reason}" if state.reason else "")
        self._said_waiting = not ready and next_attempt is not None
        now, held = self._clock.now(), None if pace.until is None else pace.until - self._clock.monotonic()
        delays = [] if next_expiry is None else [next_expiry - now]
        if quiet.next_change is not None:
            delays.append(quiet.next_change - now)
        if reopens is not None:  # a room the transports hold (a rate limit, a pause) opens by itself
            delays.append(reopens - now)
        if ready:
            due = None if next_attempt is None else next_attempt - now
            if not pace.claim:  # the gap or the global bucket: nothing goes out before it ends
                delays += [] if due is None else [max(due, held or 0.0)]
            elif held is not None:  # a blocked room's row may be due when its bucket refills
                delays += [held] if due is None else [min(due, held)]
            elif due is not None:
                delays.append(due)
        return max(min(delays), MIN_SLEEP_SECONDS) if delays else None

    async def _commit_delivered(self) -> None:
        """Commit the last delivered outcome on its own: no claim follows it now."""
        if self._delivered is not None:
            await self._store.call(Outbox.finish, self._delivered.finish)
            delivered, self._delivered = self._delivered, None
            self._record.announce(delivered)
