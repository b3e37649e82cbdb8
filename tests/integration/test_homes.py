"""What a home publishes (issue 27), on the real broker and the mock gateway: a silent sensor said
once and "back" once (across a SIGKILL too), twenty availability drops as one message with twenty
reports, a Frigate review with its snapshot as one message however many updates follow, and the
OwnTracks and Shelly mappings as they say.

What is waited for is state: the reports on MQTT, the texts in the gateway's rooms and, for "the
silence timer is armed", the outbox's `silences` table.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import DELIVERY, FAMILY, OPS, BridgeFactory, reports
from tests.support.broker import MosquittoBroker
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient, retained
from tests.support.waiting import wait_for
from tests.test_mappings import FRIGATE_REVIEW, OWNTRACKS_ENTER, SHELLY_PUSH, Z2M_OFFLINE

pytestmark = pytest.mark.integration

MAPPINGS = Path(__file__).resolve().parent.parent.parent / "mappings"
ROOMS = """\
rooms:
  family: {id: "room-family@chatroom"}
  ops: {id: "room-ops@chatroom"}
"""
SILENT = ROOMS + """\
routes:
  - name: freezer-silent
    topic: "home/{device}/temperature"
    key: "{{ device }}"
    silence: 3s
    rooms: [family]
    template: >-
      {% if silent %}🥶 {{ device }} has been silent for {{ silent_for | duration }}{% else %}✅ {{ device }}
      reports again: {{ payload.t }} °C{% endif %}
"""
FAMILY_REF = {"key": "family", "id": FAMILY, "topic": "Happy Family"}


def texts(gateway: MockGateway, room: str) -> list[str]:
    return [m["text"] for m in gateway.messages() if m["room_id"] == room and m["type"] == "text"]


def ts(report: dict[str, Any], field: str = "ts") -> float:
    return datetime.fromisoformat(report[field]).timestamp()


def watching(outbox: Path) -> list[tuple[str, float, float | None]]:
    """The silence timers in the outbox (key, due, silent since), read beside the running bridge (WAL)."""
    db = sqlite3.connect(f"file:{outbox}?mode=ro", uri=True)
    try:
        return db.execute("SELECT key, due_at, silent_since FROM silences").fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        db.close()


def of_route(listener: TestClient, route: str, count: int = 1, timeout: float = 20.0) -> list[dict[str, Any]]:
    found = listener.wait_for(lambda m: m.topic == DELIVERY and m.json()["route"] == route, count=count,
                              timeout=timeout, what=f"{count} report(s) of route {route}")
    return [m.json() for m in found]


def marker(listener: TestClient, room: str) -> None:
    """A direct send into `room`, waited for: whatever the bridge was going to send before it has gone."""
    event_id = uuid.uuid4().hex[:8]
    listener.publish(f"wechat/send/{room}", json.dumps({"id": event_id, "text": f"marker {event_id}"}))
    assert reports(listener, [event_id])[event_id]["status"] == "delivered"


def reading(listener: TestClient, device: str, t: float) -> str:
    event_id = uuid.uuid4().hex[:8]
    listener.publish(f"home/{device}/temperature", json.dumps({"id": event_id, "t": t}))
    return event_id


def test_a_silent_sensor_is_said_once_after_its_window_and_back_once_when_it_reports(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient, tmp_path: Path) -> None:
    outbox = tmp_path / "silence.sqlite3"
    start_bridge(SILENT, outbox=outbox)
    gateway.clear()
    sent_at = time.time()
    reading(listener, "freezer", -18)
    [silent] = of_route(listener, "freezer-silent")
    assert silent == {"id": silent["id"], "status": "delivered", "route": "freezer-silent",
                      "topic": "home/freezer/temperature", "room": FAMILY_REF, "error": None, "ts": silent["ts"],
                      "silent_since": silent["silent_since"]}
    assert abs(ts(silent, "silent_since") - sent_at) < 2 and ts(silent) - ts(silent, "silent_since") >= 3
    assert texts(gateway, FAMILY) in (["🥶 freezer has been silent for 3 s"], ["🥶 freezer has been silent for 4 s"])
    wait_for(lambda: watching(outbox) and watching(outbox)[0][2] is not None, timeout=5, what="the key silent")
    back = reading(listener, "freezer", -17)
    assert reports(listener, [back])[back] == {
        "id": back, "status": "delivered", "route": "freezer-silent", "topic": "home/freezer/temperature",
        "room": FAMILY_REF, "error": None, "ts": reports(listener, [back])[back]["ts"],
        "silent_since": silent["silent_since"]}
    assert texts(gateway, FAMILY)[1:] == ["✅ freezer reports again: -17 °C"]
    reading(listener, "freezer", -17)  # heard again: the window starts again, nothing is sent
    marker(listener, "family")
    assert len(texts(gateway, FAMILY)) == 3  # silent, back, marker
    assert len([m for m in listener.messages(DELIVERY) if m.json()["route"] == "freezer-silent"]) == 2


def test_a_silence_that_began_while_the_bridge_was_killed_is_said_once_at_start_with_a_note(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient, tmp_path: Path) -> None:
    outbox, client_id = tmp_path / "kill.sqlite3", f"kill-{uuid.uuid4().hex[:6]}"
    bridge = start_bridge(SILENT, outbox=outbox, client_id=client_id)
    gateway.clear()
    reading(listener, "cellar", 4)
    wait_for(lambda: watching(outbox), timeout=10, what="the silence timer to be armed")
    [(_, due, _)] = watching(outbox)
    bridge.kill()
    wait_for(lambda: time.time() > due + 2, timeout=10, what="the silence to begin while the bridge is down")
    bridge = start_bridge(SILENT, outbox=outbox, client_id=client_id)
    [silent] = of_route(listener, "freezer-silent")
    assert (silent["status"], silent["room"], silent["error"]) == ("delivered", FAMILY_REF, None)
    assert silent["note"].startswith("the route went silent while the bridge was stopped; sent at start-up, ")
    [text] = texts(gateway, FAMILY)
    assert text.startswith("🥶 cellar has been silent for ")
    # Killed again once it was said: the next start says nothing more of this silence.
    bridge.kill()
    start_bridge(SILENT, outbox=outbox, client_id=client_id)
    marker(listener, "family")
    assert texts(gateway, FAMILY)[:-1] == [text]
    assert len([m for m in listener.messages(DELIVERY) if m.json()["route"] == "freezer-silent"]) == 1


def test_twenty_availability_drops_arrive_as_one_message_naming_all_with_twenty_reports(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient) -> None:
    start_bridge(ROOMS + f"include: ['{MAPPINGS / 'availability.yaml'}']\n")
    gateway.clear()
    run = uuid.uuid4().hex[:4]
    devices = [f"plug_{run}_{n:02}" for n in range(20)]
    for device in devices:
        listener.publish(f"zigbee2mqtt/{device}/availability", Z2M_OFFLINE)
    found = of_route(listener, "z2m-offline", count=20, timeout=60)
    assert sorted(r["topic"] for r in found) == sorted(f"zigbee2mqtt/{d}/availability" for d in devices)
    assert {(r["status"], r["room"]["key"], r["error"], r["digest"]) for r in found} == {
        ("delivered", "ops", None, found[0]["digest"])}
    assert texts(gateway, OPS) == [
        "🔌 20 Zigbee devices went offline: " + ", ".join(d.replace("_", " ") for d in devices)]
    listener.publish(f"zigbee2mqtt/{devices[0]}/availability", Z2M_OFFLINE)  # still offline: nothing
    marker(listener, "ops")
    assert len(texts(gateway, OPS)) == 2


@pytest.fixture
def snapshot(broker: MosquittoBroker, listener: TestClient) -> Any:
    """A retained Frigate snapshot on a camera of this test's own, cleared afterwards."""
    camera = f"gate_{uuid.uuid4().hex[:6]}"
    topic = f"frigate/{camera}/person/snapshot"
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + uuid.uuid4().bytes * 200 + b"\xff\xd9"
    listener.publish(topic, jpeg, retain=True)
    wait_for(lambda: retained(broker.host, broker.port, topic).get(topic) == jpeg, timeout=10,
             what="the snapshot retained")
    yield camera, jpeg
    listener.publish(topic, b"", retain=True)


def test_a_frigate_review_arrives_once_with_its_snapshot_however_many_updates_follow(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient, snapshot: Any) -> None:
    camera, jpeg = snapshot
    start_bridge(ROOMS + f"include: ['{MAPPINGS / 'frigate.yaml'}']\n")
    gateway.clear()
    review = json.loads(json.dumps(FRIGATE_REVIEW))
    review["after"].update(camera=camera, id=f"{time.time()}-{uuid.uuid4().hex[:6]}")
    for kind in ("new", "update", "update", "update", "end"):
        listener.publish("frigate/reviews", json.dumps({**review, "type": kind}))
    found = of_route(listener, "frigate-review", count=4)
    assert sorted(r["status"] for r in found) == ["delivered", "dropped", "dropped", "dropped"]
    assert {r["error"].split(":")[0] for r in found if r["status"] == "dropped"} == {"throttled"}
    marker(listener, "family")
    text, image, _ = [m for m in gateway.messages() if m["room_id"] == FAMILY]
    assert text["text"] == f"📷 {camera.replace('_', ' ')}: person, car in front yard"
    assert image["type"] == "file" and image["file"]["name"] == f"frigate-{camera}-person-snapshot.jpg"
    assert base64.b64decode(image["file"]["base64"]) == jpeg


def test_owntracks_enter_and_leave_and_a_shelly_button_press(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient) -> None:
    start_bridge(ROOMS + f"include: ['{MAPPINGS / 'owntracks.yaml'}', '{MAPPINGS / 'shelly.yaml'}']\n")
    gateway.clear()
    listener.publish("owntracks/alice/phone/event", OWNTRACKS_ENTER)
    listener.publish("owntracks/alice/phone/event", OWNTRACKS_ENTER.replace('"enter"', '"leave"'))
    listener.publish("shellyplus1-a8032ab720ac/events/rpc", SHELLY_PUSH % "single_push")
    assert sorted(r["route"] for r in of_route(listener, "owntracks-transition", count=2)
                  + of_route(listener, "shelly-button")) == ["owntracks-transition"] * 2 + ["shelly-button"]
    assert texts(gateway, FAMILY) == ["🏠 Alice arrived at Home", "🚶 Alice left Home",
                                      "🔘 shellyplus1-a8032ab720ac: button 0 pressed"]
