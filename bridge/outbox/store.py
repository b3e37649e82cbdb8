"""The durable outbox: the database, opened and locked, and the intake's and reporter's SQL.

Every accepted event is written here before its MQTT message is acknowledged, and stays until
its terminal report has been acknowledged by the broker. One SQLite file in WAL mode with
`synchronous=FULL`: a commit is on disk when it returns, so an acknowledged event survives a
crash or a power cut. Callers batch: the intake stores a whole burst in one transaction.

    events       one row per accepted MQTT message: its idempotency key and whether the
                 broker may still redeliver it (`awaiting_ack`)
    deliveries   one row per (event, room): the text, the retry policy, the state

A digest (`claim_digest`, `mark_delivered_many`) claims and finishes several rows of one room
together; each still ends with its own report. A delivery row moves only forward:

    pending ──send ok──────────────> delivered
       │  ├──retries used up──────> failed      (error: the last error)
       │  ├──room not resolvable──> rejected
       │  └──expires_at passed────> expired
       └─ (rejected, or dropped by a route throttle, at intake: inserted finished, never pending)

    throttle     per route throttle scope (route + key): when an event last passed, until when
                 the scope is closed; decided in `accept`, so it survives restarts
    route_state, timers
                 per route and key: the last `changed` value and the `for` timer, decided in
                 `accept` too (`bridge.outbox.state`); a timer that runs out is fired by
                 `fire_timer`, which stores its deliveries and marks it fired in one transaction
    silences, batches, batch_items, batch_texts
                 `silence` timers and gathered `batch`es (`bridge.outbox.watches`)

`sending_since` is set, and committed, before each send and cleared with its outcome; a
pending row found with it set at start-up was being sent when the bridge stopped ("in doubt").
A send that timed out or was cut off is in doubt too (`mark_in_doubt`). `doubts` counts them,
durably: a row is sent again after its first doubt, and ends `failed` at its second
(`MAX_DOUBTS`), so one row can show at most twice in WeChat, across restarts too.
`claim` can commit the previous send's outcome (`Finish`) in the same transaction, so a send
costs one commit, not two. That commit, made between back-to-back sends, does not wait for the
disk (`synchronous=NORMAL`): a process crash keeps it (the OS has the pages), a power cut may
undo it. The WAL is synced once `SYNC_EVERY_SENDS` of them are not on disk, before a row that
was in doubt is sent again, and whenever the worker finds nothing to send; every other commit
(intake, a claim after idling, in doubt, retry, failure) is FULL and syncs the whole WAL too. So
a power cut sends at most `SYNC_EVERY_SENDS` rows again, and a row in doubt before never again.
Every row that is not pending has `reported_at` NULL until its report reached the broker;
`mark_reported` commits without waiting for the disk, as a mark lost to a power cut only means
that report is published again.

The worker's half (claim, the outcomes of sends, expiry) is `bridge.outbox.sending`, and the
fallback's tables (`fallback_sends`, `fallback_never`, `fallback_outage`) and their SQL are
`bridge.outbox.fallback_ledger`; `Outbox` inherits both: one database, one transaction style.

`Outbox` is synchronous and single-threaded (unit tests use it directly); `OutboxRunner`
(`bridge.outbox.runner`) runs it on one thread of its own, so a commit's fsync never stalls the event loop.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from bridge.errors import OutboxError
from bridge.events import DeliveryReport, Planned, Queued, Rejected
from bridge.outbox import admission, schema
from bridge.outbox import state as outbox_state
from bridge.outbox.fallback_ledger import FALLBACK_SCHEMA, FallbackLedger
from bridge.outbox.records import (
    STATUSES,
    Accepted,
    AcceptResult,
    Armed,
    Arrival,
    Duplicate,
    Holding,
    OutboxRow,
    OutboxStats,
    QueueFull,
    RowExtras,
    StateVerdict,
    Throttled,
    ThrottlePass,
    Timer,
    Unchanged,
)
from bridge.outbox.sending import MAX_DOUBTS, SYNC_EVERY_SENDS, SendingLedger
from bridge.outbox.watches import WATCH_SCHEMA, WatchLedger

__all__ = ["MAX_DOUBTS", "SYNC_EVERY_SENDS", "Outbox"]

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class Outbox(SendingLedger, FallbackLedger, WatchLedger):
    """The outbox database; see the module docstring. Not thread-safe: use from one thread."""

    _db: sqlite3.Connection

    def __init__(self, db: sqlite3.Connection, *, path: str, lock: int | None,
                 idempotency_window: float, max_pending: int, fallback_on: bool = False,
                 forward_failed: bool = False) -> None:
        self._db = db
        self.fallback_on = fallback_on
        self.forward_failed = fallback_on and forward_failed
        self._path = path
        self._lock = lock
        self._window = idempotency_window
        self._max_pending = max_pending
        #: At least the number of pending rows: rows only ever leave `pending` except by `accept`,
        #: so it is counted again only when it reaches `max_pending` (a count is a scan of the backlog).
        self._pending_bound: int | None = None
        #: Transactions committed since open: tests and figures on batching read it.
        self.commits = 0
        #: Claim commits since the WAL was last synced (they wait for no disk: see `claim`).
        self.unsynced = 0

    @classmethod
    def open(cls, path: str | Path, *, idempotency_window: float = 86400.0, max_pending: int = 10_000,
             fallback_on: bool = False, forward_failed: bool = False) -> Outbox:
        """Open (creating it and its directory if needed) and lock the outbox for this process.

        `fallback_on`: reports wait for the fallback sends of their deliveries; `forward_failed`:
        a `failed` delivery's report waits for its forward too (`bridge.outbox.fallback_ledger`)."""
        where = str(path)
        lock: int | None = None
        try:
            if where != ":memory:":
                Path(where).parent.mkdir(parents=True, exist_ok=True)
                lock = _lock_file(where + ".lock")
            db = sqlite3.connect(where, isolation_level=None, check_same_thread=False)
            try:
                mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if mode != "wal" and where != ":memory:":
                    raise OutboxError(f"the outbox database {where}: cannot use WAL mode (got {mode!r})")
                db.execute("PRAGMA synchronous=FULL")
                db.execute("PRAGMA busy_timeout=5000")
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version > schema.SCHEMA_VERSION:
                    raise OutboxError(f"the outbox database {where} was written by a newer bridge "
                                      f"(schema {version}, this one knows {schema.SCHEMA_VERSION})")
                db.executescript(schema.SCHEMA)
                db.executescript(outbox_state.SCHEMA)
                db.executescript(FALLBACK_SCHEMA)
                db.executescript(WATCH_SCHEMA)
                schema.add_missing_columns(db)
                db.execute(f"PRAGMA user_version={schema.SCHEMA_VERSION}")
            except BaseException:
                db.close()
                raise
        except (sqlite3.Error, OSError) as exc:
            if lock is not None:
                os.close(lock)
            raise OutboxError(f"cannot open the outbox database {where}: {exc}") from None
        except BaseException:
            if lock is not None:
                os.close(lock)
            raise
        return cls(db, path=where, lock=lock, idempotency_window=idempotency_window, max_pending=max_pending,
                   fallback_on=fallback_on, forward_failed=forward_failed)

    def close(self) -> None:
        with self._errors():
            with contextlib.suppress(sqlite3.Error):
                # Fold the WAL into the main file, so a copied or inspected database is complete.
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    # ------------------------------------------------------------------ intake

    def accept(self, arrivals: Sequence[Arrival], *, now: float,
               acknowledged: Sequence[int] = ()) -> list[AcceptResult]:
        """Store a batch of arrivals in one transaction; duplicates are recognised, not stored.

        `acknowledged` lists `events` rows whose PUBACK has been sent since the last call: from
        then on a redelivery of their content is a new event, not a duplicate.
        """
        results: list[AcceptResult] = []
        with self._transaction():
            self._db.executemany("UPDATE events SET awaiting_ack = 0 WHERE id = ?", [(r,) for r in acknowledged])
            pending = self._count_pending() if self._pending_bound is None else self._pending_bound
            for arrival in arrivals:
                for heard in arrival.silences:
                    self._heard(heard)
                if not arrival.outcomes:
                    # Nothing to deliver or report; what it says about a route's state is still remembered.
                    ended = self._observe(arrival, "", now)
                    results.append(Accepted(0, len(ended), tuple(ended)))
                    continue
                duplicate = self._find_duplicate(arrival, now)
                if duplicate is not None:
                    results.append(duplicate)
                    continue
                event_id = arrival.outcomes[0].event_id
                cursor = self._db.execute(
                    "INSERT INTO events (key, by_content, event_id, accepted_at, awaiting_ack) VALUES (?, ?, ?, ?, ?)",
                    (arrival.key.value, arrival.key.by_content, event_id, now, arrival.needs_ack),
                )
                event_row = cursor.lastrowid
                assert event_row is not None
                states: dict[str, StateVerdict | None] = {}
                refused = self._observe(arrival, event_id, now, states)
                for outcome in arrival.outcomes:
                    state = states.get(outcome.state.scope) if isinstance(outcome, Queued) and outcome.state else None
                    if isinstance(state, Armed):
                        continue  # its reports wait for the timer
                    if isinstance(state, Unchanged | Holding):
                        assert isinstance(outcome, Queued)
                        dropped = admission.state_refusal(outcome, state, now)
                        self._insert_finished(dropped)
                        refused.append(dropped)
                        continue
                    report, pending = self._admit(outcome, now, pending)
                    if report is not None:
                        refused.append(report)
                results.append(Accepted(event_row, len(arrival.outcomes), tuple(refused)))
        self._pending_bound = pending
        return results

    def _observe(self, arrival: Arrival, event_id: str, now: float,
                 states: dict[str, StateVerdict | None] | None = None) -> list[DeliveryReport]:
        """Decide each route state the arrival carries, once per route and key (every room of an
        event carries the same); returns the reports of timers it cancelled, stored finished."""
        marks = [o.state for o in arrival.outcomes if isinstance(o, Queued) and o.state is not None]
        decided = {} if states is None else states
        ended: list[DeliveryReport] = []
        for mark in [*marks, *arrival.observations]:
            if mark.scope in decided:
                continue
            decision = outbox_state.decide(self._db, mark, event_id, now)
            decided[mark.scope] = decision.verdict
            for report in decision.ended:
                self._insert_finished(report)
            ended.extend(decision.ended)
        return ended

    def _admit(self, outcome: Planned, now: float, pending: int) -> tuple[DeliveryReport | None, int]:
        """Store one target: pending, or finished with the report that says why not (rejected by
        the pipeline, throttled, the queue full). Returns that report and the pending count."""
        if isinstance(outcome, Rejected):
            report = outcome.report(now)
        else:
            verdict: Throttled | QueueFull | None = self._throttle(outcome, now)
            if verdict is None and pending >= self._max_pending:
                # The bound says the queue may be full: count it (a scan of the backlog) to know.
                pending = self._count_pending()
                verdict = admission.queue_full(pending, self._max_pending)
            if verdict is None:
                seq = self._insert_pending(outcome)
                if outcome.batch is not None:
                    self._gather(outcome, seq, now)
                self._fallback_accepted(outcome)
                return None, pending + 1
            report = admission.refusal(outcome, verdict, now)
        self._insert_finished(report)
        return report, pending

    # ------------------------------------------------------------------ `for` timers

    def due_timers(self, now: float) -> list[Timer]:
        """Armed `for` timers that have run out, earliest first."""
        with self._errors():
            return outbox_state.due_timers(self._db, now)

    def next_timer(self) -> float | None:
        """When the earliest armed `for` timer runs out; None: none is armed."""
        with self._errors():
            return outbox_state.next_due(self._db)

    def fire_timer(self, timer: Timer, outcomes: Sequence[Planned], *, now: float) -> list[DeliveryReport] | None:
        """Store what a timer that ran out sends, and mark it fired, in one transaction: a crash
        keeps both or neither, so it fires once. None when it is no longer as it was read
        (cancelled, or a newer message came): nothing is stored, and it is read again.
        Returns the reports of the targets stored finished."""
        with self._transaction():
            if not outbox_state.mark_fired(self._db, timer, now):
                return None
            return self._admit_all(outcomes, now)

    def _admit_all(self, outcomes: Sequence[Planned], now: float) -> list[DeliveryReport]:
        """Inside a transaction: `_admit` each; returns the reports of those stored finished."""
        pending = self._count_pending() if self._pending_bound is None else self._pending_bound
        refused = []
        for outcome in outcomes:
            report, pending = self._admit(outcome, now, pending)
            if report is not None:
                refused.append(report)
        self._pending_bound = pending
        return refused

    def _count_pending(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'pending'").fetchone()[0])

    def record_acks(self, acknowledged: Sequence[int]) -> None:
        """Mark `events` rows acknowledged (for the last batch before shutdown)."""
        if acknowledged:
            with self._transaction():
                self._db.executemany("UPDATE events SET awaiting_ack = 0 WHERE id = ?",
                                     [(r,) for r in acknowledged])

    def _find_duplicate(self, arrival: Arrival, now: float) -> Duplicate | None:
        key = arrival.key
        since = now - self._window
        if not key.by_content:
            row = self._db.execute(
                "SELECT event_id, accepted_at FROM events WHERE key = ? AND accepted_at >= ? "
                "ORDER BY accepted_at DESC LIMIT 1", (key.value, since)).fetchone()
            if row is None:
                return None
            return Duplicate(row[0], row[1], redelivered=False)
        if not arrival.dup:
            return None
        row = self._db.execute(
            "SELECT id, event_id, accepted_at FROM events WHERE key = ? AND awaiting_ack = 1 AND accepted_at >= ? "
            "ORDER BY id LIMIT 1", (key.value, since)).fetchone()
        if row is None:
            return None
        # One redelivery matches one stored copy: a second identical redelivery is another message.
        self._db.execute("UPDATE events SET awaiting_ack = 0 WHERE id = ?", (row[0],))
        return Duplicate(row[1], row[2], redelivered=True)

    def _throttle(self, queued: Queued, now: float) -> Throttled | None:
        """Whether the event's throttle scope is closed (`bridge.admission`); else it opens for this event."""
        mark, d = queued.throttle, queued.delivery
        if mark is None:
            return None
        row = self._db.execute("SELECT event_id, passed_at, until FROM throttle WHERE scope = ?",
                               (mark.scope,)).fetchone()
        last = ThrottlePass(*row) if row is not None else None
        verdict = admission.throttled(mark, last, d.event_id, now)
        if verdict is None and (last is None or last.event_id != d.event_id):  # the event's other rooms pass too
            self._db.execute("INSERT OR REPLACE INTO throttle (scope, event_id, passed_at, until) VALUES (?, ?, ?, ?)",
                             (mark.scope, d.event_id, now, now + mark.period))
        return verdict

    def _insert_pending(self, queued: Queued) -> int:
        d, policy = queued.delivery, queued.policy
        expires_at = None if policy.expire_after is None else d.created_at + policy.expire_after
        extras = RowExtras(mentions=tuple(d.mentions), attachment=d.attachment,
                           condition_since=queued.condition_since, note=queued.note, silent_since=queued.silent_since)
        cursor = self._db.execute(
            "INSERT INTO deliveries (event_id, route, source_topic, room_key, text, status, max_attempts, backoff, "
            "max_backoff, created_at, expires_at, next_attempt_at, extras, priority) "
            "VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)",
            (d.event_id, d.route, d.source_topic, d.room_key, d.text, policy.attempts, policy.backoff,
             policy.max_backoff, d.created_at, expires_at, d.created_at, extras.to_json(), policy.priority),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def _insert_finished(self, report: DeliveryReport) -> None:
        extras = RowExtras(condition_since=report.condition_since, note=report.note,
                           silent_since=report.silent_since).to_json()
        self._db.execute(
            "INSERT INTO deliveries (event_id, route, source_topic, room_key, status, max_attempts, backoff, "
            "max_backoff, created_at, next_attempt_at, finished_at, room_id, room_topic, error, extras) "
            "VALUES (?, ?, ?, ?, ?, 0, 0, 0, ?, ?, ?, ?, ?, ?, ?)",
            (report.id, report.route, report.topic, report.room.key, report.status, report.ts, report.ts,
             report.ts, report.room.id, report.room.topic, report.error,
             extras),
        )

    # ------------------------------------------------------------------ reports

    def unreported(self, limit: int = 100) -> list[OutboxRow]:
        """Finished deliveries whose report has not been acknowledged by the broker, oldest first."""
        with self._errors():
            return self._rows(f"WHERE reported_at IS NULL AND status != 'pending'{self._fallback_hold()} "
                              "ORDER BY seq LIMIT ?", (limit,))

    def mark_reported(self, seqs: Sequence[int], *, now: float) -> None:
        """Committed without waiting for the disk: after a power cut a mark may be lost, and that
        report is published again (reports are at least once anyway). The next durable commit
        syncs it too."""
        if not seqs:
            return
        with self._transaction(durable=False):
            self._db.executemany("UPDATE deliveries SET reported_at = ? WHERE seq = ?", [(now, s) for s in seqs])

    # ------------------------------------------------------------------ housekeeping

    def stats(self, now: float, *, held: Sequence[str] = ()) -> OutboxStats:
        """`held`: the rooms inside their quiet hours now, whose normal deliveries wait."""
        with self._errors():
            waiting = self._db.execute(
                "SELECT COUNT(*) FROM deliveries WHERE status = 'pending' AND priority = 0 AND room_key IN "
                f"({', '.join('?' * len(held))})", tuple(held)).fetchone()[0] if held else 0
            counts = dict(self._db.execute("SELECT status, COUNT(*) FROM deliveries GROUP BY status").fetchall())
            oldest, sending, in_doubt = self._db.execute(
                "SELECT MIN(created_at), COUNT(sending_since), COUNT(NULLIF(doubts, 0)) FROM deliveries "
                "WHERE status = 'pending'").fetchone()
            unreported = self._db.execute(
                "SELECT COUNT(*) FROM deliveries WHERE reported_at IS NULL AND status != 'pending'").fetchone()[0]
        return OutboxStats(
            depth=counts.get("pending", 0), oldest_age=None if oldest is None else max(now - oldest, 0.0),
            sending=sending, by_status={s: counts.get(s, 0) for s in STATUSES}, unreported=unreported,
            commits=self.commits, in_doubt=in_doubt, held=waiting,
        )

    def prune(self, now: float, *, keep_finished: float) -> tuple[int, int]:
        """Delete reported rows finished before `keep_finished` ago, and keys older than the window."""
        with self._transaction():
            rows = self._db.execute("DELETE FROM deliveries WHERE reported_at IS NOT NULL AND finished_at < ?",
                                    (now - keep_finished,)).rowcount
            keys = self._db.execute("DELETE FROM events WHERE accepted_at < ?", (now - self._window,)).rowcount
            self._db.execute("DELETE FROM throttle WHERE until < ?", (now,))
            self._prune_fallback(now, keep_finished)
        return rows, keys

    # ------------------------------------------------------------------ plumbing

    def _rows(self, where: str, params: tuple[Any, ...] = ()) -> list[OutboxRow]:
        cursor = self._db.execute(f"SELECT {_COLUMNS} FROM deliveries {where}", params)
        return [OutboxRow.from_db(row) for row in cursor.fetchall()]

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise OutboxError(f"the outbox database {self._path}: {exc}") from None

    def sync(self) -> None:
        """Put every commit so far on disk: fsync the WAL, as a FULL commit does before it returns.

        A failed fsync is logged, not raised: the commits are made (a process crash keeps them),
        the caller's row is claimed, and the next durable commit fails loudly if the disk is gone.
        """
        if self._path == ":memory:":
            self.unsynced = 0
            return
        try:
            fd = os.open(self._path + "-wal", os.O_RDONLY)
        except FileNotFoundError:
            self.unsynced = 0  # no WAL: every commit is in the main file, synced by its checkpoint
            return
        except OSError as exc:
            log.error("the outbox database %s: cannot sync its WAL: %s", self._path, exc)
            return
        try:
            os.fdatasync(fd)
            self.unsynced = 0
        except OSError as exc:
            log.error("the outbox database %s: cannot sync its WAL: %s", self._path, exc)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _transaction(self, *, durable: bool = True) -> Iterator[None]:
        """`durable` False: the commit does not wait for the disk (WAL `synchronous=NORMAL`): a
        power cut may undo it, never corrupt the database or undo an earlier durable commit.
        A durable commit syncs the whole WAL, so it makes the non-durable ones before it durable too."""
        with self._errors():
            if not durable:
                self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                changes = self._db.total_changes
                # IMMEDIATE: take the write lock now, not halfway through, so a transaction never
                # fails on a lock upgrade after doing part of its work.
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
                self.commits += 1
            finally:
                if not durable:
                    self._db.execute("PRAGMA synchronous=FULL")
        if durable and self.unsynced:
            if self._db.total_changes != changes:
                self.unsynced = 0  # SQLite wrote and synced the WAL for this commit
            else:
                self.sync()  # nothing written: SQLite had nothing to sync, so the WAL is not yet on disk


_COLUMNS = ", ".join(OutboxRow.__dataclass_fields__)


def _lock_file(path: str) -> int:
    """Hold an exclusive lock for as long as the outbox is open: two bridges on one outbox would
    both claim the same rows and send them twice."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise OutboxError(f"the outbox {path.removesuffix('.lock')} is in use by another bridge process") from None
    return fd
