"""The outbox's tables for `silence` and `batch` routes, and the SQL that reads and writes them.

A part of `bridge.outbox` kept in its own module (`Outbox` inherits `WatchLedger`): the same
database, connection and transactions, so a silence timer or a gathered batch is as durable as a
delivery. It imports no database driver.

    silences      per route and key: when it was last heard, when it goes silent (`due_at`), and
                  whether it is silent now (`silent_since`) or was heard again (`back_at`)
    batches       a route's batch being gathered (`flushed_at` NULL) until `due_at`
    batch_items   the deliveries gathered in a batch, with how the batch message names each
    batch_texts   per batch and room: the one message that carries them, composed when it was flushed

A silence timer moves: watching --due_at--> silent --heard--> back --sent--> watching. Each step
that sends (`fire_silence`) stores its deliveries and moves the row in one transaction, checked
against the row's `version`: so one message per silence, across a SIGKILL too. What arms the
first timer of a key is the first message the route hears for it (a retained one too); a key
never heard is not watched, as nothing says it exists.

A batch's deliveries are stored pending with `next_attempt_at` at `HELD_UNTIL_FLUSHED`, so no
claim takes them alone; `flush_batch` stores the message text per room and makes them due;
`claim_batch` then claims the deliveries of one room together, which the worker sends as that
one text and marks delivered together, each report naming the message (`digest`, as a digest's).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from bridge.events import DeliveryReport, HeldMessage, Planned, Queued, SilenceMark
from bridge.outbox.records import BatchClaim, BatchMember, Finish, GatheredBatch, OutboxRow, Silence

WATCH_SCHEMA = """
CREATE TABLE IF NOT EXISTS silences (
    scope        TEXT    PRIMARY KEY,
    route        TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    rooms        TEXT    NOT NULL,
    silence      REAL    NOT NULL,
    back         INTEGER NOT NULL,
    heard_at     REAL    NOT NULL,
    due_at       REAL    NOT NULL,
    silent_since REAL,
    back_at      REAL,
    event_id     TEXT    NOT NULL,
    topic        TEXT    NOT NULL,
    payload      BLOB    NOT NULL,
    version      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS batches (
    batch_id   TEXT    PRIMARY KEY,
    route      TEXT    NOT NULL,
    opened_at  REAL    NOT NULL,
    due_at     REAL    NOT NULL,
    max_count  INTEGER,
    flushed_at REAL
);
CREATE TABLE IF NOT EXISTS batch_items (
    seq      INTEGER PRIMARY KEY,
    batch_id TEXT    NOT NULL,
    item     TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS batch_items_by_batch ON batch_items (batch_id);
CREATE TABLE IF NOT EXISTS batch_texts (
    batch_id TEXT NOT NULL,
    room_key TEXT NOT NULL,
    text     TEXT NOT NULL,
    PRIMARY KEY (batch_id, room_key)
);
"""

#: A gathered delivery's `next_attempt_at` until its batch is flushed (year 2100): no claim takes it alone.
HELD_UNTIL_FLUSHED = 4102444800.0

_SILENCE_COLUMNS = ("route, key, rooms, silence, back, heard_at, due_at, silent_since, back_at, event_id, topic, "
                    "payload, version")
#: Watching and run out, or heard again after a silence: a message to send.
_SILENCE_DUE = "(silent_since IS NULL AND back_at IS NULL AND due_at <= ?) OR back_at IS NOT NULL"


class _Rows(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class _Sql(Protocol):
    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> _Rows: ...


class WatchLedger:
    """The `silence` and `batch` methods of `Outbox` (see the module docstring)."""

    if TYPE_CHECKING:  # provided by `Outbox`
        _db: _Sql

        def _transaction(self, *, durable: bool = True) -> AbstractContextManager[None]: ...

        def _errors(self) -> AbstractContextManager[None]: ...

        def _rows(self, where: str, params: tuple[Any, ...] = ()) -> list[OutboxRow]: ...

        def _finish_row(self, f: Finish) -> None: ...

        def _admit_all(self, outcomes: Sequence[Planned], now: float) -> list[DeliveryReport]: ...

    # ------------------------------------------------------------------ silence

    def _heard(self, mark: SilenceMark) -> None:
        """A `silence` route heard `mark.key` (inside the intake's transaction)."""
        event_id = mark.event_id
        current = self._find_silence(mark.scope)
        m = mark.message
        if current is None:
            self._db.execute(
                f"INSERT INTO silences (scope, {_SILENCE_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, 0)",
                (mark.scope, mark.route, mark.key, json.dumps(list(mark.rooms)), mark.silence, mark.back,
                 m.received_at, m.received_at + mark.silence, event_id, m.topic, m.payload))
            return
        if not mark.fires:
            return  # a replayed retained message is not the route reporting
        if current.silent_since is None or current.back_at is not None:
            # Watching: the window starts again. Heard again before a "back" was sent: that one says it.
            due = m.received_at + current.silence
            self._db.execute("UPDATE silences SET heard_at = ?, due_at = ?, version = version + 1 WHERE scope = ?",
                             (m.received_at, due, mark.scope))
            if current.back_at is None:
                self._db.execute("UPDATE silences SET event_id = ?, topic = ?, payload = ? WHERE scope = ?",
                                 (event_id, m.topic, m.payload, mark.scope))
        elif current.back:
            self._db.execute("UPDATE silences SET back_at = ?, heard_at = ?, event_id = ?, topic = ?, payload = ?, "
                             "version = version + 1 WHERE scope = ?",
                             (m.received_at, m.received_at, event_id, m.topic, m.payload, mark.scope))
        else:
            self._db.execute("UPDATE silences SET silent_since = NULL, heard_at = ?, due_at = ?, event_id = ?, "
                             "topic = ?, payload = ?, version = version + 1 WHERE scope = ?",
                             (m.received_at, m.received_at + current.silence, event_id, m.topic, m.payload,
                              mark.scope))

    def _find_silence(self, scope: str) -> Silence | None:
        row = self._db.execute(f"SELECT {_SILENCE_COLUMNS} FROM silences WHERE scope = ?", (scope,)).fetchone()
        return _silence(row) if row is not None else None

    def due_silences(self, now: float) -> list[Silence]:
        """Silence timers that ran out, and silences that ended (`back_at`): each a message to send."""
        with self._errors():
            rows = self._db.execute(f"SELECT {_SILENCE_COLUMNS} FROM silences WHERE {_SILENCE_DUE} ORDER BY due_at",
                                    (now,)).fetchall()
        return [_silence(row) for row in rows]

    def next_silence(self) -> float | None:
        """When the earliest silence timer runs out (or now, for a "back" to send)."""
        with self._errors():
            found = self._db.execute("SELECT MIN(CASE WHEN back_at IS NOT NULL THEN back_at ELSE due_at END) "
                                     "FROM silences WHERE silent_since IS NULL OR back_at IS NOT NULL").fetchone()[0]
        return float(found) if found is not None else None

    def fire_silence(self, silence: Silence, outcomes: Sequence[Planned], *,
                     now: float) -> list[DeliveryReport] | None:
        """Store a silence's (or a "back") message and move its timer on, in one transaction, as
        `fire_timer` does; None when the key was heard since it was read (read it again)."""
        with self._transaction():
            current = self._find_silence(silence.scope)
            if current is None or current.version != silence.version:
                return None
            self._silence_sent(silence)
            return self._admit_all(outcomes, now)

    def _silence_sent(self, silence: Silence) -> None:
        if silence.back_at is not None:
            self._db.execute("UPDATE silences SET silent_since = NULL, back_at = NULL, due_at = heard_at + silence, "
                             "version = version + 1 WHERE scope = ?", (silence.scope,))
        else:
            self._db.execute("UPDATE silences SET silent_since = heard_at, version = version + 1 WHERE scope = ?",
                             (silence.scope,))

    def forget_silence(self, silence: Silence) -> None:
        """The route is no longer configured (or no longer has `silence`): stop watching its key."""
        with self._transaction():
            self._db.execute("DELETE FROM silences WHERE scope = ? AND version = ?", (silence.scope, silence.version))

    # ------------------------------------------------------------------ batch

    def _gather(self, queued: Queued, seq: int, now: float) -> None:
        """Inside the intake's transaction: the pending delivery `seq` joins its route's open batch."""
        mark = queued.batch
        assert mark is not None
        found = self._db.execute("SELECT batch_id FROM batches WHERE route = ? AND flushed_at IS NULL "
                                 "ORDER BY opened_at DESC LIMIT 1", (mark.route,)).fetchone()
        if found is None:
            batch_id = f"{mark.route}\0{queued.event_id}"
            self._db.execute("INSERT OR IGNORE INTO batches (batch_id, route, opened_at, due_at, max_count) "
                             "VALUES (?, ?, ?, ?, ?)", (batch_id, mark.route, now, now + mark.window, mark.count))
        else:
            batch_id = found[0]
        self._db.execute("INSERT INTO batch_items (seq, batch_id, item) VALUES (?, ?, ?)", (seq, batch_id, mark.item))
        self._db.execute("UPDATE deliveries SET next_attempt_at = ? WHERE seq = ?", (HELD_UNTIL_FLUSHED, seq))
        if mark.count is not None and len({m.event_id for m in self._members(batch_id)}) >= mark.count:
            self._db.execute("UPDATE batches SET due_at = MIN(due_at, ?) WHERE batch_id = ?", (now, batch_id))

    def _members(self, batch_id: str) -> list[BatchMember]:
        rows = self._db.execute(
            "SELECT d.seq, d.event_id, d.room_key, d.text, b.item FROM batch_items b JOIN deliveries d "
            "ON d.seq = b.seq WHERE b.batch_id = ? AND d.status = 'pending' ORDER BY d.seq", (batch_id,)).fetchall()
        return [BatchMember(seq=seq, event_id=event_id, room_key=room, text=text or "", item=item)
                for seq, event_id, room, text, item in rows]

    def due_batches(self, now: float) -> list[GatheredBatch]:
        """Batches whose window ran out (or that reached their count), with their pending deliveries."""
        with self._errors():
            rows = self._db.execute("SELECT batch_id, route, opened_at FROM batches WHERE flushed_at IS NULL "
                                    "AND due_at <= ? ORDER BY due_at", (now,)).fetchall()
            return [GatheredBatch(batch_id=b, route=route, opened_at=opened, members=tuple(self._members(b)))
                    for b, route, opened in rows]

    def next_batch(self) -> float | None:
        with self._errors():
            found = self._db.execute("SELECT MIN(due_at) FROM batches WHERE flushed_at IS NULL").fetchone()[0]
        return float(found) if found is not None else None

    def flush_batch(self, batch: GatheredBatch, texts: dict[str, str], *, now: float) -> bool:
        """Store the message of each room (none: each delivery goes as itself) and make the deliveries
        due, in one transaction. False when an event joined since `batch` was read: read it again."""
        with self._transaction():
            if [m.seq for m in self._members(batch.batch_id)] != [m.seq for m in batch.members]:
                return False
            self._db.execute("UPDATE batches SET flushed_at = ? WHERE batch_id = ?", (now, batch.batch_id))
            for room, text in texts.items():
                self._db.execute("INSERT OR REPLACE INTO batch_texts (batch_id, room_key, text) VALUES (?, ?, ?)",
                                 (batch.batch_id, room, text))
            for member in batch.members:
                self._db.execute("UPDATE deliveries SET next_attempt_at = ? WHERE seq = ?", (now, member.seq))
            if not texts:
                self._forget_batch(batch.batch_id)
        return True

    def _forget_batch(self, batch_id: str) -> None:
        for table in ("batch_texts", "batch_items", "batches"):
            self._db.execute(f"DELETE FROM {table} WHERE batch_id = ?", (batch_id,))

    def claim_batch(self, now: float, *, skip_rooms: Sequence[str] = (), held: Sequence[str] = (),
                    finish: Finish | None = None) -> BatchClaim | None:
        """The due deliveries of one flushed batch in one room, marked as being sent together, with
        the text that carries them. None when no batch is flushed (then `finish` is not committed)."""
        with self._errors():
            if self._db.execute("SELECT 1 FROM batch_texts LIMIT 1").fetchone() is None:
                return None
        with self._transaction():
            if finish is not None:
                self._finish_row(finish)
            for batch_id, room, text in self._db.execute(
                    "SELECT batch_id, room_key, text FROM batch_texts ORDER BY rowid").fetchall():
                waiting = [m.seq for m in self._members(batch_id) if m.room_key == room]
                if not waiting:
                    self._db.execute("DELETE FROM batch_texts WHERE batch_id = ? AND room_key = ?", (batch_id, room))
                    if self._db.execute("SELECT 1 FROM batch_texts WHERE batch_id = ?", (batch_id,)).fetchone() \
                            is None:
                        self._forget_batch(batch_id)
                    continue
                if room in skip_rooms or room in held:
                    continue
                marks = ", ".join("?" * len(waiting))
                rows = self._rows(f"WHERE seq IN ({marks}) AND sending_since IS NULL AND next_attempt_at <= ? "
                                  "ORDER BY seq", (*waiting, now))
                if len(rows) != len(waiting):
                    continue  # some are being sent or wait for a retry: the batch goes again as a whole
                for row in rows:
                    self._db.execute("UPDATE deliveries SET sending_since = ? WHERE seq = ?", (now, row.seq))
                return BatchClaim(rows=tuple(rows), text=text)
        return BatchClaim(rows=(), text="")


def _silence(row: Any) -> Silence:
    route, key, rooms, silence, back, heard_at, due_at, silent_since, back_at, event_id, topic, payload, version = row
    return Silence(route=route, key=key, rooms=tuple(json.loads(rooms)), silence=silence, back=bool(back),
                   heard_at=heard_at, due_at=due_at, silent_since=silent_since, back_at=back_at, event_id=event_id,
                   message=HeldMessage(topic, bytes(payload), heard_at), version=version)
