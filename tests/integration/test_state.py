"""Routes with `changed` and `for` on the real broker and mock gateway: one message per opening,
`for` timers that fire once (across a restart and a SIGKILL too) or are cancelled, and `check`.

Durations are seconds long. What is waited for is state: the reports on MQTT, the texts in the
gateway's rooms and, for "the timer is armed", the outbox's `timers` table.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import DELIVERY, FAMILY, OPS, BridgeFactory, reports
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

ROUTES = """\
rooms:
  family: {id: "room-family@chatroom"}
  ops: {id: "room-ops@chatroom"}
routes:
  - name: door-opened
    topic: "zigbee2mqtt/{device}"
    rooms: [family]
    when: "payload.contact is defined and payload.contact == false"
    changed: "{{ payload.contact }}"
    key: "{{ device }}"
    template: "🚪 {{ device }} was opened"
  - name: door-left-open
    topic: "zigbee2mqtt/{device}"
    rooms: [ops]
    when: "payload.contact is defined and payload.contact == false"
    changed: "{{ payload.contact }}"
    key: "{{ device }}"
    for: 3s
    template: "🚪 {{ device }} has been open for 3 s (battery {{ payload.battery }} %)"
"""
FAMILY_REF = {"key": "family", "id": FAMILY, "topic": "Happy Family"}
OPS_REF = {"key": "ops", "id": OPS, "topic": "Ops"}


def door(listener: TestClient, device: str, contact: bool, battery: int = 90) -> str:
    """One Zigbee2MQTT state message (with an `id`, so its reports can be told apart)."""
    event_id = uuid.uuid4().hex[:8]
    listener.publish(f"zigbee2mqtt/{device}", json.dumps(
        {"id": event_id, "battery": battery, "contact": contact, "linkquality": 120}))
    return event_id


def texts(gateway: MockGateway, room: str) -> list[str]:
    return [m["text"] for m in gateway.messages() if m["room_id"] == room]


def by_route(listener: TestClient, event_id: str, count: int, timeout: float = 15.0) -> dict[str, dict[str, Any]]:
    found = listener.wait_for(lambda m: m.topic == DELIVERY and m.json()["id"] == event_id, count=count,
                              timeout=timeout, what=f"reports of {event_id}")
    return {m.json()["route"]: m.json() for m in found}


def armed(outbox: Path) -> list[tuple[str, str, float]]:
    """The `for` timers armed in the outbox (route, key, due), read beside the running bridge (WAL)."""
    db = sqlite3.connect(f"file:{outbox}?mode=ro", uri=True)
    try:
        return db.execute("SELECT route, key, due_at FROM timers WHERE fired_at IS NULL").fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        db.close()


def until(predicate: Any, *, timeout: float, what: str) -> None:
    wait_for(predicate, timeout=timeout, what=what)


def marker(listener: TestClient, room: str = "ops") -> None:
    """A direct send into `room`, waited for: whatever the bridge was going to send before it has gone."""
    event_id = uuid.uuid4().hex[:8]
    listener.publish(f"wechat/send/{room}", json.dumps({"id": event_id, "text": f"marker {event_id}"}))
    assert reports(listener, [event_id])[event_id]["status"] == "delivered"


def ts(report: dict[str, Any], field: str = "ts") -> float:
    return datetime.fromisoformat(report[field]).timestamp()


def test_repeats_of_an_open_door_send_one_message_per_opening_also_across_a_restart(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient, tmp_path: Path) -> None:
    outbox, client_id = tmp_path / "state.sqlite3", f"state-{uuid.uuid4().hex[:6]}"
    bridge = start_bridge(ROUTES, outbox=outbox, client_id=client_id)
    gateway.clear()
    opened = door(listener, "front_door", False)
    assert by_route(listener, opened, 1)["door-opened"]["status"] == "delivered"
    repeats = [door(listener, "front_door", False, battery) for battery in (89, 88)]
    for repeat in repeats:
        assert by_route(listener, repeat, 2) == {
            route: {"id": repeat, "status": "dropped", "route": route, "topic": "zigbee2mqtt/front_door",
                    "room": {"key": room, "id": None, "topic": None}, "error": "unchanged: contact is still false",
                    "ts": by_route(listener, repeat, 2)[route]["ts"]}
            for route, room in (("door-opened", "family"), ("door-left-open", "ops"))}

    assert bridge.stop() == 0
    start_bridge(ROUTES, outbox=outbox, client_id=client_id)
    after = door(listener, "front_door", False, 87)
    assert by_route(listener, after, 2)["door-opened"]["error"] == "unchanged: contact is still false"
    closed = door(listener, "front_door", True)
    again = door(listener, "front_door", False, 86)
    assert by_route(listener, again, 1)["door-opened"]["status"] == "delivered"
    assert texts(gateway, FAMILY) == ["🚪 front_door was opened"] * 2
    # The closing is remembered (that is what made the last one a change) and reported nowhere:
    # `when` is false for it, and it cancelled the first opening's timer... which had fired already.
    assert [m for m in listener.messages(DELIVERY) if m.json()["id"] == closed] == []


def test_a_for_timer_fires_once_after_the_hold_time_from_the_latest_payload(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient) -> None:
    start_bridge(ROUTES)
    gateway.clear()
    opened = door(listener, "garage", False, 90)
    door(listener, "garage", False, 85)  # a repeat while armed: dropped, but its payload is kept
    [report] = listener.wait_for(lambda m: m.topic == DELIVERY and m.json()["id"] == opened
                                 and m.json()["route"] == "door-left-open", timeout=15, what="the timer's report")
    fired = report.json()
    assert fired == {"id": opened, "status": "delivered", "route": "door-left-open", "topic": "zigbee2mqtt/garage",
                     "room": OPS_REF, "error": None, "ts": fired["ts"], "condition_since": fired["condition_since"]}
    assert ts(fired) - ts(fired, "condition_since") >= 3.0
    assert texts(gateway, OPS) == ["🚪 garage has been open for 3 s (battery 85 %)"]
    door(listener, "garage", False, 80)  # still open: the period goes on, nothing more
    marker(listener)
    assert texts(gateway, OPS)[:1] == ["🚪 garage has been open for 3 s (battery 85 %)"]
    assert len(texts(gateway, OPS)) == 2


def test_a_when_false_event_cancels_the_timer_and_the_arming_event_ends_dropped(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient, tmp_path: Path) -> None:
    outbox = tmp_path / "cancel.sqlite3"
    start_bridge(ROUTES, outbox=outbox)
    gateway.clear()
    opened = door(listener, "shed", False)
    until(lambda: armed(outbox), timeout=10, what="the timer to be armed")
    door(listener, "shed", True)
    cancelled = by_route(listener, opened, 2)["door-left-open"]
    assert cancelled == {"id": opened, "status": "dropped", "route": "door-left-open", "topic": "zigbee2mqtt/shed",
                         "room": {"key": "ops", "id": None, "topic": None}, "error": cancelled["error"],
                         "ts": cancelled["ts"], "condition_since": cancelled["condition_since"]}
    assert cancelled["error"] in {f"condition ended after {n} s (for: 3s)" for n in (0, 1, 2)}
    assert armed(outbox) == []
    # A later opening still fires: the first one's timer is gone, not merely late.
    later = door(listener, "shed", False)
    assert by_route(listener, later, 2, timeout=15)["door-left-open"]["status"] == "delivered"
    assert texts(gateway, OPS) == ["🚪 shed has been open for 3 s (battery 90 %)"]


def test_a_timer_survives_a_sigkill_and_fires_once_at_start_up_with_a_note(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient, tmp_path: Path) -> None:
    outbox, client_id = tmp_path / "kill.sqlite3", f"kill-{uuid.uuid4().hex[:6]}"
    bridge = start_bridge(ROUTES, outbox=outbox, client_id=client_id)
    gateway.clear()
    opened = door(listener, "cellar", False)
    until(lambda: armed(outbox), timeout=10, what="the timer to be armed")
    [(_, _, due)] = armed(outbox)
    bridge.kill()
    until(lambda: time.time() > due + 1, timeout=10, what="the hold time to run out while the bridge is down")
    start_bridge(ROUTES, outbox=outbox, client_id=client_id)
    fired = by_route(listener, opened, 2)["door-left-open"]
    assert (fired["status"], fired["room"], fired["error"]) == ("delivered", OPS_REF, None)
    assert fired["note"].startswith("the hold time ran out while the bridge was stopped; sent at start-up, ")
    marker(listener)
    assert texts(gateway, OPS)[:-1] == ["🚪 cellar has been open for 3 s (battery 90 %)"]
    assert [m.json()["status"] for m in listener.messages(DELIVERY)
            if m.json()["id"] == opened and m.json()["route"] == "door-left-open"] == ["delivered"]


def test_a_state_that_holds_across_a_restart_fires_once_on_time(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient, tmp_path: Path) -> None:
    outbox, client_id = tmp_path / "restart.sqlite3", f"restart-{uuid.uuid4().hex[:6]}"
    bridge = start_bridge(ROUTES, outbox=outbox, client_id=client_id)
    gateway.clear()
    opened = door(listener, "attic", False)
    until(lambda: armed(outbox), timeout=10, what="the timer to be armed")
    assert bridge.stop() == 0
    start_bridge(ROUTES, outbox=outbox, client_id=client_id)
    door(listener, "attic", False, 70)  # the state still holds after the restart
    fired = by_route(listener, opened, 2)["door-left-open"]
    assert (fired["status"], "note" in fired) == ("delivered", False)
    marker(listener)
    assert texts(gateway, OPS)[:-1] == ["🚪 attic has been open for 3 s (battery 70 %)"]


def test_check_names_file_key_path_and_line_of_bad_combinations(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("""\
wechaty: {token: a-random-gateway-token}
rooms:
  family:
    topic: "Happy Family"
    quiet_hours: {from: "22:30", to: "22:30"}
routes:
  - topic: "zigbee2mqtt/{device}"
    rooms: [family]
    for: 10m
    template: "{{ device }} open"
""")
    result = subprocess.run([sys.executable, "-m", "bridge", "check", "--config", str(config)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "configuration has 1 problem(s):\n"
        f"  {config}:5: rooms.family.quiet_hours: the quiet window from 22:30 to 22:30 has no length: give two "
        "different times (from later than to crosses midnight)\n")
    config.write_text(config.read_text().replace('to: "22:30"', 'to: "07:00"'))
    result = subprocess.run([sys.executable, "-m", "bridge", "check", "--config", str(config)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stderr) == (1, "configuration has 1 problem(s):\n"
                                                  f"  {config}:9: routes[0].for: 'for' needs a 'when': it is how "
                                                  "long 'when' must hold\n")
