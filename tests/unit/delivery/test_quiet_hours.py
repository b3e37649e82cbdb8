"""Quiet hours: windows on the bridge's wall clock (`TZ`, across midnight, daylight saving time),
and the claim that holds a room's normal rows inside one and folds them into one digest after it."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.config.models import DigestSettings, PacingSettings
from bridge.config.rooms import QuietHoursSettings, RoomSettings
from bridge.delivery.claim import DigestPlan, take
from bridge.delivery.pacing import Pace
from bridge.events import Delivery, DeliveryPolicy, Queued, RoomRef
from bridge.outbox.records import Arrival, IdempotencyKey
from bridge.outbox.store import Outbox
from bridge.pipeline.quiet_hours import QuietHours, inside, last_end, next_change

POLICY = DeliveryPolicy(attempts=3, backoff=2.0, max_backoff=60.0)
PLAN = DigestPlan(DigestSettings(), max_chars=4000)
FAMILY = RoomRef("family", "room-family@chatroom", "Happy Family")


@pytest.fixture
def zone(request: pytest.FixtureRequest) -> Iterator[None]:
    """The bridge's `TZ` for one test (the C library reads it, as in the bridge)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def window(start: str, end: str, then: str = "digest") -> QuietHoursSettings:
    return QuietHoursSettings.model_validate({"from": start, "to": end, "then": then})


@pytest.mark.parametrize("zone", ["Asia/Shanghai"], indirect=True)
def test_a_window_across_midnight_on_the_local_wall_clock(zone: None) -> None:
    night = window("22:30", "07:00")
    assert not inside(night, utc("2026-01-10T14:29:59"))  # 22:29:59 in Shanghai
    assert inside(night, utc("2026-01-10T14:30:00"))
    assert inside(night, utc("2026-01-10T22:59:59"))  # 06:59:59
    assert not inside(night, utc("2026-01-10T23:00:00"))
    assert next_change(night, utc("2026-01-10T15:00:00")) == utc("2026-01-10T23:00:00")
    assert next_change(night, utc("2026-01-10T23:00:00")) == utc("2026-01-11T14:30:00")
    assert last_end(night, utc("2026-01-11T01:00:00")) == utc("2026-01-10T23:00:00")


@pytest.mark.parametrize("zone", ["Europe/Berlin"], indirect=True)
def test_daylight_saving_time_moves_nothing_but_the_clock(zone: None) -> None:
    night = window("22:30", "07:00")
    # 29 March 2026: 02:00 CET becomes 03:00 CEST. The night is an hour shorter; it still ends at 07:00.
    assert next_change(night, utc("2026-03-28T22:00:00")) == utc("2026-03-29T05:00:00")
    # 25 October 2026: 03:00 CEST becomes 02:00 CET; 07:00 is then UTC+1.
    assert next_change(night, utc("2026-10-24T21:00:00")) == utc("2026-10-25T06:00:00")
    # A window ending inside the hour that does not exist ends when the clock jumps past it.
    short = window("01:00", "02:30")
    assert next_change(short, utc("2026-03-29T00:30:00")) == pytest.approx(utc("2026-03-29T01:00:00"), abs=0.5)


def put(box: Outbox, *texts: str, room: str = "family", priority: int = 0, at: float) -> None:
    policy = DeliveryPolicy(attempts=POLICY.attempts, backoff=POLICY.backoff, max_backoff=POLICY.max_backoff,
                            expire_after=None, priority=priority)
    def delivery(text: str) -> Delivery:
        return Delivery(event_id=f"{room}-{text}", route="r", source_topic="t", room_key=room, text=text, created_at=at)

    box.accept([Arrival(key=IdempotencyKey(f"{room}-{text}", by_content=False), dup=False, needs_ack=False,
                        received_at=at, outcomes=(Queued(delivery=delivery(text), policy=policy),))
                for text in texts], now=at)


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Outbox]:
    opened = Outbox.open(tmp_path / "outbox.sqlite3")
    yield opened
    opened.close()


@pytest.mark.parametrize("zone", ["UTC"], indirect=True)
def test_normal_rows_wait_inside_the_window_high_ones_go_and_the_end_sends_one_digest(zone: None,
                                                                                       box: Outbox) -> None:
    quiet = QuietHours.of({"family": RoomSettings(topic="Happy Family"), "ops": RoomSettings(topic="Ops")},
                          PacingSettings.model_validate({"quiet_hours": {"from": "23:00", "to": "07:00"}}))
    night = utc("2026-01-10T23:30:00")
    put(box, "washing machine done", "dryer done", at=night)
    put(box, "smoke!", priority=1, at=night)
    put(box, "ops note", room="ops", at=night)
    now = quiet.at(night)
    assert set(now.held) == {"family", "ops"}
    assert box.stats(night, held=now.held).held == 3
    taken = take(box, night, pace=Pace(claim=True), finish=None, digest=None, quiet=now, release=PLAN)
    assert taken.batch is not None and [r.text for r in taken.batch.rows] == ["smoke!"]
    box.mark_delivered(taken.batch.first.seq, now=night, room=FAMILY)
    assert take(box, night, pace=Pace(claim=True), finish=None, digest=None, quiet=now, release=PLAN).batch is None
    assert box.next_wakeup(held=now.held)[0] is None  # nothing wakes the worker but the window's end
    assert now.next_change == utc("2026-01-11T07:00:00")

    morning = utc("2026-01-11T07:00:00")
    put(box, "good morning", at=morning)  # due after the window: not part of its digest
    after = quiet.at(morning)
    assert after.held == () and after.released == {"family": morning, "ops": morning}
    first = take(box, morning, pace=Pace(claim=True), finish=None, digest=None, quiet=after, release=PLAN)
    assert first.batch is not None and first.batch.digest
    assert [r.text for r in first.batch.rows] == ["washing machine done", "dryer done"]
    box.mark_delivered_many([r.seq for r in first.batch.rows], now=morning, room=FAMILY, digest="1")
    single = take(box, morning, pace=Pace(claim=True), finish=None, digest=None, quiet=after, release=PLAN)
    assert single.batch is not None and [r.text for r in single.batch.rows] == ["ops note"]  # one: no digest


@pytest.mark.parametrize("zone", ["UTC"], indirect=True)
def test_then_drop_ends_held_rows_dropped_at_once(zone: None, box: Outbox) -> None:
    quiet = QuietHours.of({"family": RoomSettings.model_validate(
        {"topic": "Happy Family", "quiet_hours": {"from": "23:00", "to": "07:00", "then": "drop"}})},
        PacingSettings())
    night = utc("2026-01-10T23:30:00")
    put(box, "washing machine done", at=night)
    taken = take(box, night, pace=Pace(claim=True), finish=None, digest=None, quiet=quiet.at(night), release=PLAN)
    assert taken.batch is None
    assert [(r.status, r.error) for r in taken.expired] == [("dropped", "quiet hours (23:00-07:00)")]
    assert [(r.report().status, r.report().error) for r in box.unreported()] == [
        ("dropped", "quiet hours (23:00-07:00)")]


def test_a_room_can_switch_the_default_window_off() -> None:
    pacing = PacingSettings.model_validate({"quiet_hours": {"from": "23:00", "to": "07:00"}})
    rooms = {"ops": RoomSettings.model_validate({"topic": "Ops", "quiet_hours": False}),
             "family": RoomSettings(topic="Happy Family")}
    assert list(QuietHours.of(rooms, pacing).windows) == ["family"]

