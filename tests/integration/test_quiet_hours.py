"""Quiet hours on the real broker and mock gateway: normal messages held and sent as one digest at
the window's end, high priority at once, `then: drop` with its reports, and a window across midnight.

The bridge's clock is the real one; its time zone (`TZ`) is chosen so that the window ends
seconds after the test starts: a POSIX zone whose offset puts local midnight just ahead.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.conftest import FAMILY, OPS, BridgeFactory, reports
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient

pytestmark = pytest.mark.integration

ROUTES = """\
rooms:
  family:
    id: "room-family@chatroom"
    quiet_hours: {{from: "{family_from}", to: "{family_to}"}}
  ops:
    id: "room-ops@chatroom"
    quiet_hours: {{from: "{ops_from}", to: "{ops_to}", then: drop}}
routes:
  - name: notes-family
    topic: "notes/family"
    rooms: [family]
    template: "{{{{ payload.text }}}}"
  - name: alarms-family
    topic: "alarms/family"
    rooms: [family]
    priority: high
    template: "🚨 {{{{ payload.text }}}}"
  - name: notes-ops
    topic: "notes/ops"
    rooms: [ops]
    template: "{{{{ payload.text }}}}"
  - name: alarms-ops
    topic: "alarms/ops"
    rooms: [ops]
    priority: high
    template: "🚨 {{{{ payload.text }}}}"
"""


def zone_with_midnight_in(seconds: float) -> tuple[str, float]:
    """A POSIX `TZ` whose local midnight comes `seconds` from now, and that moment (epoch seconds)."""
    midnight = time.time() + seconds
    utc = datetime.fromtimestamp(midnight, UTC)
    offset = round(-(utc - utc.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds())
    if offset <= -12 * 3600:
        offset += 24 * 3600
    sign = "-" if offset >= 0 else "+"  # POSIX: the sign is west of Greenwich, the opposite of ISO's
    hours, rest = divmod(abs(offset), 3600)
    return f"QTZ{sign}{hours:02}:{rest // 60:02}:{rest % 60:02}", midnight - (utc.microsecond / 1e6)


def send(listener: TestClient, kind: str, room: str, text: str) -> str:
    event_id = uuid.uuid4().hex[:8]
    listener.publish(f"{kind}/{room}", json.dumps({"id": event_id, "text": text}))
    return event_id


def health(listener: TestClient) -> dict[str, Any]:
    transaction = uuid.uuid4().hex
    listener.publish("wechat/bridge/request/health_check", json.dumps({"transaction": transaction}))
    [answer] = listener.wait_for(lambda m: m.topic == "wechat/bridge/response/health_check"
                                 and m.json().get("transaction") == transaction, what="the health_check answer")
    data: dict[str, Any] = answer.json()["data"]
    return data


def at(report: dict[str, Any]) -> float:
    return datetime.fromisoformat(report["ts"]).timestamp()


def test_a_window_across_midnight_holds_normal_messages_for_one_digest_and_lets_high_ones_through(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient) -> None:
    zone, midnight = zone_with_midnight_in(8)
    end = midnight + 10  # the family window: 23:50 to 00:00:10 local; ops is never quiet here
    body = ROUTES.format(family_from="23:50", family_to="00:00:10", ops_from="12:00", ops_to="12:01")
    start_bridge(body, env={"WECHATY_PUPPET_SERVICE_TOKEN": gateway.token, "TZ": zone})
    gateway.clear()
    assert time.time() < end - 3, "the bridge took too long to start for this window"
    held = [send(listener, "notes", "family", text) for text in ("washing machine done", "dryer done")]
    alarm = send(listener, "alarms", "family", "smoke in the kitchen")
    rang = reports(listener, [alarm])[alarm]
    assert (rang["status"], rang["room"]["id"]) == ("delivered", FAMILY)
    assert at(rang) < end
    assert health(listener)["queue"]["held"] == 2
    assert [m["text"] for m in gateway.messages() if m["room_id"] == FAMILY] == ["🚨 smoke in the kitchen"]

    released = reports(listener, held, timeout=30)
    assert [m["text"] for m in gateway.messages() if m["room_id"] == FAMILY] == [
        "🚨 smoke in the kitchen", "2 notifications:\n• washing machine done\n• dryer done"]
    assert {r["status"] for r in released.values()} == {"delivered"}
    assert len({r["digest"] for r in released.values()}) == 1
    assert min(at(r) for r in released.values()) >= end - 0.5  # not before the window's end (ts in ms)
    assert health(listener)["queue"]["held"] == 0


def test_then_drop_ends_normal_messages_dropped_with_reports_and_high_ones_go(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient) -> None:
    local = datetime.now(UTC) + timedelta(hours=8)  # Asia/Shanghai: UTC+8, no daylight saving time
    window = ((local - timedelta(hours=1)).strftime("%H:%M"), (local + timedelta(hours=1)).strftime("%H:%M"))
    body = ROUTES.format(family_from="03:00", family_to="03:01", ops_from=window[0], ops_to=window[1])
    start_bridge(body, env={"WECHATY_PUPPET_SERVICE_TOKEN": gateway.token, "TZ": "Asia/Shanghai"})
    gateway.clear()
    note = send(listener, "notes", "ops", "backup finished")
    alarm = send(listener, "alarms", "ops", "disk full")
    found = reports(listener, [note, alarm])
    assert found[note] == {"id": note, "status": "dropped", "route": "notes-ops", "topic": "notes/ops",
                           "room": {"key": "ops", "id": None, "topic": None},
                           "error": f"quiet hours ({window[0]}-{window[1]})", "ts": found[note]["ts"]}
    assert (found[alarm]["status"], found[alarm]["room"]["id"]) == ("delivered", OPS)
    assert [m["text"] for m in gateway.messages() if m["room_id"] == OPS] == ["🚨 disk full"]
    assert health(listener)["queue"]["held"] == 0
