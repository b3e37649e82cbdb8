"""Flood control in the outbox: throttle scopes, priority claim order, paced rooms skipped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.events import Delivery, DeliveryPolicy, Queued, RoomRef, ThrottleMark
from bridge.outbox.records import Arrival, IdempotencyKey
from bridge.outbox.store import Outbox

T0 = 1_700_000_000.0
NORMAL = DeliveryPolicy(attempts=3, backoff=2.0, max_backoff=60.0)
HIGH = DeliveryPolicy(attempts=3, backoff=2.0, max_backoff=60.0, priority=1)


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox.open(tmp_path / "outbox.sqlite3", idempotency_window=3600.0, max_pending=100)
    yield box
    box.close()


def arrival(event_id: str, *, rooms: tuple[str, ...] = ("ops",), key: str | None = None,
            policy: DeliveryPolicy = NORMAL, at: float = T0) -> Arrival:
    mark = ThrottleMark("plugs", key, 300.0) if key is not None else None
    queued = tuple(Queued(delivery=Delivery(event_id=event_id, route="plugs", source_topic="t/x", room_key=room,
                                            text=f"text {event_id}", created_at=at), policy=policy, throttle=mark)
                   for room in rooms)
    return Arrival(key=IdempotencyKey(f"id:{event_id}", False), dup=False, needs_ack=True, outcomes=queued,
                   received_at=at)


def test_throttle_lets_one_event_per_key_and_period_through(outbox: Outbox) -> None:
    outbox.accept([arrival("e1", key="plug1", rooms=("ops", "family")), arrival("e2", key="plug2")], now=T0)
    outbox.accept([arrival("e3", key="plug1", rooms=("ops", "family"))], now=T0 + 12)
    outbox.accept([arrival("e4", key="plug1")], now=T0 + 301)
    dropped = [r for r in outbox.unreported() if r.status == "dropped"]
    assert [(r.event_id, r.room_key) for r in dropped] == [("e3", "ops"), ("e3", "family")]
    assert dropped[0].error == "throttled: an event with key 'plug1' was let through 12 s ago (route throttle 5m)"
    assert dropped[0].report().status == "dropped"
    claimed = []
    while (row := outbox.claim(T0 + 400)) is not None:
        claimed.append((row.event_id, row.room_key))
    assert claimed == [("e1", "ops"), ("e1", "family"), ("e2", "ops"), ("e4", "ops")]


def test_throttle_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    box = Outbox.open(path)
    box.accept([arrival("e1", key="plug1")], now=T0)
    box.close()
    box = Outbox.open(path)
    box.accept([arrival("e2", key="plug1")], now=T0 + 5)
    assert [r.status for r in box.unreported()] == ["dropped"]
    box.close()


def test_high_priority_is_claimed_before_older_normal_rows(outbox: Outbox) -> None:
    outbox.accept([arrival("n1"), arrival("n2"), arrival("h1", policy=HIGH), arrival("n3")], now=T0)
    order = []
    while (row := outbox.claim(T0)) is not None:
        order.append(row.event_id)
    assert order == ["h1", "n1", "n2", "n3"]


def test_paced_rooms_are_skipped_by_claim_and_next_wakeup(outbox: Outbox) -> None:
    outbox.accept([arrival("e1", rooms=("ops",)), arrival("e2", rooms=("family",))], now=T0)
    row = outbox.claim(T0, skip_rooms=("ops",))
    assert row is not None and row.room_key == "family"
    assert outbox.next_wakeup(skip_rooms=("ops",)) == (None, None)
    assert outbox.next_wakeup() == (T0, None)


def fit_all(texts: list[str]) -> int:
    return len(texts)


def test_claim_digest_folds_a_rooms_backlog_of_plain_normal_texts(outbox: Outbox) -> None:
    outbox.accept([arrival(f"e{i}") for i in range(5)], now=T0)
    assert outbox.claim_digest(T0, threshold=5, limit=20, fit=fit_all) == []  # 5 is not more than 5
    outbox.accept([arrival("e5"), arrival("f0", rooms=("family",))], now=T0)
    folded = outbox.claim_digest(T0, threshold=5, limit=4, fit=fit_all)
    assert [r.event_id for r in folded] == ["e0", "e1", "e2", "e3"]
    assert outbox.stats(T0).sending == 4
    assert outbox.claim_digest(T0, threshold=2, limit=4, fit=fit_all) == []  # only e4, e5 left for ops
    assert [r.event_id for r in outbox.claim_digest(T0, threshold=1, limit=4, fit=fit_all)] == ["e4", "e5"]
    assert outbox.claim_digest(T0, threshold=0, limit=20, fit=fit_all) == []  # f0 alone is no digest
    outbox.mark_delivered_many([r.seq for r in folded], now=T0 + 1, room=RoomRef("ops", "room-ops", "Ops"),
                               digest=str(folded[0].seq))
    reports = [r.report() for r in outbox.unreported()]
    assert [(r.id, r.status, r.digest) for r in reports] == [(f"e{i}", "delivered", str(folded[0].seq))
                                                             for i in range(4)]
    assert reports[0].room == RoomRef("ops", "room-ops", "Ops")


def test_claim_digest_leaves_high_priority_mentions_and_what_does_not_fit(outbox: Outbox) -> None:
    outbox.accept([arrival(f"e{i}") for i in range(6)] + [arrival("alarm", policy=HIGH)], now=T0)
    assert outbox.claim_digest(T0, threshold=2, limit=20, fit=fit_all) == []  # the alarm goes first
    alarm = outbox.claim(T0)
    assert alarm is not None and alarm.event_id == "alarm"
    mention = Queued(delivery=Delivery(event_id="m", route="plugs", source_topic="t/x", room_key="ops", text="hey",
                                       created_at=T0, mentions=("bob",)), policy=NORMAL)
    outbox.accept([Arrival(key=IdempotencyKey("id:m", False), dup=False, needs_ack=True, outcomes=(mention,),
                           received_at=T0)], now=T0)
    folded = outbox.claim_digest(T0, threshold=2, limit=20, fit=lambda texts: 2)
    assert [r.event_id for r in folded] == ["e0", "e1"]
    assert [r.event_id for r in outbox.claim_digest(T0, threshold=2, limit=20, fit=fit_all)] == ["e2", "e3", "e4", "e5"]
    assert outbox.claim_digest(T0, threshold=0, limit=20, fit=fit_all) == []  # only the mention is left
    assert outbox.claim_digest(T0, threshold=0, limit=20, fit=lambda texts: 1) == []
