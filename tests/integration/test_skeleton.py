"""End to end on the real stack: an MQTT event becomes the exact text in the exact mock room."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient

pytestmark = pytest.mark.integration

ROUTES = """\
rooms:
  family: {topic: "Happy Family"}
  ops: {id: "room-ops@chatroom"}
  twins: {topic: "Twins"}
  home: {topic: "家"}
routes:
  - name: door
    topic: "home/{area}/door"
    rooms: [family]
    when: "payload.state == 'open'"
    template: "Door {{ area }} opened"
  - name: energy
    topic: "tele/+/SENSOR"
    rooms: [ops]
    template: "{{ wildcards[0] }} used {{ payload.ENERGY.Total }} kWh (now {{ payload.ENERGY.Power }} W)"
  - name: backup
    topic: "scripts/backup"
    rooms: [ops]
    template: "Backup: {{ payload }}"
  - name: broken
    topic: "test/broken"
    rooms: [ops]
    template: "Level {{ payload.tank.level }}"
  - name: twins
    topic: "test/twins"
    rooms: [twins]
    template: "hello twins"
  - name: substring
    topic: "test/home"
    rooms: [home]
    template: "hello home"
"""


def reports_for(listener: TestClient, event_id: str, count: int = 1) -> list[dict[str, Any]]:
    found = listener.wait_for(
        lambda m: m.topic == "wechat/bridge/delivery" and json.loads(m.payload).get("id") == event_id,
        count=count, what=f"delivery reports for {event_id}",
    )
    return [m.json() for m in found]


def sent_texts(gateway: MockGateway) -> list[tuple[str, str]]:
    return [(m["room_id"], m["text"]) for m in gateway.messages()]


def without_ts(report: dict[str, Any]) -> dict[str, Any]:
    assert report["ts"].endswith("Z"), report
    return {k: v for k, v in report.items() if k != "ts"}


@pytest.fixture
def bridge(start_bridge: Any, gateway: MockGateway) -> None:
    start_bridge(ROUTES)
    gateway.clear()


def test_json_event_arrives_in_the_room_with_one_delivered_report(
        bridge: None, gateway: MockGateway, listener: TestClient) -> None:
    listener.publish("home/front/door", json.dumps({"state": "closed", "id": "door-closed"}))
    listener.publish("home/front/door", json.dumps({"state": "open", "id": "door-1"}))
    [report] = reports_for(listener, "door-1")
    assert without_ts(report) == {
        "id": "door-1", "status": "delivered", "route": "door", "topic": "home/front/door",
        "room": {"key": "family", "id": "room-family@chatroom", "topic": "Happy Family"}, "error": None,
    }
    assert sent_texts(gateway) == [("room-family@chatroom", "Door front opened")]
    # The closed door matched the topic but not `when`: no message and no report.
    assert not [m for m in listener.messages("wechat/bridge/delivery") if m.json()["id"] == "door-closed"]


def test_nested_json_event(bridge: None, gateway: MockGateway, listener: TestClient) -> None:
    listener.publish("tele/plug1/SENSOR", json.dumps({"ENERGY": {"Total": 1.25, "Power": 40}, "id": "e-1"}))
    [report] = reports_for(listener, "e-1")
    assert (report["status"], report["route"], report["room"]["id"]) == ("delivered", "energy", "room-ops@chatroom")
    assert sent_texts(gateway) == [("room-ops@chatroom", "plug1 used 1.25 kWh (now 40 W)")]


def test_plain_text_event(bridge: None, gateway: MockGateway, listener: TestClient) -> None:
    text = f"done in 5 min {uuid.uuid4().hex[:6]} {{{{ 7*7 }}}}"
    listener.publish("scripts/backup", text)
    report = listener.wait_for(lambda m: m.topic == "wechat/bridge/delivery"
                               and m.json()["topic"] == "scripts/backup", what="backup report")[0].json()
    assert (report["status"], report["route"], report["error"]) == ("delivered", "backup", None)
    assert len(report["id"]) == 32  # generated: the payload had no id
    # A payload that looks like a template is data: it arrives literally.
    assert sent_texts(gateway) == [("room-ops@chatroom", f"Backup: {text}")]


def test_direct_sends_plain_and_json(bridge: None, gateway: MockGateway, listener: TestClient) -> None:
    listener.publish("wechat/send/family", "Dinner is ready")
    listener.publish("wechat/send/ops", json.dumps({"text": "Deploy finished", "id": "direct-1"}))
    [json_report] = reports_for(listener, "direct-1")
    assert without_ts(json_report) == {
        "id": "direct-1", "status": "delivered", "route": None, "topic": "wechat/send/ops",
        "room": {"key": "ops", "id": "room-ops@chatroom", "topic": "Ops"}, "error": None,
    }
    plain = listener.wait_for(lambda m: m.topic == "wechat/bridge/delivery"
                              and m.json()["topic"] == "wechat/send/family", what="plain direct report")
    assert [m.json()["status"] for m in plain] == ["delivered"]
    assert sorted(sent_texts(gateway)) == [
        ("room-family@chatroom", "Dinner is ready"), ("room-ops@chatroom", "Deploy finished")]


def test_template_error_is_rejected_and_nothing_is_sent(
        bridge: None, gateway: MockGateway, listener: TestClient) -> None:
    listener.publish("test/broken", json.dumps({"tank": {}, "id": "broken-1"}))
    [report] = reports_for(listener, "broken-1")
    assert without_ts(report) == {
        "id": "broken-1", "status": "rejected", "route": "broken", "topic": "test/broken",
        "room": {"key": "ops", "id": None, "topic": None},
        "error": "route 'broken': the template uses a value the payload does not have: "
                 "'dict object' has no attribute 'level'",
    }
    assert_nothing_more_sent(gateway, listener)


def test_unknown_room_key_on_direct_send_is_rejected(
        bridge: None, gateway: MockGateway, listener: TestClient) -> None:
    listener.publish("wechat/send/nope", json.dumps({"text": "hi", "id": "unknown-1"}))
    [report] = reports_for(listener, "unknown-1")
    assert (report["status"], report["room"], report["error"]) == (
        "rejected", {"key": "nope", "id": None, "topic": None},
        "unknown room key 'nope' (known: family, home, ops, twins)")
    assert_nothing_more_sent(gateway, listener)


def test_ambiguous_room_topic_is_rejected_naming_both_rooms(
        bridge: None, gateway: MockGateway, listener: TestClient) -> None:
    listener.publish("test/twins", json.dumps({"id": "twins-1"}))
    [report] = reports_for(listener, "twins-1")
    assert (report["status"], report["route"]) == ("rejected", "twins")
    assert report["error"] == ("room 'twins': 2 rooms are named 'Twins' (room-twin-a@chatroom, room-twin-b@chatroom); "
                               "configure it by id instead")
    assert_nothing_more_sent(gateway, listener)


def test_room_topic_must_match_exactly_not_as_a_substring(
        bridge: None, gateway: MockGateway, listener: TestClient) -> None:
    listener.publish("test/home", json.dumps({"id": "home-1"}))
    [report] = reports_for(listener, "home-1")
    assert report["status"] == "rejected"
    assert report["error"] == "room 'home': the account is in no room named '家'"
    assert_nothing_more_sent(gateway, listener)  # above all, nothing in 老家群


def test_retained_messages_are_skipped_by_default(
        start_bridge: Any, gateway: MockGateway, listener: TestClient) -> None:
    # Only a message the broker replays on subscribe carries the retain flag, so it must be
    # retained before the bridge starts: that is the stale alarm a restart would otherwise repeat.
    listener.publish("home/garage/door", json.dumps({"state": "open", "id": "retained-1"}), retain=True)
    try:
        start_bridge(ROUTES)
        gateway.clear()
        listener.publish("home/back/door", json.dumps({"state": "open", "id": "live-1"}))
        reports_for(listener, "live-1")
        assert sent_texts(gateway) == [("room-family@chatroom", "Door back opened")]
        assert not [m for m in listener.messages("wechat/bridge/delivery") if m.json()["id"] == "retained-1"]
    finally:
        listener.publish("home/garage/door", b"", retain=True)  # clear the retained message


def assert_nothing_more_sent(gateway: MockGateway, listener: TestClient) -> None:
    """A sentinel direct send goes through the same queue: once it arrives, anything earlier has too."""
    sentinel = f"sentinel {uuid.uuid4().hex[:8]}"
    listener.publish("wechat/send/ops", json.dumps({"text": sentinel, "id": sentinel}))
    reports_for(listener, sentinel)
    assert sent_texts(gateway) == [("room-ops@chatroom", sentinel)]

