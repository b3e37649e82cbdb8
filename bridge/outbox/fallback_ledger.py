"""The fallback's ledger in the outbox: its tables and the SQL that reads and writes them.

A part of `bridge.outbox` kept in its own module (`Outbox` inherits it): the same database, the
same connection, the same transactions and error mapping, so a fallback send is as durable as a
WeChat send. It imports no database driver: the connection and the transactions are the outbox's.

    fallback_sends   one row per notification through the fallback (`FallbackSend`): an alert
                     about the account, or the text of one delivery (at most one per delivery)
    fallback_never   deliveries of routes with `fallback: never`
    fallback_outage  the outage in progress, if any (one row)

A send moves like a delivery: `pending` -> `sent` | `failed`. `sending_since` is committed before
the send starts and cleared with its outcome; a row found with it set at start-up was being sent
when the bridge stopped: one doubt more (`recover_fallback`), sent again once, `failed` at its
second doubt. So a restart neither forgets a send nor makes a third copy of one.

While a delivery's fallback send is pending, its report waits (`_fallback_hold`): an event sent
both ways has one report, the last, with both outcomes. With `forward_failed`, a `failed`
delivery's report also waits until its forward is planned (`plan_fallback`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from bridge.events import FallbackOutcome, Queued
from bridge.outbox.fallback_records import Alert, FallbackSend, FallbackStats, OutageRecord

FALLBACK_SCHEMA = """
CREATE TABLE IF NOT EXISTS fallback_sends (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL,
    seq             INTEGER,
    event_id        TEXT,
    route           TEXT,
    room_key        TEXT,
    title           TEXT,
    body            TEXT    NOT NULL,
    attachment      BLOB,
    status          TEXT    NOT NULL,
    tries           INTEGER NOT NULL DEFAULT 0,
    doubts          INTEGER NOT NULL DEFAULT 0,
    created_at      REAL    NOT NULL,
    next_attempt_at REAL    NOT NULL,
    sending_since   REAL,
    finished_at     REAL,
    via             TEXT,
    error           TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS fallback_by_delivery ON fallback_sends (seq) WHERE seq IS NOT NULL;
CREATE INDEX IF NOT EXISTS fallback_due ON fallback_sends (next_attempt_at) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS fallback_never (seq INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS fallback_outage (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    since       REAL    NOT NULL,
    alerted_at  REAL,
    reminded_at REAL
);
"""

_SEND_COLUMNS = ", ".join(FallbackSend.__dataclass_fields__)
#: A delivery with no fallback send yet, and not of a `fallback: never` route.
_UNTOUCHED = ("NOT EXISTS (SELECT 1 FROM fallback_sends f WHERE f.seq = deliveries.seq) "
              "AND NOT EXISTS (SELECT 1 FROM fallback_never n WHERE n.seq = deliveries.seq)")
_DUE_ESCALATIONS = f"status = 'pending' AND priority > 0 AND created_at <= ? AND {_UNTOUCHED}"
_DUE_FORWARDS = f"status = 'failed' AND reported_at IS NULL AND {_UNTOUCHED}"


class _Rows(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class _Sql(Protocol):
    """What of the outbox's connection the ledger uses."""

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> _Rows: ...


class FallbackLedger:
    """The fallback's methods of `Outbox` (see the module docstring); used through `OutboxRunner`."""

    #: Set by `Outbox.open`: hold reports while a fallback send of the delivery is pending...
    fallback_on: bool = False
    #: ...and hold `failed` ones until their forward is planned (`fallback.also_on_failed`).
    forward_failed: bool = False

    if TYPE_CHECKING:  # provided by `Outbox`
        _db: _Sql

        def _transaction(self, *, durable: bool = True) -> AbstractContextManager[None]: ...

        def _errors(self) -> AbstractContextManager[None]: ...

    # ------------------------------------------------------------------ intake

    def _fallback_accepted(self, queued: Queued) -> None:
        """Within `accept`, right after the delivery row was inserted: note the route's `fallback`."""
        if queued.fallback == "default":
            return
        seq = self._db.execute("SELECT last_insert_rowid()").fetchone()[0]
        if queued.fallback == "never":
            self._db.execute("INSERT OR IGNORE INTO fallback_never (seq) VALUES (?)", (seq,))
            return
        d = queued.delivery
        self._db.execute(
            "INSERT OR IGNORE INTO fallback_sends (kind, seq, event_id, route, room_key, body, status, created_at, "
            "next_attempt_at) VALUES ('always', ?, ?, ?, ?, ?, 'pending', ?, ?)",
            (seq, d.event_id, d.route, d.room_key, d.text, d.created_at, d.created_at))

    # ------------------------------------------------------------------ planning

    def plan_fallback(self, now: float, *, priority_after: float, forward_failed: bool) -> int:
        """Add a send for each `priority: high` delivery pending for `priority_after` and (with
        `forward_failed`) each `failed` one not reported yet; returns how many were added."""
        conditions: list[tuple[str, str, tuple[float, ...]]] = [(_DUE_ESCALATIONS, "priority", (now - priority_after,))]
        if forward_failed:
            conditions.append((_DUE_FORWARDS, "failed", ()))
        with self._errors():
            # Looked for outside a transaction first: the usual answer is none, and a write
            # transaction (an fsync) every second for nothing would wear the disk.
            due = [c for c in conditions
                   if self._db.execute(f"SELECT 1 FROM deliveries WHERE {c[0]} LIMIT 1", c[2]).fetchone()]
        if not due:
            return 0
        added = 0
        with self._transaction():
            for where, kind, params in due:
                added += self._db.execute(
                    "INSERT OR IGNORE INTO fallback_sends (kind, seq, event_id, route, room_key, body, status, "
                    "created_at, next_attempt_at) SELECT ?, seq, event_id, route, room_key, COALESCE(text, ''), "
                    f"'pending', ?, ? FROM deliveries WHERE {where}", (kind, now, now, *params)).rowcount
        return added

    def next_escalation(self, *, priority_after: float) -> float | None:
        """When the oldest `priority: high` delivery without a fallback send is due for one."""
        with self._errors():
            oldest = self._db.execute(
                f"SELECT MIN(created_at) FROM deliveries WHERE status = 'pending' AND priority > 0 AND {_UNTOUCHED}"
            ).fetchone()[0]
        return None if oldest is None else float(oldest) + priority_after

    # ------------------------------------------------------------------ sending

    def claim_fallback(self, now: float) -> FallbackSend | None:
        """The oldest send due now, marked as being sent (committed before the send starts)."""
        due = ("WHERE status = 'pending' AND sending_since IS NULL AND next_attempt_at <= ? "
               "ORDER BY next_attempt_at, id LIMIT 1")
        with self._errors():
            if not self._sends(due, (now,)):
                return None
        with self._transaction():
            found = self._sends(due, (now,))
            if found:
                self._db.execute("UPDATE fallback_sends SET sending_since = ? WHERE id = ?", (now, found[0].id))
        return found[0] if found else None

    def next_fallback_attempt(self) -> float | None:
        with self._errors():
            value = self._db.execute("SELECT MIN(next_attempt_at) FROM fallback_sends "
                                     "WHERE status = 'pending' AND sending_since IS NULL").fetchone()[0]
        return None if value is None else float(value)

    def fallback_sent(self, send_id: int, *, now: float, via: Sequence[str]) -> None:
        with self._transaction():
            self._db.execute(
                "UPDATE fallback_sends SET status = 'sent', tries = tries + 1, sending_since = NULL, finished_at = ?, "
                "via = ?, error = NULL WHERE id = ? AND status = 'pending'", (now, json.dumps(list(via)), send_id))

    def fallback_not_sent(self, send_id: int, *, now: float, error: str, in_doubt: bool,
                          retry_at: float | None) -> None:
        """A try that every URL failed (`in_doubt`: one may have arrived): pending again from
        `retry_at`, or `failed` with `error` when `retry_at` is None."""
        with self._transaction():
            self._db.execute(
                "UPDATE fallback_sends SET tries = tries + 1, doubts = doubts + ?, sending_since = NULL, error = ?, "
                "next_attempt_at = COALESCE(?, next_attempt_at), status = CASE WHEN ? IS NULL THEN 'failed' "
                "ELSE status END, finished_at = CASE WHEN ? IS NULL THEN ? END WHERE id = ? AND status = 'pending'",
                (int(in_doubt), error, retry_at, retry_at, retry_at, now, send_id))

    def recover_fallback(self, now: float, *, max_doubts: int, given_up: str, stopped: str) -> list[FallbackSend]:
        """At start-up: the sends under way when the bridge stopped, one doubt more each; pending
        again (`stopped` as their error), or `failed` (`given_up`) at `max_doubts`. Returns them as
        they are now."""
        with self._transaction():
            rows = self._sends("WHERE status = 'pending' AND sending_since IS NOT NULL ORDER BY id")
            for row in rows:
                self._db.execute(
                    "UPDATE fallback_sends SET doubts = doubts + 1, sending_since = NULL, error = ? WHERE id = ?",
                    (stopped, row.id))
                self._db.execute(
                    "UPDATE fallback_sends SET status = 'failed', finished_at = ?, error = ? "
                    "WHERE id = ? AND doubts >= ?", (now, given_up, row.id, max_doubts))
            return self._sends(f"WHERE id IN ({', '.join('?' * len(rows))}) ORDER BY id",
                               tuple(r.id for r in rows)) if rows else []

    # ------------------------------------------------------------------ alerts about the account

    def outage(self) -> OutageRecord | None:
        with self._errors():
            row = self._db.execute("SELECT since, alerted_at, reminded_at FROM fallback_outage").fetchone()
        return None if row is None else OutageRecord(*row)

    def save_outage(self, record: OutageRecord | None, *, alert: Alert | None = None) -> None:
        """The outage as it stands now (None: over), with the alert it raised, in one transaction:
        an alert is stored exactly when the outage says it was raised."""
        with self._transaction():
            if record is None:
                self._db.execute("DELETE FROM fallback_outage")
            else:
                self._db.execute("INSERT OR REPLACE INTO fallback_outage (id, since, alerted_at, reminded_at) "
                                 "VALUES (1, ?, ?, ?)", (record.since, record.alerted_at, record.reminded_at))
            if alert is not None:
                self._db.execute(
                    "INSERT INTO fallback_sends (kind, title, body, attachment, status, created_at, next_attempt_at) "
                    "VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                    (alert.kind, alert.title, alert.body, alert.attachment, alert.created_at, alert.created_at))

    def waiting_deliveries(self) -> int:
        with self._errors():
            return int(self._db.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'pending'").fetchone()[0])

    # ------------------------------------------------------------------ reports and figures

    def fallback_outcomes(self, seqs: Sequence[int]) -> dict[int, FallbackOutcome]:
        """The finished fallback sends of these deliveries, for their reports."""
        if not seqs:
            return {}
        with self._errors():
            rows = self._sends(f"WHERE seq IN ({', '.join('?' * len(seqs))}) AND status != 'pending'", tuple(seqs))
        return {row.seq: FallbackOutcome("sent" if row.status == "sent" else "failed", row.schemes,
                                         row.finished_at or row.created_at)
                for row in rows if row.seq is not None}

    def _fallback_hold(self) -> str:
        """A condition on `deliveries` leaving out the rows whose report waits for the fallback."""
        if not self.fallback_on:
            return ""
        held = (" AND NOT EXISTS (SELECT 1 FROM fallback_sends f WHERE f.seq = deliveries.seq "
                "AND f.status = 'pending')")
        if self.forward_failed:
            held += f" AND NOT (status = 'failed' AND {_UNTOUCHED})"
        return held

    def fallback_stats(self) -> FallbackStats:
        with self._errors():
            counts = dict(self._db.execute("SELECT status, COUNT(*) FROM fallback_sends GROUP BY status").fetchall())
            doubts = self._db.execute("SELECT COUNT(*) FROM fallback_sends WHERE status = 'pending' AND doubts > 0"
                                      ).fetchone()[0]
        return FallbackStats(pending=counts.get("pending", 0), sent=counts.get("sent", 0),
                             failed=counts.get("failed", 0), in_doubt=doubts)

    def _prune_fallback(self, now: float, keep_finished: float) -> None:
        """Within `prune`: finished sends past `keep_finished` whose delivery is gone (or that had none)."""
        self._db.execute(
            "DELETE FROM fallback_sends WHERE status != 'pending' AND finished_at < ? AND (seq IS NULL OR "
            "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.seq = fallback_sends.seq))", (now - keep_finished,))
        self._db.execute("DELETE FROM fallback_never WHERE NOT EXISTS "
                         "(SELECT 1 FROM deliveries d WHERE d.seq = fallback_never.seq)")

    def _sends(self, where: str, params: tuple[Any, ...] = ()) -> list[FallbackSend]:
        rows = self._db.execute(f"SELECT {_SEND_COLUMNS} FROM fallback_sends {where}", params).fetchall()
        return [FallbackSend(**dict(zip(FallbackSend.__dataclass_fields__, row, strict=True))) for row in rows]
