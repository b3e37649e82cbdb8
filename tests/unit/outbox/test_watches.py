"""Routes with `silence` and `batch`: the outbox's silence timers and gathered batches, fired by the
timers task on a fake clock, the batch claimed as one message with one report per event, and `check`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.config.loader import load_config
from bridge.config.models import ENV_TOKEN
from bridge.delivery.claim import take
from bridge.delivery.pacing import Pace
from bridge.errors import ConfigError
from bridge.events import InboundMessage, RoomRef
from bridge.inbound.intake import idempotency_key
from bridge.inbound.timers import Timers
from bridge.outbox.records import Arrival
from bridge.outbox.store import Outbox
from bridge.pipeline import plan as pipeline
from bridge.pipeline.runtime import LiveRuntime, Runtime

CONFIG = """\
rooms:
  family: {topic: "Happy Family"}
  ops: {topic: "Ops"}
routes:
  - name: freezer-silent
    topic: "sensors/{device}"
    key: "{{ device }}"
    silence: 30m
    rooms: [family]
    template: >-
      {% if silent %}🥶 {{ device }} silent for {{ silent_for | duration }}{% else %}✅ {{ device }} is back after
      {{ silent_for | duration }} ({{ payload.t }} °C){% endif %}
  - name: drops
    topic: "z2m/{device}/availability"
    rooms: [ops]
    when: "payload.state == 'offline'"
    batch: {window: 30s, count: 5, item: "{{ device }}",
            template: "🔌 {{ count }} devices went offline: {{ items | join(', ') }}"}
    template: "🔌 {{ device }} went offline"
  - name: plain-batch
    topic: "plain/{thing}"
    rooms: [ops]
    batch: true
    template: "{{ thing }}: {{ raw }}"
"""
T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Direct:
    """The outbox runner's `run`, on this thread."""

    def __init__(self, box: Outbox) -> None:
        self.box = box

    async def run(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return call(self.box, *args, **kwargs)


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


def feed(runtime: Runtime, box: Outbox, topic: str, payload: object, at: float, *, retain: bool = False) -> None:
    data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
    message = InboundMessage(topic=topic, payload=data, retain=retain, received_at=at, qos=1)
    plan = pipeline.plan(runtime, message)
    arrival = Arrival(key=idempotency_key(topic, data, plan.producer_id), dup=False, needs_ack=True,
                      outcomes=plan.outcomes, received_at=at, observations=plan.observations, silences=plan.silences)
    box.accept([arrival], now=at)


def timers(runtime: Runtime, box: Outbox, clock: Clock, started: float = T0) -> Timers:
    return Timers(live=LiveRuntime(runtime), store=Direct(box), on_stored=lambda: None,  # type: ignore[arg-type]
                  clock=clock, started=started)


def pending(box: Outbox) -> list[tuple[str | None, str | None]]:
    return [(r.route, r.text) for r in box._rows("WHERE status = 'pending' ORDER BY seq")]


def test_a_silent_key_sends_once_then_once_back_when_heard_again(runtime: Runtime, box: Outbox) -> None:
    clock = Clock()
    task = timers(runtime, box, clock)
    feed(runtime, box, "sensors/freezer", {"t": -18}, T0)
    assert asyncio.run(task.step()) == pytest.approx(1800)
    assert pending(box) == []  # a report is no message
    clock.now = T0 + 1799
    feed(runtime, box, "sensors/freezer", {"t": -19}, clock.now)  # heard: the window starts again
    clock.now = T0 + 1800
    asyncio.run(task.step())
    assert pending(box) == []
    clock.now = T0 + 1799 + 1800
    asyncio.run(task.step())
    assert pending(box) == [("freezer-silent", "🥶 freezer silent for 30 min")]
    clock.now += 3600
    assert asyncio.run(task.step()) is None  # silent: nothing more until it is heard
    assert len(pending(box)) == 1
    feed(runtime, box, "sensors/freezer", {"t": -17}, clock.now)
    asyncio.run(task.step())
    [silent, back] = box._rows("WHERE status = 'pending' ORDER BY seq")
    assert back.text == "✅ freezer is back after 1 h 30 min (-17 °C)"
    assert silent.extras.silent_since == back.extras.silent_since == T0 + 1799
    feed(runtime, box, "sensors/freezer", {"t": -17}, clock.now + 1)
    asyncio.run(task.step())
    assert len(pending(box)) == 2  # one "back" per silence


def test_a_silence_that_began_while_the_bridge_was_stopped_is_sent_at_start_with_a_note(
        runtime: Runtime, box: Outbox) -> None:
    feed(runtime, box, "sensors/cellar", {"t": 4}, T0)
    clock = Clock()
    clock.now = T0 + 7200
    asyncio.run(timers(runtime, box, clock, started=clock.now).step())
    [row] = box._rows("WHERE status = 'pending'")
    assert row.text == "🥶 cellar silent for 2 h"
    assert row.extras.note == "the route went silent while the bridge was stopped; sent at start-up, 1 h 30 min late"


def test_a_retained_replay_starts_watching_but_does_not_reset_the_window(runtime: Runtime, box: Outbox) -> None:
    clock = Clock()
    feed(runtime, box, "sensors/attic", {"t": 20}, T0, retain=True)
    clock.now = T0 + 1000
    feed(runtime, box, "sensors/attic", {"t": 20}, clock.now, retain=True)  # a restart's replay
    clock.now = T0 + 1800
    asyncio.run(timers(runtime, box, clock).step())
    assert pending(box) == [("freezer-silent", "🥶 attic silent for 30 min")]


def sent_batch(box: Outbox, now: float) -> tuple[str | None, list[str]]:
    taken = take(box, now, pace=Pace(claim=True, blocked=()), finish=None, digest=None)
    assert taken.batch is not None
    rows = taken.batch.rows
    box.mark_delivered_many([r.seq for r in rows], now=now, room=RoomRef("ops", "r@chatroom", "Ops"),
                            digest=taken.batch.digest_id)
    return taken.batch.text, [r.event_id for r in rows]


def test_a_batch_gathers_the_window_into_one_message_with_a_report_per_event(runtime: Runtime, box: Outbox) -> None:
    clock = Clock()
    task = timers(runtime, box, clock)
    for i, device in enumerate(["plug_1", "plug_2", "lamp"]):
        feed(runtime, box, f"z2m/{device}/availability", {"state": "offline"}, T0 + i)
    feed(runtime, box, "z2m/plug_1/availability", {"state": "online"}, T0 + 3)  # `when` false: not gathered
    assert take(box, T0 + 10, pace=Pace(claim=True, blocked=()), finish=None, digest=None).batch is None
    assert asyncio.run(task.step()) == pytest.approx(30)
    clock.now = T0 + 30
    asyncio.run(task.step())
    text, _ = sent_batch(box, clock.now)
    assert text == "🔌 3 devices went offline: plug_1, plug_2, lamp"
    reports = [r.report() for r in box._rows("WHERE status = 'delivered' ORDER BY seq")]
    assert [(r.status, r.digest) for r in reports] == [("delivered", reports[0].digest)] * 3
    assert box._db.execute("SELECT COUNT(*) FROM batch_items").fetchone()[0] == 3
    assert take(box, clock.now, pace=Pace(claim=True, blocked=()), finish=None, digest=None).batch is None
    assert box._db.execute("SELECT COUNT(*) FROM batch_items").fetchone()[0] == 0  # forgotten once sent


def test_a_batch_goes_early_at_its_count_and_a_batch_of_one_goes_as_itself(runtime: Runtime, box: Outbox) -> None:
    clock = Clock()
    task = timers(runtime, box, clock)
    for i in range(5):
        feed(runtime, box, f"z2m/d{i}/availability", {"state": "offline"}, T0 + i)
    clock.now = T0 + 5
    assert asyncio.run(task.step()) is None
    assert sent_batch(box, clock.now)[0] == "🔌 5 devices went offline: d0, d1, d2, d3, d4"
    feed(runtime, box, "z2m/d9/availability", {"state": "offline"}, T0 + 6)
    clock.now = T0 + 36
    asyncio.run(task.step())
    taken = take(box, clock.now, pace=Pace(claim=True, blocked=()), finish=None, digest=None)
    assert taken.batch is not None and taken.batch.text is None and taken.batch.first.text == "🔌 d9 went offline"


def test_a_batch_without_a_template_uses_the_catalog(runtime: Runtime, box: Outbox) -> None:
    clock = Clock()
    feed(runtime, box, "plain/a", "one", T0)
    feed(runtime, box, "plain/b", "two", T0 + 1)
    clock.now = T0 + 30
    asyncio.run(timers(runtime, box, clock).step())
    assert sent_batch(box, clock.now)[0] == "2 events on route plain-batch:\n• a: one\n• b: two"


@pytest.mark.parametrize(("route", "message"), [
    ("{topic: a, rooms: [ops], template: x, silence: 1m, changed: '{{ raw }}'}",
     "routes[0].silence: 'silence' cannot be combined with 'changed': a silence route sends only when the route "
     "goes silent and comes back"),
    ("{topic: a, rooms: [ops], image: payload, silence: 1m}",
     "routes[0].silence: a silence message is text only: there is no message to take an image or file from; "
     "leave out 'image'/'file'"),
    ("{topic: a, rooms: [ops], template: x, when: 'true', for: 1m, batch: true}",
     "routes[0].batch: 'batch' cannot be combined with 'for': a 'for' timer sends one key's message on its own"),
    ("{topic: a, rooms: [ops], template: x, batch: {window: 10s, count: 1}}",
     "routes[0].batch.count: Input should be greater than or equal to 2"),
])
def test_check_refuses_silence_and_batch_that_cannot_mean_what_they_say(tmp_path: Path, route: str,
                                                                        message: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"rooms: {{ops: {{topic: Ops}}}}\nroutes:\n  - {route}\n")
    with pytest.raises(ConfigError) as caught:
        Runtime.compile(load_config(path, {ENV_TOKEN: "t"}))
    assert message in str(caught.value)


def test_an_event_whose_batch_item_cannot_be_rendered_is_rejected_with_a_sentence(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("rooms: {ops: {topic: Ops}}\nroutes:\n"
                    "  - {name: drops, topic: 'd/{device}', rooms: [ops], template: '{{ device }} dropped',\n"
                    "     batch: {item: '{{ payload.name.first }}'}}\n")
    runtime = Runtime.compile(load_config(path, {ENV_TOKEN: "t"}))
    [refused] = pipeline.plan(runtime, InboundMessage(topic="d/x", payload=b'{"state": 1}', retain=False,
                                                      received_at=T0)).outcomes
    assert getattr(refused, "error", None) == ("route 'drops': the batch item uses a value the payload does not "
                                               "have: 'dict object' has no attribute 'name'")


def test_a_silence_message_whose_template_fails_ends_rejected_for_each_room(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("rooms: {ops: {topic: Ops}, family: {topic: F}}\nroutes:\n"
                    "  - {name: s, topic: 'a/{x}', rooms: [ops, family], silence: 1m,\n"
                    "     template: '{{ payload.t.value }} silent'}\n")
    runtime = Runtime.compile(load_config(path, {ENV_TOKEN: "t"}))
    box = Outbox.open(":memory:")
    try:
        feed(runtime, box, "a/b", {"t": 1}, T0)
        clock = Clock()
        clock.now = T0 + 60
        asyncio.run(timers(runtime, box, clock).step())
        rows = box._rows("ORDER BY seq")
        assert [(r.status, r.room_key, r.error) for r in rows] == [
            ("rejected", key, "route 's': the template uses a value the payload does not have: 'int object' has no "
                              "attribute 'value'") for key in ("ops", "family")]
        assert asyncio.run(timers(runtime, box, clock).step()) is None  # said (as rejected) once
    finally:
        box.close()
