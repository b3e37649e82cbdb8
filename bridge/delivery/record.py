"""The worker's record: a send's outcome written to the outbox, then told (log line, reporter nudge).

    Sent      one row: not written here. It is returned as `Delivered` (with its `note`, when the
              transport left something out) and goes with the next claim (`bridge.delivery_claim`),
              one commit per send; `announce` tells it once that claim is committed. A digest:
              every row delivered at once, naming the digest.
    Rejected  every row ends `rejected` with the sentence; no attempt counted.
    Waiting   pending again in `UNAVAILABLE_PAUSE_SECONDS`; no attempt counted.
    Refused   transient and attempts left: pending again after the row's backoff, one attempt
              counted. Else `failed`: `gave up after N attempt(s); last error: ...`, or
              `... (not retried)` when the refusal was not transient.
    InDoubt   one doubt more (`Outbox.mark_in_doubt`): pending again once, `failed` at the second.

Nothing is told before it is on disk: a report published for an outcome that a crash then undid
would contradict the next one. Each finished row is handed to the reporter through `on_finished`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bridge.delivery.ports import Batch, Clock, Delivered, InDoubt, Outcome, Refused, Rejected, Sent, Store, Waiting
from bridge.events import RoomRef
from bridge.metrics import Metrics
from bridge.outbox.records import Finish, OutboxRow
from bridge.outbox.store import Outbox

log = logging.getLogger(__name__)

#: After the gateway was lost mid-send, wait this long before claiming again, so a worker that
#: learns of the outage before the login state does is not spinning against a closed port.
UNAVAILABLE_PAUSE_SECONDS = 1.0


class Record:
    """`await record(batch, outcome)`: see the module docstring."""

    def __init__(self, *, store: Store, clock: Clock, on_finished: Callable[[], None],
                 metrics: Metrics | None = None) -> None:
        self._store = store
        self._metrics = metrics or Metrics()
        self._clock = clock
        self._on_finished = on_finished

    async def __call__(self, batch: Batch, outcome: Outcome) -> Delivered | None:
        """Commit `outcome`; a single row's delivery is returned instead, to commit with the next claim."""
        rows, now = batch.rows, self._clock.now()
        match outcome:
            case Sent(room, note) if not batch.digest:
                row = batch.first
                if note is not None:
                    log.info("delivery %s to room %r: %s", row.event_id, row.room_key, note)
                return Delivered(Finish(seq=row.seq, status="delivered", now=now, room=room, note=note),
                                 row.event_id, row.attempts + 1)
            case Sent(room, _):
                await self._store.call(Outbox.mark_delivered_many, [row.seq for row in rows], now=now, room=room,
                                       digest=batch.digest_id)
                self._metrics.digest(len(rows))
                log.info("delivered %d deliveries to room %r as %s (%s)", len(rows), batch.room_key, batch.name,
                         ", ".join(row.event_id for row in rows))
                self._on_finished()
            case Rejected(room, error):
                for row in rows:
                    await self._store.call(Outbox.mark_finished, row.seq, "rejected", now=now, room=room,
                                           error=error, attempted=False)
                log.info("%s%s rejected: %s", batch.name, f" of {len(rows)} deliveries" if batch.digest else "",
                         error)
                self._on_finished()
            case Waiting(error):
                log.info("%s to room %r waits: %s", batch.name, batch.room_key, error)
                retry_at = now + UNAVAILABLE_PAUSE_SECONDS  # one time for all: due together, a digest folds again
                for row in rows:
                    await self._store.call(Outbox.mark_retry, row.seq, error=error, attempted=False,
                                           retry_at=retry_at)
            case InDoubt(room, error):
                log.warning("%s to room %r waits: lost the gateway while sending: %s; in doubt (WeChat may have "
                            "it), so it is sent again once after the gateway reconnects", batch.name,
                            batch.room_key, error)
                given_up = await self._store.call(Outbox.mark_in_doubt, [row.seq for row in rows], now=now,
                                                  retry_at=now + UNAVAILABLE_PAUSE_SECONDS, error=error, room=room)
                for row in given_up:
                    log.warning("delivery %s to room %r failed: %s", row.event_id, row.room_key, row.error)
                if given_up:
                    self._on_finished()
            case Refused(room, error, transient):
                # One time for all: rows with equal backoffs are due together, and a digest folds again.
                finished = [await self._refused(row, room, error, transient, now) for row in rows]
                if any(finished):
                    self._on_finished()
        return None

    async def _refused(self, row: OutboxRow, room: RoomRef, error: str, transient: bool, now: float) -> bool:
        """Retry `row` after its backoff from `now`, or finish it `failed` when that was its last
        attempt or the refusal is for good (returns True)."""
        attempt = row.attempts + 1
        if transient and attempt < row.max_attempts:
            delay = row.policy.retry_delay(attempt)
            log.warning("delivery %s to room %r: attempt %d of %d failed: %s; retrying in %.1f s",
                        row.event_id, row.room_key, attempt, row.max_attempts, error, delay)
            await self._store.call(Outbox.mark_retry, row.seq, error=error, retry_at=now + delay)
            return False
        final = f"gave up after {attempt} attempt(s); last error: {error}" if transient else f"{error} (not retried)"
        log.warning("delivery %s to room %r failed: %s", row.event_id, row.room_key, final)
        await self._store.call(Outbox.mark_finished, row.seq, "failed", now=now, room=room, error=final,
                               attempted=True)
        return True

    async def text_sent(self, seq: int) -> None:
        """The text of a row with an attachment went out: a retry sends only the attachment."""
        await self._store.call(Outbox.mark_text_sent, seq)

    def announce(self, delivered: Delivered | None) -> None:
        """A delivered outcome is on disk: log it and let the reporter publish it."""
        if delivered is None:
            return
        log.info("delivered %s to room %r%s", delivered.event_id, delivered.finish.room.key,
                 f" at attempt {delivered.attempt}" if delivered.attempt > 1 else "")
        self._on_finished()

    def expired(self, rows: list[OutboxRow]) -> None:
        """Rows the claim finished: expired, or dropped by quiet hours (already on disk)."""
        for gone in rows:
            log.warning("delivery %s to room %r %s: %s", gone.event_id, gone.room_key, gone.status, gone.error)
        if rows:
            self._on_finished()
