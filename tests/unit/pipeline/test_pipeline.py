"""The pure path from an MQTT message to deliveries or rejections, with a real config."""

from pathlib import Path

import orjson
import pytest

from bridge.config.loader import load_config
from bridge.config.models import ENV_TOKEN
from bridge.events import Delivery, DeliveryPolicy, DeliveryReport, InboundMessage, Planned, Queued, ThrottleMark
from bridge.pipeline import plan as pipelines
from bridge.pipeline.runtime import Runtime

CONFIG = """\
rooms:
  family: {topic: "Happy Family"}
  ops: {id: "ops@chatroom"}
routes:
  - name: door
    topic: "home/{area}/door"
    rooms: [family, ops]
    when: "payload.state == 'open'"
    template: "Door {{ area }} opened"
  - name: energy
    topic: "tele/+/SENSOR"
    rooms: [ops]
    template: "{{ wildcards[0] }}: {{ payload.ENERGY.Total }} kWh"
  - name: text
    topic: "scripts/#"
    rooms: [ops]
    template: "{{ topic }} says {{ payload }}"
  - name: retained-ok
    topic: "status/+"
    rooms: [ops]
    retained: true
    template: "{{ raw }}"
  - name: catch-all
    topic: "#"
    rooms: [ops]
    when: "topic == 'never'"
    template: "x"
  - name: plugs
    topic: "plug/{name}"
    rooms: [ops]
    template: "{{ name }} on"
    throttle: {period: 5m, key: "{{ name }}-{{ payload.kind }}"}
    retry: {attempts: 2}
limits: {max_payload_bytes: 1000}
"""

Pipeline = Runtime  # the fixture is the runtime the pipeline reads


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    return Runtime.compile(load_config(path, {ENV_TOKEN: "t"}))


def finished(outcome: Planned) -> Delivery | DeliveryReport:
    """A queued target as its delivery, a rejected one as the report it is stored with."""
    return outcome.delivery if isinstance(outcome, Queued) else outcome.report(0.0)


def plan(pipeline: Pipeline, topic: str, payload: bytes | str, retain: bool = False) -> list[Delivery | DeliveryReport]:
    data = payload.encode() if isinstance(payload, str) else payload
    return [finished(o) for o in pipelines.plan(pipeline, InboundMessage(topic=topic, payload=data, retain=retain,
                                                                         received_at=1.0)).outcomes]


def test_json_event_fans_out_to_each_room_with_the_producers_id(pipeline: Pipeline) -> None:
    out = plan(pipeline, "home/front/door", orjson.dumps({"state": "open", "id": "evt-1"}))
    assert out == [
        Delivery(event_id="evt-1", route="door", source_topic="home/front/door", room_key="family",
                 text="Door front opened", created_at=1.0),
        Delivery(event_id="evt-1", route="door", source_topic="home/front/door", room_key="ops",
                 text="Door front opened", created_at=1.0),
    ]


def test_when_false_is_not_a_match(pipeline: Pipeline) -> None:
    assert plan(pipeline, "home/front/door", '{"state": "closed"}') == []


def test_nested_json_and_plain_text(pipeline: Pipeline) -> None:
    [energy] = plan(pipeline, "tele/plug1/SENSOR", '{"ENERGY": {"Total": 1.25}}')
    assert isinstance(energy, Delivery) and energy.text == "plug1: 1.25 kWh"
    [text] = plan(pipeline, "scripts/backup", "done {{ 7*7 }}")
    assert isinstance(text, Delivery) and text.text == "scripts/backup says done {{ 7*7 }}"


def test_template_error_is_rejected_with_a_sentence(pipeline: Pipeline) -> None:
    [report] = plan(pipeline, "tele/plug1/SENSOR", '{"POWER": 3}')
    assert isinstance(report, DeliveryReport)
    assert report.status == "rejected"
    assert report.room.key == "ops"
    assert report.error == "route 'energy': the template uses a value the payload does not have: " \
                           "'dict object' has no attribute 'ENERGY'"


def test_when_error_is_rejected_for_every_room(pipeline: Pipeline) -> None:
    out = plan(pipeline, "home/front/door", "[1, 2]")
    assert [(r.status, r.room.key) for r in out if isinstance(r, DeliveryReport)] == [
        ("rejected", "family"), ("rejected", "ops")]


def test_retained_messages_only_reach_routes_that_opt_in(pipeline: Pipeline) -> None:
    assert plan(pipeline, "scripts/backup", "old", retain=True) == []
    [kept] = plan(pipeline, "status/nas", "up", retain=True)
    assert isinstance(kept, Delivery) and kept.text == "up"


def test_bad_payloads_are_rejected_by_every_route_they_match(pipeline: Pipeline) -> None:
    # The catch-all route's `when` cannot be evaluated on a payload that cannot be decoded.
    not_utf8 = plan(pipeline, "scripts/x", b"\xff\xfe")
    assert [(r.route, r.status, r.error) for r in not_utf8 if isinstance(r, DeliveryReport)] == [
        ("text", "rejected", "the payload is not UTF-8 text (invalid byte at position 0)"),
        ("catch-all", "rejected", "the payload is not UTF-8 text (invalid byte at position 0)"),
    ]
    too_big = plan(pipeline, "scripts/x", "x" * 1001)
    assert {r.error for r in too_big if isinstance(r, DeliveryReport)} == {
        "the payload is 1001 bytes, more than the 1000 bytes allowed (limits.max_payload_bytes)"}
    assert len(too_big) == 2


def test_direct_sends(pipeline: Pipeline) -> None:
    [plain] = plan(pipeline, "wechat/send/family", "Dinner is ready")
    assert isinstance(plain, Delivery)
    assert (plain.route, plain.room_key, plain.text) == (None, "family", "Dinner is ready")
    [as_json] = plan(pipeline, "wechat/send/ops", '{"text": "hi", "id": "d-1"}')
    assert isinstance(as_json, Delivery) and (as_json.event_id, as_json.text) == ("d-1", "hi")
    [unknown] = plan(pipeline, "wechat/send/nope", '{"text": "hi", "id": "d-2"}')
    assert isinstance(unknown, DeliveryReport)
    assert (unknown.id, unknown.error) == ("d-2", "unknown room key 'nope' (known: family, ops)")
    [no_text] = plan(pipeline, "wechat/send/ops", '{"message": "hi"}')
    assert isinstance(no_text, DeliveryReport)
    assert no_text.error == 'a JSON direct send needs a "text" field holding a string'


def test_a_direct_send_longer_than_a_template_may_render_is_rejected(pipeline: Pipeline) -> None:
    def send(text: str) -> Delivery | DeliveryReport:
        return finished(pipelines.direct_send(pipeline, topic="wechat/send/family", room_key="family", text=text,
                                              event_id="d-3", received_at=0.0))

    longest = send("x" * 20_000)
    assert isinstance(longest, Delivery) and longest.text == "x" * 20_000
    too_long = send("x" * 20_001)
    assert isinstance(too_long, DeliveryReport)
    assert (too_long.status, too_long.room.key, too_long.error) == (
        "rejected", "family", "the text has 20,001 characters, more than the 20,000 a message may have")


def test_the_bridges_own_topics_never_reach_routes(pipeline: Pipeline) -> None:
    assert plan(pipeline, "wechat/bridge/delivery", '{"status": "delivered"}') == []


def test_each_queued_target_carries_its_routes_policy_and_throttle_scope(pipeline: Pipeline) -> None:
    planned = pipelines.plan(pipeline, InboundMessage(topic="plug/kettle", payload=b'{"kind": "on", "id": 7}',
                                                      retain=False, received_at=1.0))
    assert planned.producer_id == "7"
    [queued] = planned.outcomes
    assert isinstance(queued, Queued)
    assert (queued.policy, queued.throttle) == (
        DeliveryPolicy(attempts=2, backoff=2.0, max_backoff=300.0), ThrottleMark("plugs", "kettle-on", 300.0))
    [direct] = pipelines.plan(pipeline, InboundMessage(topic="wechat/send/ops", payload=b"hi", retain=False,
                                                       received_at=1.0)).outcomes
    assert isinstance(direct, Queued) and (direct.policy, direct.throttle) == (pipeline.direct_policy, None)


def test_a_throttle_key_that_cannot_be_rendered_rejects_the_event(pipeline: Pipeline) -> None:
    [report] = plan(pipeline, "plug/kettle", "[1]")
    assert isinstance(report, DeliveryReport) and report.error == (
        "route 'plugs': the throttle key: the template uses a value the payload does not have: "
        "'list object' has no attribute 'kind'")


def test_the_producer_id_comes_from_the_one_decoded_payload(pipeline: Pipeline) -> None:
    def producer(topic: str, payload: bytes) -> str | None:
        return pipelines.plan(pipeline, InboundMessage(topic=topic, payload=payload, retain=False,
                                                       received_at=1.0)).producer_id

    assert producer("scripts/x", b'{"id": "x"}') == "x"
    assert producer("wechat/send/ops", b'{"text": "hi", "id": 5}') == "5"
    assert producer("scripts/x", b'{"id": true}') is None
    assert producer("scripts/x", b"\xff" * 10) is None  # not decodable: the key is the content
    assert producer("scripts/x", b'{"id": "x", "pad": "' + b"y" * 1000 + b'"}') is None  # too large
