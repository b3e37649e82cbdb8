"""The worker's half of the outbox: claiming deliveries, recording how their sends ended, expiry.

A part of `bridge.outbox` kept in its own module (`Outbox` inherits it, as it does the fallback's
ledger): the same connection, the same transactions and error mapping. It imports no database
driver. The state machine, the doubts and the one commit per send are described in
`bridge.outbox`'s docstring; the sentences a report carries come from `bridge.endings`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

from bridge.events import RoomRef
from bridge.outbox import endings
from bridge.outbox.records import Finish, OutboxRow, RowStatus

#: A row whose sends ended in doubt this many times is not sent again: each may have reached
#: WeChat, and more would be more than one duplicate.
MAX_DOUBTS = 2
#: Back-to-back sends commit their claim (with the outcome before) without waiting for the disk;
#: the WAL is synced at the latest at this many, so a power cut sends at most this many rows
#: again (one of them, whose claim was on disk, as in doubt). An fsync per send cost a quarter
#: of the end-to-end rate (benchmarks/RESULTS.md); one per 10 sends costs about 1 %.
SYNC_EVERY_SENDS = 10


class _Rows(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class _Sql(Protocol):
    """What of the outbox's connection the worker's half uses."""

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> _Rows: ...

    def executemany(self, sql: str, parameters: Sequence[Sequence[Any]], /) -> Any: ...


class SendingLedger:
    """The worker's methods of `Outbox` (see the module docstring); used through `OutboxRunner`."""

    if TYPE_CHECKING:  # provided by `Outbox`
        _db: _Sql
        unsynced: int

        def _transaction(self, *, durable: bool = True) -> AbstractContextManager[None]: ...

        def _errors(self) -> AbstractContextManager[None]: ...

        def _rows(self, where: str, params: tuple[Any, ...] = ()) -> list[OutboxRow]: ...

        def sync(self) -> None: ...

    def recover(self, now: float | None = None) -> list[OutboxRow]:
        """At start-up: the rows that were being sent when the bridge stopped, each one doubt more.

        They are pending again, or `failed` when that was their second doubt (`MAX_DOUBTS`);
        returned as they are now.
        """
        now = time.time() if now is None else now
        with self._transaction():
            rows = self._rows("WHERE status = 'pending' AND sending_since IS NOT NULL ORDER BY seq")
            self._in_doubt([r.seq for r in rows], now=now, retry_at=None, error=endings.STOPPED_DURING_SEND)
            recovered = self._rows(f"WHERE seq IN ({', '.join('?' * len(rows))}) ORDER BY seq",
                                   tuple(r.seq for r in rows)) if rows else []
        return recovered

    def mark_in_doubt(self, seqs: Sequence[int], *, now: float, retry_at: float, error: str,
                      room: RoomRef | None = None) -> list[OutboxRow]:
        """Sends that timed out or were cut off: one doubt more each; pending again from `retry_at`
        (no attempt is counted: WeChat did not refuse), or `failed` at their second doubt.
        Returns the rows that ended `failed`."""
        with self._transaction():
            self._in_doubt(seqs, now=now, retry_at=retry_at, error=error, room=room)
            if not seqs:
                return []
            return self._rows(f"WHERE seq IN ({', '.join('?' * len(seqs))}) AND status = 'failed' ORDER BY seq",
                              tuple(seqs))

    def _in_doubt(self, seqs: Sequence[int], *, now: float, retry_at: float | None, error: str,
                  room: RoomRef | None = None) -> None:
        """Within a transaction: see `mark_in_doubt` (`retry_at` None: when it was due before)."""
        for seq in seqs:
            self._db.execute(
                "UPDATE deliveries SET doubts = doubts + 1, sending_since = NULL, "
                "next_attempt_at = COALESCE(?, next_attempt_at), error = ? WHERE seq = ? AND status = 'pending'",
                (retry_at, error, seq))
        given_up = endings.in_doubt_twice(error)
        room_id, topic = (room.id, room.topic) if room is not None else (None, None)
        self._db.executemany(
            "UPDATE deliveries SET status = 'failed', finished_at = ?, error = ?, room_id = COALESCE(?, room_id), "
            "room_topic = COALESCE(?, room_topic) WHERE seq = ? AND status = 'pending' AND doubts >= ?",
            [(now, given_up, room_id, topic, seq, MAX_DOUBTS) for seq in seqs])

    def claim(self, now: float, *, skip_rooms: Sequence[str] = (), finish: Finish | None = None,
              held: Sequence[str] = ()) -> OutboxRow | None:
        """The oldest delivery due now, marked as being sent (committed before the send starts).

        Rows for `skip_rooms` (rooms paced right now) are left for later, and so are the normal
        rows of `held` (rooms inside their quiet hours). `finish`, the outcome of
        the send before, is committed in the same transaction: the worker's one commit per send.

        With `finish` (back-to-back sends) the commit does not wait for the disk: a power cut may
        undo it, so the row it finished and the row it claimed would be sent again. The WAL is
        synced before returning when that makes `SYNC_EVERY_SENDS` such commits, when the row was
        in doubt before (it must not show a third time), or when nothing is claimed (the worker
        goes idle). Without `finish` (the first claim after idling) the commit is FULL.
        """
        with self._transaction(durable=finish is None):
            if finish is not None:
                self._finish_row(finish)
            # In claim order along deliveries_claim: the planner would rather take every due row by
            # next_attempt_at and sort them, which costs a sort of the whole backlog per claim.
            found = self._rows(
                "INDEXED BY deliveries_claim "
                "WHERE status = 'pending' AND sending_since IS NULL AND next_attempt_at <= ? "
                f"AND (expires_at IS NULL OR expires_at > ?){_not_in_rooms(skip_rooms)}{_not_held(held)} "
                "ORDER BY priority DESC, seq LIMIT 1",
                (now, now, *skip_rooms, *held))
            if found:
                self._db.execute("UPDATE deliveries SET sending_since = ? WHERE seq = ?", (now, found[0].seq))
        if finish is not None:
            self.unsynced += 1
            if not found or found[0].doubts or self.unsynced >= SYNC_EVERY_SENDS:
                self.sync()
        return found[0] if found else None

    def expire_and_claim(self, now: float, *, skip_rooms: Sequence[str] = (), finish: Finish | None = None,
                         held: Sequence[str] = ()) -> tuple[list[OutboxRow], OutboxRow | None]:
        """`expire_due`, then `claim`: the worker's usual step in one trip to the outbox thread."""
        return self.expire_due(now), self.claim(now, skip_rooms=skip_rooms, finish=finish, held=held)

    def pending_by_room(self) -> dict[str, int]:
        """Room key -> how many of its deliveries are not finished (what waits for an official bot)."""
        with self._errors():
            return dict(self._db.execute(
                "SELECT room_key, COUNT(*) FROM deliveries WHERE status = 'pending' GROUP BY room_key").fetchall())

    def claim_digest(self, now: float, *, skip_rooms: Sequence[str] = (), threshold: int, limit: int,
                     fit: Callable[[list[str]], int], held: Sequence[str] = (),
                     room: str | None = None, due_before: float | None = None) -> list[OutboxRow]:
        """Up to `limit` due deliveries of one room to send as one digest, marked as being sent together.

        Only when the delivery `claim` would return next is foldable (normal priority, a text, no
        mentions, no attachment) and more than `threshold` foldable deliveries of its room are due;
        `fit(texts)` says how many of them, oldest first, fit into one message. Otherwise (or when
        fewer than two fit) nothing is claimed and the caller claims one row as usual.

        `room` and `due_before`: the release of a quiet window: the foldable rows of `room` that
        were due before the window ended, when no `priority: high` row is due before them.
        """
        due = ("status = 'pending' AND sending_since IS NULL AND next_attempt_at <= ? "
               "AND (expires_at IS NULL OR expires_at > ?)")
        foldable = (" AND priority = 0 AND text IS NOT NULL AND room_key = ? AND (extras IS NULL OR ("
                    "json_extract(extras, '$.mentions') IS NULL AND json_extract(extras, '$.attachment') IS NULL "
                    "AND json_extract(extras, '$.text_sent') IS NULL))")
        if due_before is not None:
            foldable += f" AND next_attempt_at < {float(due_before)!r}"
        with self._transaction():
            head = self._rows(f"INDEXED BY deliveries_claim WHERE {due}{_not_in_rooms(skip_rooms)}{_not_held(held)} "
                              "ORDER BY priority DESC, seq LIMIT 1",
                              (now, now, *skip_rooms, *held))
            if not head or head[0].priority != 0 or (room is None and not head[0].foldable):
                return []
            room = room or head[0].room_key
            count = self._db.execute(f"SELECT COUNT(*) FROM deliveries WHERE {due}{foldable}",
                                     (now, now, room)).fetchone()[0]
            if count <= threshold:
                return []
            rows = self._rows(f"WHERE {due}{foldable} ORDER BY seq LIMIT ?", (now, now, room, limit))
            taken = rows[:fit([r.text or "" for r in rows])]
            if len(taken) < 2:
                return []
            self._db.executemany("UPDATE deliveries SET sending_since = ? WHERE seq = ?",
                                 [(now, r.seq) for r in taken])
        return taken

    def drop_quiet(self, now: float, rooms: Mapping[str, str]) -> list[OutboxRow]:
        """Finish as `dropped` the normal deliveries due now in `rooms` (inside a quiet window that
        says `then: drop`; the value names the window); returns them."""
        if not rooms:
            return []
        due = ("WHERE status = 'pending' AND sending_since IS NULL AND priority = 0 AND next_attempt_at <= ? "
               "AND room_key = ? ORDER BY seq")
        with self._errors():
            if not any(self._rows(due + " LIMIT 1", (now, room)) for room in rooms):
                return []
        dropped: list[OutboxRow] = []
        with self._transaction():
            for room, window in rooms.items():
                rows = self._rows(due, (now, room))
                self._db.executemany("UPDATE deliveries SET status = 'dropped', finished_at = ?, error = ? "
                                     "WHERE seq = ?", [(now, endings.quiet_hours(window), r.seq) for r in rows])
                dropped.extend(rows)
        return [_replace_status(r, "dropped", now, endings.quiet_hours(rooms[r.room_key])) for r in dropped]

    def mark_delivered_many(self, seqs: Sequence[int], *, now: float, room: RoomRef, digest: str) -> None:
        """Deliveries sent together as one digest: all delivered in one transaction, each naming it."""
        with self._transaction():
            for row in self._rows(f"WHERE seq IN ({', '.join('?' * len(seqs))}) AND status = 'pending'",
                                  tuple(seqs)):
                self._db.execute(
                    "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, sending_since = NULL, "
                    "finished_at = ?, room_id = ?, room_topic = ?, error = NULL, extras = ? WHERE seq = ?",
                    (now, room.id, room.topic, replace(row.extras, digest=digest).to_json(), row.seq))

    def mark_delivered(self, seq: int, *, now: float, room: RoomRef) -> None:
        self.finish(Finish(seq=seq, status="delivered", now=now, room=room))

    def mark_finished(self, seq: int, status: Literal["failed", "rejected"], *, now: float, room: RoomRef,
                      error: str, attempted: bool) -> None:
        self.finish(Finish(seq=seq, status=status, now=now, room=room, error=error, attempted=attempted))

    def finish(self, outcome: Finish) -> None:
        """Commit a send's outcome on its own (see `claim` for committing it with the next claim)."""
        with self._transaction():
            self._finish_row(outcome)

    def mark_text_sent(self, seq: int) -> None:
        """The text of a delivery with an attachment went out: a retry must not send it again."""
        with self._transaction():
            row = self._rows("WHERE seq = ?", (seq,))
            if row:
                extras = replace(row[0].extras, text_sent=True).to_json()
                self._db.execute("UPDATE deliveries SET extras = ? WHERE seq = ?", (extras, seq))

    def mark_retry(self, seq: int, *, error: str, retry_at: float, attempted: bool = True) -> None:
        """Back to pending until `retry_at`; `attempted` False (WeChat unreachable) spends no attempt."""
        with self._transaction():
            self._db.execute(
                "UPDATE deliveries SET attempts = attempts + ?, sending_since = NULL, next_attempt_at = ?, error = ? "
                "WHERE seq = ? AND status = 'pending'", (int(attempted), retry_at, error, seq))

    def _finish_row(self, f: Finish) -> None:
        """Within a transaction; a row already finished is left as it is. A `note` joins the row's extras."""
        self._db.execute(
            "UPDATE deliveries SET status = ?, attempts = attempts + ?, sending_since = NULL, finished_at = ?, "
            "room_id = ?, room_topic = ?, error = ?, "
            # A note already there (a timer that fired late) stays, the new one after it.
            "extras = CASE WHEN ? IS NULL THEN extras ELSE json_set(COALESCE(extras, '{}'), '$.note', "
            "COALESCE(json_extract(extras, '$.note') || '; ', '') || ?) END "
            "WHERE seq = ? AND status = 'pending'",
            (f.status, int(f.attempted), f.now, f.room.id, f.room.topic, f.error, f.note, f.note, f.seq))

    def expire_due(self, now: float) -> list[OutboxRow]:
        """Finish as `expired` every waiting delivery past its `expires_at`; returns them."""
        due = "WHERE status = 'pending' AND sending_since IS NULL AND expires_at <= ? ORDER BY seq"
        with self._errors():
            if not self._rows(due + " LIMIT 1", (now,)):
                return []  # the usual case, checked on every worker step: no write transaction for it
        with self._transaction():
            rows = self._rows(due, (now,))
            for row in rows:
                assert row.expires_at is not None
                error = endings.expired(waited=row.expires_at - row.created_at, attempts=row.attempts,
                                        last_error=row.error)
                self._db.execute("UPDATE deliveries SET status = 'expired', finished_at = ?, error = ? WHERE seq = ?",
                                 (now, error, row.seq))
        return [_replace_status(r, "expired", now) for r in rows]

    def next_wakeup(self, *, skip_rooms: Sequence[str] = (),
                    held: Sequence[str] = ()) -> tuple[float | None, float | None]:
        """(earliest next attempt outside `skip_rooms` and the held normal rows, earliest expiry)
        among waiting deliveries."""
        with self._errors():
            attempt = self._db.execute(
                "SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending' AND sending_since IS NULL"
                f"{_not_in_rooms(skip_rooms)}{_not_held(held)}", (*skip_rooms, *held)).fetchone()[0]
            expiry = self._db.execute(
                "SELECT MIN(expires_at) FROM deliveries "
                "WHERE status = 'pending' AND expires_at IS NOT NULL AND sending_since IS NULL").fetchone()[0]
        return attempt, expiry


def _not_in_rooms(rooms: Sequence[str]) -> str:
    """A `room_key NOT IN (?, ...)` condition for `rooms` (nothing when empty)."""
    return f" AND room_key NOT IN ({', '.join('?' * len(rooms))})" if rooms else ""


def _not_held(rooms: Sequence[str]) -> str:
    """A condition leaving out the normal rows of `rooms` (inside their quiet hours)."""
    return f" AND NOT (priority = 0 AND room_key IN ({', '.join('?' * len(rooms))}))" if rooms else ""


def _replace_status(row: OutboxRow, status: RowStatus, now: float, error: str | None = None) -> OutboxRow:
    return replace(row, status=status, finished_at=now, error=error or row.error)
