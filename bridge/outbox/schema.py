"""The outbox's main tables (events, deliveries, throttle), its schema version, and the columns
added since schema 1. The tables of routes' state and of the fallback are in `state` and
`fallback_ledger`; `store.Outbox.open` creates them all.
"""

from __future__ import annotations

import sqlite3

#: 2: `extras` (mentions, attachment, what was sent so far) and `priority`; `throttle`.
#: 3: `doubts`, how many sends of the row ended in doubt.
#: 4: `route_state` and `timers` (`bridge.outbox.state`): new tables only, created if missing.
#: 5: the fallback's tables (`bridge.outbox.fallback_ledger`); created in older databases as they open.
SCHEMA_VERSION = 5
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id           INTEGER PRIMARY KEY,
    key          TEXT    NOT NULL,
    by_content   INTEGER NOT NULL,
    event_id     TEXT    NOT NULL,
    accepted_at  REAL    NOT NULL,
    awaiting_ack INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_key ON events (key, accepted_at);
CREATE TABLE IF NOT EXISTS deliveries (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT    NOT NULL,
    route           TEXT,
    source_topic    TEXT    NOT NULL,
    room_key        TEXT    NOT NULL,
    text            TEXT,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL,
    backoff         REAL    NOT NULL,
    max_backoff     REAL    NOT NULL,
    created_at      REAL    NOT NULL,
    expires_at      REAL,
    next_attempt_at REAL    NOT NULL,
    sending_since   REAL,
    finished_at     REAL,
    room_id         TEXT,
    room_topic      TEXT,
    error           TEXT,
    reported_at     REAL,
    extras          TEXT,
    priority        INTEGER NOT NULL DEFAULT 0,
    doubts          INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS throttle (
    scope       TEXT    PRIMARY KEY,
    event_id    TEXT    NOT NULL,
    passed_at   REAL    NOT NULL,
    until       REAL    NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_claim ON deliveries (priority DESC, seq) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_expiring ON deliveries (expires_at)
    WHERE status = 'pending' AND expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS deliveries_unreported ON deliveries (seq)
    WHERE reported_at IS NULL AND status != 'pending';
CREATE INDEX IF NOT EXISTS deliveries_finished ON deliveries (finished_at) WHERE reported_at IS NOT NULL;
"""


def add_missing_columns(db: sqlite3.Connection) -> None:
    """Columns added since schema 1, for databases created before them (CREATE TABLE IF NOT EXISTS
    leaves an existing table as it is)."""
    have = {row[1] for row in db.execute("PRAGMA table_info(deliveries)")}
    for column, declaration in (("extras", "TEXT"), ("priority", "INTEGER NOT NULL DEFAULT 0"),
                                ("doubts", "INTEGER NOT NULL DEFAULT 0")):
        if column not in have:
            db.execute(f"ALTER TABLE deliveries ADD COLUMN {column} {declaration}")
