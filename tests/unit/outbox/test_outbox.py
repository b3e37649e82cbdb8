"""The outbox on a temporary database: store, claim, mark, deduplicate, resume, batch."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.errors import OutboxError
from bridge.events import Delivery, DeliveryPolicy, Queued, Rejected, RoomRef
from bridge.outbox.records import Accepted, Arrival, Duplicate, Finish, IdempotencyKey
from bridge.outbox.store import Outbox

T0 = 1_700_000_000.0
WINDOW = 3600.0
POLICY = DeliveryPolicy(attempts=3, backoff=2.0, max_backoff=60.0)
OPS = RoomRef("ops", "ops@chatroom", "Ops")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "outbox.sqlite3"


@pytest.fixture
def outbox(path: Path) -> Iterator[Outbox]:
    box = Outbox.open(path, idempotency_window=WINDOW, max_pending=100)
    yield box
    box.close()


def arrival(event_id: str, *, rooms: tuple[str, ...] = ("ops",), key: str | None = None, by_content: bool = False,
            dup: bool = False, at: float = T0, policy: DeliveryPolicy = POLICY, qos: int = 1) -> Arrival:
    deliveries = tuple(Queued(delivery=Delivery(event_id=event_id, route="r", source_topic="t/x", room_key=room,
                                                text=f"text {event_id}", created_at=at), policy=policy)
                       for room in rooms)
    return Arrival(key=IdempotencyKey(key or f"id:{event_id}", by_content), dup=dup, needs_ack=qos > 0,
                   outcomes=deliveries, received_at=at)


def rejected(event_id: str, at: float = T0) -> Arrival:
    return Arrival(key=IdempotencyKey(f"id:{event_id}", False), dup=False, needs_ack=True,
                   outcomes=(Rejected(event_id=event_id, route="r", topic="t/x", room_key="ops",
                                      error="bad payload"),), received_at=at)


def test_accepted_rows_are_claimed_oldest_first_and_reported_once(outbox: Outbox) -> None:
    [a, b] = outbox.accept([arrival("e1", rooms=("ops", "family")), arrival("e2")], now=T0)
    assert isinstance(a, Accepted) and (a.rows, b.rows) == (2, 1)  # type: ignore[union-attr]
    first = outbox.claim(T0)
    assert first is not None and (first.event_id, first.room_key, first.text) == ("e1", "ops", "text e1")
    outbox.mark_delivered(first.seq, now=T0 + 1, room=OPS)
    claimed = [outbox.claim(T0 + 1), outbox.claim(T0 + 1), outbox.claim(T0 + 1)]
    assert [(r.event_id, r.room_key) if r else None for r in claimed] == [("e1", "family"), ("e2", "ops"), None]

    [unreported] = outbox.unreported()
    report = unreported.report()
    assert (report.id, report.status, report.room, report.error, report.ts) == ("e1", "delivered", OPS, None, T0 + 1)
    outbox.mark_reported([unreported.seq], now=T0 + 2)
    assert outbox.unreported() == []


def test_a_row_being_sent_is_not_claimed_twice(outbox: Outbox) -> None:
    outbox.accept([arrival("e1")], now=T0)
    assert outbox.claim(T0) is not None
    assert outbox.claim(T0) is None


def test_rejections_are_stored_finished_and_wait_for_their_report(outbox: Outbox) -> None:
    outbox.accept([rejected("bad-1")], now=T0)
    assert outbox.claim(T0) is None
    [row] = outbox.unreported()
    assert (row.status, row.error) == ("rejected", "bad payload")


def test_retry_waits_for_its_time_and_counts_attempts(outbox: Outbox) -> None:
    outbox.accept([arrival("e1")], now=T0)
    row = outbox.claim(T0)
    assert row is not None
    outbox.mark_retry(row.seq, error="boom", retry_at=T0 + 2)
    assert outbox.claim(T0 + 1) is None
    assert outbox.next_wakeup() == (T0 + 2, None)
    again = outbox.claim(T0 + 2)
    assert again is not None and (again.attempts, again.error) == (1, "boom")
    # WeChat unreachable: back to waiting without spending an attempt.
    outbox.mark_retry(again.seq, error="not logged in", retry_at=T0 + 3, attempted=False)
    third = outbox.claim(T0 + 3)
    assert third is not None and third.attempts == 1
    outbox.mark_finished(third.seq, "failed", now=T0 + 4, room=OPS, error="gave up", attempted=True)
    [done] = outbox.unreported()
    assert (done.status, done.attempts, done.error) == ("failed", 2, "gave up")


def test_policy_backoff_doubles_up_to_its_cap() -> None:
    policy = DeliveryPolicy(attempts=10, backoff=2.0, max_backoff=10.0)
    assert [policy.retry_delay(n) for n in range(1, 6)] == [2.0, 4.0, 8.0, 10.0, 10.0]


def test_expired_rows_end_expired_with_the_last_error(outbox: Outbox) -> None:
    short = DeliveryPolicy(attempts=3, backoff=1.0, max_backoff=1.0, expire_after=600.0)
    outbox.accept([arrival("e1", policy=short), arrival("e2")], now=T0)
    row = outbox.claim(T0)
    assert row is not None
    outbox.mark_retry(row.seq, error="boom", retry_at=T0 + 1)
    assert outbox.next_wakeup() == (T0, T0 + 600)
    assert outbox.expire_due(T0 + 599) == []
    [gone] = outbox.expire_due(T0 + 600)
    assert (gone.event_id, gone.status) == ("e1", "expired")
    [stored] = [r for r in outbox.unreported() if r.event_id == "e1"]
    assert stored.status == "expired"
    assert stored.error == "not delivered within 10m (expire_after) after 1 attempt(s); last error: boom"
    assert outbox.claim(T0 + 700) is not None  # e2 has no expiry
    assert outbox.claim(T0 + 700) is None


def test_payload_id_is_an_idempotency_key_within_the_window(outbox: Outbox) -> None:
    [first] = outbox.accept([arrival("e1")], now=T0)
    [again] = outbox.accept([arrival("e1")], now=T0 + 10)
    assert isinstance(first, Accepted)
    assert isinstance(again, Duplicate) and again.event_id == "e1"
    # Within one batch too.
    results = outbox.accept([arrival("e2"), arrival("e2")], now=T0 + 20)
    assert [type(r) for r in results] == [Accepted, Duplicate]
    # Past the window it is a new event.
    [later] = outbox.accept([arrival("e1")], now=T0 + WINDOW + 11)
    assert isinstance(later, Accepted)
    assert outbox.stats(T0).depth == 3


def test_content_key_only_matches_a_redelivery_of_an_unacknowledged_copy(outbox: Outbox) -> None:
    key = "content:abc"
    [first] = outbox.accept([arrival("g1", key=key, by_content=True)], now=T0)
    assert isinstance(first, Accepted)
    # Same content without the DUP flag: the producer said it again, a new event.
    [second] = outbox.accept([arrival("g2", key=key, by_content=True)], now=T0 + 1)
    assert isinstance(second, Accepted)
    # The broker redelivers (DUP) one we stored but never acknowledged: a duplicate...
    [redelivered] = outbox.accept([arrival("g3", key=key, by_content=True, dup=True)], now=T0 + 2)
    assert isinstance(redelivered, Duplicate) and redelivered.event_id == "g1"
    # ...each stored copy matches one redelivery...
    [again] = outbox.accept([arrival("g4", key=key, by_content=True, dup=True)], now=T0 + 3,
                            acknowledged=[second.event_row])
    # ...and once a copy's acknowledgement is recorded, a DUP message with that content is new.
    assert isinstance(again, Accepted)
    outbox.record_acks([again.event_row])
    [fresh] = outbox.accept([arrival("g5", key=key, by_content=True, dup=True)], now=T0 + 4)
    assert isinstance(fresh, Accepted)


def test_qos0_messages_are_never_awaiting_an_ack(outbox: Outbox) -> None:
    outbox.accept([arrival("q1", key="content:q", by_content=True, qos=0)], now=T0)
    [result] = outbox.accept([arrival("q2", key="content:q", by_content=True, dup=True)], now=T0 + 1)
    assert isinstance(result, Accepted)


def test_a_burst_is_one_commit(outbox: Outbox) -> None:
    before = outbox.commits
    results = outbox.accept([arrival(f"e{i}") for i in range(80)], now=T0)
    assert len(results) == 80 and outbox.commits == before + 1
    assert outbox.stats(T0).depth == 80


def test_a_send_outcome_and_the_next_claim_are_one_commit(outbox: Outbox) -> None:
    outbox.accept([arrival("e1"), arrival("e2")], now=T0)
    first = outbox.claim(T0)
    assert first is not None
    before = outbox.commits
    second = outbox.claim(T0 + 1, finish=Finish(seq=first.seq, status="delivered", now=T0 + 1, room=OPS))
    assert second is not None and second.event_id == "e2" and outbox.commits == before + 1
    [done] = outbox.unreported()
    assert (done.event_id, done.status, done.attempts, done.sending_since) == ("e1", "delivered", 1, None)
    # Nothing left to claim: the outcome is committed all the same.
    assert outbox.claim(T0 + 2, finish=Finish(seq=second.seq, status="failed", now=T0 + 2, room=OPS, error="no",
                                              attempted=True)) is None
    assert [(r.event_id, r.status, r.error) for r in outbox.unreported()] == [("e1", "delivered", None),
                                                                              ("e2", "failed", "no")]


def test_a_finish_is_applied_once(outbox: Outbox) -> None:
    outbox.accept([arrival("e1")], now=T0)
    row = outbox.claim(T0)
    assert row is not None
    outbox.finish(Finish(seq=row.seq, status="delivered", now=T0 + 1, room=OPS))
    outbox.finish(Finish(seq=row.seq, status="delivered", now=T0 + 5,
                         room=OPS))  # e.g. retried after an interrupted call
    [done] = outbox.unreported()
    assert (done.attempts, done.finished_at) == (1, T0 + 1)


def test_claims_follow_priority_then_age_in_a_large_backlog(outbox: Outbox) -> None:
    high = DeliveryPolicy(attempts=3, backoff=2.0, max_backoff=60.0, priority=1)
    outbox.accept([arrival(f"n{i}") for i in range(50)] + [arrival("h", policy=high)], now=T0)
    row = outbox.claim(T0)
    assert row is not None
    outbox.mark_retry(row.seq, error="x", retry_at=T0 + 60)  # not due: skipped, not blocking
    order = []
    while (row := outbox.claim(T0)) is not None:
        order.append(row.event_id)
    assert order == [f"n{i}" for i in range(50)]


def test_report_marks_do_not_leave_the_connection_without_full_sync(outbox: Outbox) -> None:
    outbox.accept([rejected("bad-1")], now=T0)
    [row] = outbox.unreported()
    outbox.mark_reported([row.seq], now=T0 + 1)
    assert outbox.unreported() == []
    assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL, for every later commit


def test_max_pending_rejects_beyond_the_limit(path: Path) -> None:
    box = Outbox.open(path, idempotency_window=WINDOW, max_pending=2)
    try:
        box.accept([arrival("e1"), arrival("e2"), arrival("e3")], now=T0)
        [row] = box.unreported()
        assert (row.event_id, row.status) == ("e3", "rejected")
        assert row.error == "the bridge already holds 2 undelivered messages (limits.max_queued)"
    finally:
        box.close()


def test_everything_survives_reopening_and_in_doubt_sends_are_recovered(path: Path) -> None:
    box = Outbox.open(path, idempotency_window=WINDOW)
    box.accept([arrival("e1"), arrival("e2"), arrival("e3")], now=T0)
    sending = box.claim(T0)
    delivered = box.claim(T0)
    assert sending is not None and delivered is not None
    box.mark_delivered(delivered.seq, now=T0, room=OPS)
    # Not closed: as after a crash. The lock is the process's; drop it as the OS would.
    box._db.close()
    assert box._lock is not None
    os.close(box._lock)

    reopened = Outbox.open(path, idempotency_window=WINDOW)
    try:
        [doubt] = reopened.recover()
        assert doubt.event_id == "e1"
        assert [r.event_id for r in reopened.unreported()] == ["e2"]
        claimed = [reopened.claim(T0), reopened.claim(T0), reopened.claim(T0)]
        assert [r.event_id if r else None for r in claimed] == ["e1", "e3", None]
        [dup] = reopened.accept([arrival("e3")], now=T0 + 1)
        assert isinstance(dup, Duplicate)
    finally:
        reopened.close()


def test_a_second_process_cannot_open_the_same_outbox(outbox: Outbox, path: Path) -> None:
    with pytest.raises(OutboxError, match="in use by another bridge process"):
        Outbox.open(path)


def test_stats_and_prune(outbox: Outbox) -> None:
    outbox.accept([arrival("e1"), arrival("e2"), rejected("bad")], now=T0)
    row = outbox.claim(T0)
    assert row is not None
    outbox.mark_delivered(row.seq, now=T0 + 1, room=OPS)
    stats = outbox.stats(T0 + 10)
    assert (stats.depth, stats.oldest_age, stats.sending, stats.unreported) == (1, 10.0, 0, 2)
    assert dict(stats.by_status) == {"pending": 1, "delivered": 1, "rejected": 1, "failed": 0, "expired": 0,
                                     "dropped": 0}
    assert str(stats).startswith("1 pending (oldest 10.0 s), 0 sending; 1 delivered, 1 rejected")
    outbox.mark_reported([r.seq for r in outbox.unreported()], now=T0 + 2)
    assert outbox.prune(T0 + 100, keep_finished=50) == (2, 0)  # reported rows go, the pending one stays
    assert outbox.prune(T0 + WINDOW + 1, keep_finished=50) == (0, 3)
    assert outbox.stats(T0).depth == 1


def test_a_send_in_doubt_goes_out_again_once_and_a_second_doubt_ends_it_failed(outbox: Outbox) -> None:
    outbox.accept([arrival("e1")], now=T0)
    first = outbox.claim(T0)
    assert first is not None and first.doubts == 0
    assert outbox.stats(T0).in_doubt == 0
    assert outbox.mark_in_doubt([first.seq], now=T0 + 1, retry_at=T0 + 2, error="the gateway did not answer") == []
    assert outbox.stats(T0 + 1).in_doubt == 1  # the status page and /metrics show it
    assert outbox.claim(T0 + 1) is None  # not before retry_at: the link reconnects first
    again = outbox.claim(T0 + 2)
    assert again is not None and (again.doubts, again.attempts, again.error) == (1, 0, "the gateway did not answer")
    [failed] = outbox.mark_in_doubt([again.seq], now=T0 + 3, retry_at=T0 + 4, error="the connection broke", room=OPS)
    assert outbox.claim(T0 + 10) is None
    report = failed.report()
    assert (report.status, report.room, report.ts) == ("failed", OPS, T0 + 3)
    assert report.error == ("in doubt twice (last: the connection broke): WeChat may show it once, twice or not at "
                            "all; not sent a third time")


def test_the_doubt_mark_survives_a_crash_so_a_row_is_resent_at_most_once(path: Path) -> None:
    box = Outbox.open(path, idempotency_window=WINDOW)
    box.accept([arrival("e1")], now=T0)
    row = box.claim(T0)
    assert row is not None
    box.mark_in_doubt([row.seq], now=T0, retry_at=T0, error="the gateway did not answer")
    assert box.claim(T0) is not None  # the one resend is under way when the bridge is killed
    box._db.close()
    assert box._lock is not None
    os.close(box._lock)

    reopened = Outbox.open(path, idempotency_window=WINDOW)
    try:
        [gone] = reopened.recover(T0 + 5)
        assert (gone.status, gone.doubts) == ("failed", 2)
        assert reopened.claim(T0 + 10) is None
        assert [(r.event_id, r.status) for r in reopened.unreported()] == [("e1", "failed")]
    finally:
        reopened.close()


def test_a_database_of_schema_2_gets_the_doubts_column(path: Path) -> None:
    import sqlite3

    box = Outbox.open(path, idempotency_window=WINDOW)
    box.accept([arrival("e1")], now=T0)
    box.close()
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE deliveries DROP COLUMN doubts")
    db.execute("PRAGMA user_version=2")
    db.commit()
    db.close()
    reopened = Outbox.open(path, idempotency_window=WINDOW)
    try:
        row = reopened.claim(T0)
        assert row is not None and (row.event_id, row.doubts) == ("e1", 0)
    finally:
        reopened.close()
