"""The fallback's ledger in the outbox (`bridge.outbox_fallback`) on a temporary database."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.events import Delivery, DeliveryPolicy, FallbackMode, FallbackOutcome, Queued, RoomRef
from bridge.fallback.rules import IN_DOUBT_TWICE, STOPPED_DURING_SEND
from bridge.outbox.fallback_records import Alert, OutageRecord
from bridge.outbox.records import Arrival, Finish, IdempotencyKey
from bridge.outbox.schema import SCHEMA_VERSION
from bridge.outbox.sending import MAX_DOUBTS
from bridge.outbox.store import Outbox

T0 = 1_700_000_000.0
OPS = RoomRef("ops", "ops@chatroom", "Ops")
NORMAL = DeliveryPolicy(attempts=1, backoff=1.0, max_backoff=1.0)
HIGH = DeliveryPolicy(attempts=1, backoff=1.0, max_backoff=1.0, priority=1)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite3"


@pytest.fixture
def outbox(path: Path) -> Iterator[Outbox]:
    box = Outbox.open(path, fallback_on=True, forward_failed=True)
    yield box
    box.close()


def store(box: Outbox, event_id: str, *, policy: DeliveryPolicy = NORMAL, mode: FallbackMode = "default",
          at: float = T0) -> None:
    queued = Queued(delivery=Delivery(event_id=event_id, route="r", source_topic="t/x", room_key="ops",
                                      text=f"text {event_id}", created_at=at), policy=policy, fallback=mode)
    box.accept([Arrival(key=IdempotencyKey(f"id:{event_id}", False), dup=False, needs_ack=True, outcomes=(queued,),
                        received_at=at)], now=at)


def finish(box: Outbox, status: str, at: float) -> int:
    row = box.claim(at)
    assert row is not None
    box.finish(Finish(seq=row.seq, status=status, now=at, room=OPS, error=None if status == "delivered" else "no"))  # type: ignore[arg-type]
    return row.seq


def test_a_high_priority_delivery_is_escalated_once_after_priority_after(outbox: Outbox) -> None:
    store(outbox, "h", policy=HIGH)
    store(outbox, "n")
    assert outbox.plan_fallback(T0 + 1, priority_after=2, forward_failed=True) == 0
    assert outbox.next_escalation(priority_after=2) == T0 + 2
    assert outbox.plan_fallback(T0 + 2, priority_after=2, forward_failed=True) == 1
    assert outbox.plan_fallback(T0 + 3, priority_after=2, forward_failed=True) == 0  # one per delivery
    send = outbox.claim_fallback(T0 + 3)
    assert send is not None and (send.kind, send.event_id, send.body, send.tries) == ("priority", "h", "text h", 0)
    assert outbox.claim_fallback(T0 + 3) is None  # being sent: not claimed twice
    assert outbox.next_escalation(priority_after=2) is None


def test_the_report_waits_for_the_fallback_and_then_carries_both_outcomes(outbox: Outbox) -> None:
    store(outbox, "h", policy=HIGH)
    outbox.plan_fallback(T0 + 5, priority_after=2, forward_failed=True)
    seq = finish(outbox, "delivered", T0 + 6)
    assert outbox.unreported() == []  # WeChat has it, the fallback is still pending: one report, later
    send = outbox.claim_fallback(T0 + 6)
    assert send is not None
    outbox.fallback_sent(send.id, now=T0 + 7, via=["ntfy", "mailto"])
    [row] = outbox.unreported()
    assert row.seq == seq and outbox.fallback_outcomes([seq]) == {
        seq: FallbackOutcome("sent", ("ntfy", "mailto"), T0 + 7)}


def test_a_failed_delivery_waits_for_its_forward_but_never_routes_do_not(outbox: Outbox) -> None:
    store(outbox, "f")
    store(outbox, "q", mode="never")
    finish(outbox, "failed", T0 + 1)
    finish(outbox, "failed", T0 + 1)
    assert [r.event_id for r in outbox.unreported()] == ["q"]
    assert outbox.plan_fallback(T0 + 2, priority_after=60, forward_failed=True) == 1
    send = outbox.claim_fallback(T0 + 2)
    assert send is not None and (send.kind, send.event_id) == ("failed", "f")
    outbox.fallback_not_sent(send.id, now=T0 + 3, error="every fallback URL failed (json)", in_doubt=False,
                             retry_at=None)
    assert sorted(r.event_id for r in outbox.unreported()) == ["f", "q"]
    assert list(outbox.fallback_outcomes([r.seq for r in outbox.unreported()]).values()) == [
        FallbackOutcome("failed", (), T0 + 3)]


def test_without_the_fallback_nothing_is_held(path: Path) -> None:
    box = Outbox.open(path)
    try:
        store(box, "f")
        finish(box, "failed", T0 + 1)
        assert [r.event_id for r in box.unreported()] == ["f"]
    finally:
        box.close()


def test_an_always_route_is_planned_as_it_is_stored(outbox: Outbox) -> None:
    store(outbox, "a", mode="always")
    send = outbox.claim_fallback(T0)
    assert send is not None and (send.kind, send.event_id, send.room_key, send.body) == ("always", "a", "ops",
                                                                                          "text a")


def test_a_try_that_failed_waits_for_its_retry(outbox: Outbox) -> None:
    store(outbox, "a", mode="always")
    send = outbox.claim_fallback(T0)
    assert send is not None
    outbox.fallback_not_sent(send.id, now=T0, error="every fallback URL failed (json)", in_doubt=False,
                             retry_at=T0 + 20)
    assert outbox.claim_fallback(T0 + 19) is None and outbox.next_fallback_attempt() == T0 + 20
    again = outbox.claim_fallback(T0 + 20)
    assert again is not None and (again.tries, again.doubts, again.error) == (1, 0, "every fallback URL failed (json)")


def test_a_send_under_way_at_a_crash_is_sent_once_more_then_never(path: Path) -> None:
    box = Outbox.open(path, fallback_on=True)
    store(box, "a", mode="always")
    assert box.claim_fallback(T0) is not None
    box.close()  # as if killed: the claim is on disk, the outcome is not
    for attempt, expected in ((1, "pending"), (2, "failed")):
        box = Outbox.open(path, fallback_on=True)
        try:
            [send] = box.recover_fallback(T0 + attempt, max_doubts=MAX_DOUBTS, given_up=IN_DOUBT_TWICE,
                                          stopped=STOPPED_DURING_SEND)
            assert (send.status, send.doubts) == (expected, attempt)
            if expected == "pending":
                assert box.claim_fallback(T0 + attempt) is not None
            else:
                assert send.error == IN_DOUBT_TWICE and box.claim_fallback(T0 + 9) is None
        finally:
            box.close()


def test_the_outage_and_its_alert_are_stored_together(outbox: Outbox) -> None:
    assert outbox.outage() is None
    outbox.save_outage(OutageRecord(T0))
    record = OutageRecord(T0, alerted_at=T0 + 5)
    outbox.save_outage(record, alert=Alert(kind="logout", title="WeChat is logged out", body="since ...",
                                           created_at=T0 + 5, attachment=b"\x89PNG"))
    assert outbox.outage() == record
    send = outbox.claim_fallback(T0 + 5)
    assert send is not None and (send.kind, send.seq, send.title, send.attachment) == (
        "logout", None, "WeChat is logged out", b"\x89PNG")
    outbox.save_outage(None)
    assert outbox.outage() is None
    outbox.fallback_sent(send.id, now=T0 + 6, via=["json"])
    assert outbox.fallback_stats().sent == 1


def test_prune_keeps_the_sends_of_rows_still_kept(outbox: Outbox) -> None:
    store(outbox, "a", mode="always")
    send = outbox.claim_fallback(T0)
    assert send is not None
    outbox.fallback_sent(send.id, now=T0, via=["json"])
    finish(outbox, "delivered", T0)
    outbox.prune(T0 + 100, keep_finished=10)
    assert outbox.fallback_stats().sent == 1  # its delivery is not reported yet, so it is kept
    outbox.mark_reported([r.seq for r in outbox.unreported()], now=T0)
    outbox.prune(T0 + 100, keep_finished=10)
    assert outbox.fallback_stats().sent == 0


def test_a_database_of_schema_3_gets_the_fallback_tables_and_keeps_its_rows(path: Path) -> None:
    box = Outbox.open(path)
    store(box, "old", policy=HIGH)
    box.close()
    db = sqlite3.connect(path)
    for table in ("fallback_sends", "fallback_never", "fallback_outage"):
        db.execute(f"DROP TABLE {table}")
    db.execute("PRAGMA user_version=3")
    db.commit()
    db.close()
    reopened = Outbox.open(path, fallback_on=True)
    try:
        assert reopened._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
        assert reopened.plan_fallback(T0 + 200, priority_after=120, forward_failed=False) == 1
        send = reopened.claim_fallback(T0 + 200)
        assert send is not None and send.event_id == "old"
    finally:
        reopened.close()
