"""Routes with `changed`, `key` and `for`: the pipeline's marks, the outbox's decisions in the
transaction that stores the event, the timers firing once, `render`, `check`, and schema 3 -> 4."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.commands.render import render_lines
from bridge.config.loader import load_config
from bridge.config.models import ENV_TOKEN
from bridge.errors import ConfigError
from bridge.events import DeliveryReport, InboundMessage
from bridge.inbound.intake import idempotency_key
from bridge.outbox.records import Arrival, RowExtras, Timer
from bridge.outbox.schema import SCHEMA_VERSION
from bridge.outbox.store import Outbox
from bridge.pipeline import plan as pipeline
from bridge.pipeline.runtime import Runtime

CONFIG = """\
rooms:
  family: {topic: "Happy Family"}
  ops: {topic: "Ops"}
routes:
  - name: door
    topic: "z2m/{device}"
    rooms: [family]
    when: "payload.contact is defined and payload.contact == false"
    changed: "{{ payload.contact }}"
    key: "{{ device }}"
    template: "🚪 {{ device }} opened"
  - name: door-left-open
    topic: "z2m/{device}"
    rooms: [family, ops]
    when: "payload.contact is defined and payload.contact == false"
    changed: "{{ payload.contact }}"
    key: "{{ device }}"
    for: 10m
    template: "🚪 {{ device }} open for 10 minutes ({{ payload.battery }} %)"
  - name: hot
    topic: "freezer/temp"
    rooms: [ops]
    when: "payload.t > -10"
    for: 15m
    template: "freezer at {{ payload.t }}"
  - name: quiet-start
    topic: "state/{thing}"
    rooms: [ops]
    changed: "{{ payload.state }} ({{ payload.mode }})"
    changed_initial: false
    template: "{{ thing }}: {{ payload.state }}"
"""
T0 = 1_800_000_000.0


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    return Runtime.compile(load_config(path, {ENV_TOKEN: "t"}))


@pytest.fixture
def box() -> Iterator[Outbox]:
    outbox = Outbox.open(":memory:")
    yield outbox
    outbox.close()


class Feed:
    """Messages through the pipeline into the outbox, as the intake stores them."""

    def __init__(self, runtime: Runtime, box: Outbox) -> None:
        self.runtime, self.box = runtime, box

    def __call__(self, topic: str, payload: dict[str, object], at: float, *,
                 retain: bool = False) -> list[DeliveryReport]:
        message = InboundMessage(topic=topic, payload=json.dumps(payload).encode(), retain=retain, received_at=at,
                                 qos=1)
        plan = pipeline.plan(self.runtime, message)
        arrival = Arrival(key=idempotency_key(topic, message.payload, plan.producer_id), dup=False, needs_ack=True,
                          outcomes=plan.outcomes, received_at=at, observations=plan.observations)
        [result] = self.box.accept([arrival], now=at)
        return list(getattr(result, "refused", ()))

    def pending(self, route: str | None = None) -> list[str]:
        return [r.text or "" for r in self.box._rows("WHERE status = 'pending' ORDER BY seq")
                if route is None or r.route == route]

    def fire(self, now: float, note: str | None = None) -> list[Timer]:
        fired = []
        for timer in self.box.due_timers(now):
            outcomes = pipeline.fire(self.runtime, route_name=timer.route, event_id=timer.event_id,
                                     message=timer.message, rooms=timer.rooms, now=now, condition_since=timer.since,
                                     note=note)
            if self.box.fire_timer(timer, outcomes, now=now) is not None:
                fired.append(timer)
        return fired


@pytest.fixture
def feed(runtime: Runtime, box: Outbox) -> Feed:
    return Feed(runtime, box)


def errors(reports: list[DeliveryReport], route: str) -> list[str | None]:
    return [r.error for r in reports if r.route == route]


def test_repeats_of_a_state_are_dropped_as_unchanged_and_the_closing_is_remembered(feed: Feed) -> None:
    assert errors(feed("z2m/front", {"contact": False, "battery": 90}, T0), "door") == []
    assert errors(feed("z2m/front", {"contact": False, "battery": 89}, T0 + 1), "door") == [
        "unchanged: contact is still false"]
    assert errors(feed("z2m/front", {"contact": True}, T0 + 2), "door") == []  # not sent, remembered
    assert errors(feed("z2m/front", {"contact": False, "battery": 88}, T0 + 3), "door") == []
    assert errors(feed("z2m/back", {"contact": False}, T0 + 4), "door") == []  # another key
    assert feed.pending("door") == ["🚪 front opened", "🚪 front opened", "🚪 back opened"]


def test_a_retained_replay_updates_the_value_without_sending_so_a_restart_is_quiet(feed: Feed) -> None:
    assert feed("z2m/front", {"contact": False}, T0, retain=True) == []
    assert feed.pending() == []
    assert errors(feed("z2m/front", {"contact": False}, T0 + 1), "door") == ["unchanged: contact is still false"]


def test_changed_initial_false_makes_the_first_value_no_change(feed: Feed) -> None:
    assert errors(feed("state/pump", {"state": "on", "mode": "auto"}, T0), "quiet-start") == [
        "unchanged: the value is on (auto), the first value seen for 'state/pump' (changed_initial: false)"]
    assert errors(feed("state/pump", {"state": "off", "mode": "auto"}, T0 + 1), "quiet-start") == []
    assert feed.pending() == ["pump: off"]


def test_for_arms_a_timer_and_a_when_false_event_cancels_it_with_the_arming_events_reports(feed: Feed) -> None:
    assert feed("freezer/temp", {"t": -5}, T0) == []  # armed: its reports wait for the timer
    assert feed.pending() == []
    ended = feed("freezer/temp", {"t": -18}, T0 + 2)
    assert [(r.status, r.route, r.room.key, r.error, r.condition_since) for r in ended] == [
        ("dropped", "hot", "ops", "condition ended after 2 s (for: 15m)", T0)]
    assert feed.fire(T0 + 3600) == []


def test_a_timer_fires_once_from_the_latest_payload_with_condition_since(feed: Feed) -> None:
    feed("freezer/temp", {"t": -5}, T0)
    repeat = feed("freezer/temp", {"t": -3}, T0 + 60)
    assert errors(repeat, "hot")[0] == ("the condition holds since 1 min: its timer (for: 15m) was armed by "
                                        f"event {feed.box.due_timers(T0 + 900)[0].event_id}")
    assert feed.fire(T0 + 899) == []
    [timer] = feed.fire(T0 + 900)
    assert feed.pending() == ["freezer at -3"]
    [row] = feed.box._rows("WHERE status = 'pending'")
    assert (row.event_id, row.extras) == (timer.event_id, RowExtras(condition_since=T0))
    assert feed.fire(T0 + 2000) == []  # once
    later = feed("freezer/temp", {"t": -2}, T0 + 2100)
    assert errors(later, "hot") == ["the condition holds since 35 min and was sent for already (for: 15m)"]
    assert feed("freezer/temp", {"t": -20}, T0 + 2200) == []  # the period ends; nothing to cancel
    feed("freezer/temp", {"t": -1}, T0 + 2300)
    assert len(feed.fire(T0 + 2300 + 900)) == 1


def test_a_firing_read_before_a_newer_message_is_not_committed_over_it(feed: Feed) -> None:
    feed("freezer/temp", {"t": -5}, T0)
    [stale] = feed.box.due_timers(T0 + 900)
    feed("freezer/temp", {"t": -4}, T0 + 900)  # arrives between the read and the firing
    assert feed.box.fire_timer(stale, (), now=T0 + 900) is None
    assert [t.message.payload for t in feed.box.due_timers(T0 + 900)] == [b'{"t": -4}']


def test_for_and_changed_fire_once_per_period_not_per_repeat(feed: Feed) -> None:
    feed("z2m/front", {"contact": False, "battery": 90}, T0)
    assert errors(feed("z2m/front", {"contact": False, "battery": 80}, T0 + 30), "door-left-open") == [
        "unchanged: contact is still false"] * 2
    feed.fire(T0 + 600)
    assert feed.pending("door-left-open") == ["🚪 front open for 10 minutes (80 %)"] * 2
    feed("z2m/front", {"contact": False, "battery": 79}, T0 + 700)
    feed.fire(T0 + 2000)
    assert len(feed.pending("door-left-open")) == 2


def test_a_timer_of_a_route_gone_after_a_reload_ends_rejected_for_each_room(feed: Feed, runtime: Runtime) -> None:
    feed("freezer/temp", {"t": -5}, T0)
    [timer] = feed.box.due_timers(T0 + 900)
    outcomes = pipeline.fire(runtime, route_name="gone", event_id=timer.event_id, message=timer.message,
                             rooms=timer.rooms, now=T0 + 900, condition_since=timer.since)
    assert [(o.room_key, o.error) for o in outcomes] == [  # type: ignore[union-attr]
        ("ops", "route 'gone' is no longer configured for freezer/temp: its 'for' timer ran out, but there is "
                "nothing to send it with")]


def test_render_says_whether_the_event_is_a_change_and_that_for_would_arm_a_timer(runtime: Runtime) -> None:
    lines = render_lines(runtime, topic="z2m/front", payload='{"contact": false, "battery": 7}', last="false")
    assert lines[:5] == [
        "route 'door' (z2m/{device}) matches",
        "  when 'payload.contact is defined and payload.contact == false': true",
        "  key: 'front'",
        "  changed '{{ payload.contact }}': 'false'",
        "    against the last value 'false': unchanged (contact is still false): nothing is sent"]
    lines = render_lines(runtime, topic="freezer/temp", payload='{"t": -5}')
    assert lines[2:4] == ["  key: 'freezer/temp'",
                          "  for 15m: a timer would be armed for key 'freezer/temp' (unless one is already): sent "
                          "only if 'when' still holds 15m later, rendered from the latest payload then"]
    lines = render_lines(runtime, topic="z2m/front", payload='{"contact": false}')
    assert "    against nothing (no value seen yet for this key): a change" in lines


@pytest.mark.parametrize(("route", "where", "problem"), [
    ('{topic: a, rooms: [ops], template: x, for: 10m}', "routes[0].for",
     "'for' needs a 'when': it is how long 'when' must hold"),
    ('{topic: a, rooms: [ops], template: x, key: "{{ topic }}"}', "routes[0].key",
     "'key' says what 'changed', 'for' and 'silence' track per thing: give one of them, or leave 'key' out"),
])
def test_check_refuses_state_keys_that_cannot_mean_what_they_say(tmp_path: Path, route: str, where: str,
                                                                  problem: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"rooms:\n  ops: {{topic: Ops}}\nroutes:\n  - {route}\n")
    with pytest.raises(ConfigError) as caught:
        Runtime.compile(load_config(path, {ENV_TOKEN: "t"}))
    assert [str(p) for p in caught.value.problems] == [f"{path}:4: {where}: {problem}"]


def test_an_outbox_of_schema_3_gains_the_state_tables_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    Outbox.open(path).close()
    db = sqlite3.connect(path)
    db.executescript("DROP TABLE route_state; DROP TABLE timers; PRAGMA user_version=3;")
    db.execute("INSERT INTO deliveries (event_id, source_topic, room_key, status, max_attempts, backoff, "
               "max_backoff, created_at, next_attempt_at) VALUES ('old', 't', 'ops', 'pending', 1, 1, 1, 0, 0)")
    db.commit()
    db.close()
    box = Outbox.open(path)
    try:
        assert box.next_timer() is None and box.due_timers(T0) == []
        assert [r.event_id for r in box._rows("")] == ["old"]
        assert box._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    finally:
        box.close()
