"""The outbox's tables for routes' state: the last `changed` value and the `for` timer of each key.

Run only by `bridge.outbox`, inside its transactions, on its connection (this module imports no
database driver: it is handed the connection): a decision about an event's state is committed
with the event itself, so a crash keeps both or neither.

    route_state  per route and key: the last `changed` value seen, and when
    timers       per route and key: the `for` timer, armed (`fired_at` NULL) or fired (the
                 condition still holds; kept until a `when`-false event ends the period)

A timer armed by an event holds that event's reports: they come when it fires (the deliveries,
rendered from the latest message kept) or when a `when`-false event cancels it (`dropped`).
The rules and the sentences are `bridge.admission`'s; this module stores and queries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from bridge.events import DeliveryReport, HeldMessage, StateMark
from bridge.outbox import admission
from bridge.outbox.records import Armed, Holding, LastValue, StateVerdict, Timer

SCHEMA = """
CREATE TABLE IF NOT EXISTS route_state (
    scope       TEXT    PRIMARY KEY,
    value       TEXT    NOT NULL,
    seen_at     REAL    NOT NULL
);
CREATE TABLE IF NOT EXISTS timers (
    scope       TEXT    PRIMARY KEY,
    route       TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    since       REAL    NOT NULL,
    due_at      REAL    NOT NULL,
    fired_at    REAL,
    topic       TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    received_at REAL    NOT NULL,
    rooms       TEXT    NOT NULL,
    hold        REAL    NOT NULL,
    version     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS timers_due ON timers (due_at) WHERE fired_at IS NULL;
"""

_TIMER_COLUMNS = "route, key, event_id, since, due_at, fired_at, topic, payload, received_at, rooms, hold, version"


class _Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Sql(Protocol):
    """The outbox's connection, as far as this module uses it."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> _Cursor: ...


class StateDecision:
    """What the outbox decided for one event's state mark, inside the transaction that stores it."""

    __slots__ = ("ended", "verdict")

    def __init__(self, verdict: StateVerdict | None, ended: list[DeliveryReport]) -> None:
        #: Unchanged / Holding: its deliveries end dropped; Armed: they wait for the timer; None: they go.
        self.verdict = verdict
        #: The reports of an earlier event whose timer this event cancelled.
        self.ended = ended


def decide(db: Sql, mark: StateMark, event_id: str, now: float) -> StateDecision:
    """Remember the event's value and act on its key's timer; see the module docstring."""
    row = db.execute("SELECT value, seen_at FROM route_state WHERE scope = ?", (mark.scope,)).fetchone()
    verdict: StateVerdict | None = admission.unchanged(mark, LastValue(*row) if row is not None else None)
    if mark.value is not None:
        db.execute("INSERT OR REPLACE INTO route_state (scope, value, seen_at) VALUES (?, ?, ?)",
                   (mark.scope, mark.value, now))
    ended: list[DeliveryReport] = []
    if mark.hold is None:  # no `for`, or an event that says nothing of it (rejected)
        return StateDecision(verdict, ended)
    timer = find_timer(db, mark.scope)
    if not mark.holds:
        if timer is not None:
            db.execute("DELETE FROM timers WHERE scope = ?", (mark.scope,))
            if timer.fired_at is None:
                ended = admission.cancelled(timer, now)
        return StateDecision(verdict, ended)
    if timer is not None:
        if timer.fired_at is None and mark.message is not None:
            # The latest payload is what the message is rendered from when the timer fires.
            db.execute("UPDATE timers SET topic = ?, payload = ?, received_at = ?, version = version + 1 "
                       "WHERE scope = ?", (mark.message.topic, mark.message.payload, mark.message.received_at,
                                           mark.scope))
        if verdict is None and mark.fires:
            verdict = Armed(timer) if timer.event_id == event_id else Holding(timer)
        return StateDecision(verdict, ended)
    if mark.fires and verdict is None and mark.message is not None:
        since = mark.message.received_at
        armed = Timer(route=mark.route, key=mark.key, event_id=event_id, since=since, due_at=since + mark.hold,
                      fired_at=None, message=mark.message, rooms=mark.rooms, hold=mark.hold)
        db.execute(f"INSERT INTO timers (scope, {_TIMER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                   (mark.scope, armed.route, armed.key, armed.event_id, armed.since, armed.due_at, None,
                    armed.message.topic, armed.message.payload, armed.message.received_at,
                    json.dumps(list(armed.rooms)), armed.hold))
        verdict = Armed(armed)
    return StateDecision(verdict, ended)


def find_timer(db: Sql, scope: str) -> Timer | None:
    row = db.execute(f"SELECT {_TIMER_COLUMNS} FROM timers WHERE scope = ?", (scope,)).fetchone()
    return _timer(row) if row is not None else None


def due_timers(db: Sql, now: float) -> list[Timer]:
    """Armed timers that have run out, earliest first."""
    rows = db.execute(f"SELECT {_TIMER_COLUMNS} FROM timers WHERE fired_at IS NULL AND due_at <= ? "
                      "ORDER BY due_at", (now,)).fetchall()
    return [_timer(row) for row in rows]


def next_due(db: Sql) -> float | None:
    """When the earliest armed timer runs out."""
    found = db.execute("SELECT MIN(due_at) FROM timers WHERE fired_at IS NULL").fetchone()[0]
    return float(found) if found is not None else None


def mark_fired(db: Sql, timer: Timer, now: float) -> bool:
    """The timer fired, if it is still the one `timer` was read as (not cancelled, not newer)."""
    scope = f"{timer.route}\0{timer.key}"
    current = find_timer(db, scope)
    if current is None or current.fired_at is not None or current.version != timer.version \
            or current.event_id != timer.event_id:
        return False
    db.execute("UPDATE timers SET fired_at = ? WHERE scope = ?", (now, scope))
    return True


def _timer(row: Any) -> Timer:
    route, key, event_id, since, due_at, fired_at, topic, payload, received_at, rooms, hold, version = row
    return Timer(route=route, key=key, event_id=event_id, since=since, due_at=due_at, fired_at=fired_at,
                 message=HeldMessage(topic, bytes(payload),
                                     received_at), rooms=tuple(json.loads(rooms)), hold=hold, version=version)
