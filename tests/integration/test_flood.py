"""Flood control on the real broker and mock gateway: pacing, long texts, throttle, priority."""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

import pytest

from tests.integration.conftest import BridgeFactory
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient

pytestmark = pytest.mark.integration

OPS = "room-ops@chatroom"
FAMILY = "room-family@chatroom"
DELIVERY = "wechat/bridge/delivery"

ROUTES = """\
rooms:
  ops: {id: "room-ops@chatroom"}
  family: {id: "room-family@chatroom"}
routes:
  - name: flood
    topic: "flood/+"
    rooms: [ops]
    template: "{{ payload.text }}"
"""


def reports(listener: TestClient, ids: list[str], timeout: float = 30.0) -> dict[str, dict[str, Any]]:
    wanted = set(ids)
    found = listener.wait_for(lambda m: m.topic == DELIVERY and json.loads(m.payload)["id"] in wanted,
                              count=len(ids), timeout=timeout, what="delivery reports")
    return {m.json()["id"]: m.json() for m in found}


def publish(listener: TestClient, topic: str, texts: list[str], **extra: Any) -> list[str]:
    ids = []
    for text in texts:
        event_id = uuid.uuid4().hex[:8]
        listener.publish(topic, json.dumps({"id": event_id, "text": text, **extra}))
        ids.append(event_id)
    return ids


def test_sends_into_one_room_keep_the_minimum_gap_and_all_are_delivered(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient) -> None:
    start_bridge(ROUTES, pacing="{min_gap: 300ms, jitter: 100ms, global_limit: 100, room_limit: 100}")
    gateway.clear()
    texts = [f"paced {i}" for i in range(6)]
    ids = publish(listener, "flood/ops", texts)
    found = reports(listener, ids)
    assert {r["status"] for r in found.values()} == {"delivered"}
    sent = [m for m in gateway.messages() if m["room_id"] == OPS]
    assert [m["text"] for m in sent] == texts
    gaps = [b["ts"] - a["ts"] for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 300, gaps
    assert max(gaps) < 1000, gaps


def test_room_limit_delays_without_dropping(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient) -> None:
    start_bridge(ROUTES, pacing="{min_gap: 0, jitter: 0, global_limit: 100, room_limit: 2, period: 2s}")
    gateway.clear()
    ids = publish(listener, "flood/ops", [f"limited {i}" for i in range(5)])
    found = reports(listener, ids)
    assert {r["status"] for r in found.values()} == {"delivered"}
    sent = [m for m in gateway.messages() if m["room_id"] == OPS]
    # Two at once, then one a second (2 per 2 s): the fifth starts about 3 s after the first.
    assert sent[4]["ts"] - sent[0]["ts"] >= 2900, [m["ts"] - sent[0]["ts"] for m in sent]


def test_a_long_text_arrives_as_numbered_parts_in_order(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient) -> None:
    start_bridge(ROUTES, pacing="{enabled: false, max_text_chars: 100}")
    gateway.clear()
    lines = [f"line {i:02d} " + "w" * 20 for i in range(10)]  # 28 characters each
    [event_id] = publish(listener, "flood/ops", ["\n".join(lines)])
    [report] = reports(listener, [event_id]).values()
    assert report["status"] == "delivered" and report["error"] is None
    sent = [m["text"] for m in gateway.messages() if m["room_id"] == OPS]
    assert sent == [
        "(1/4) " + "\n".join(lines[0:3]),
        "(2/4) " + "\n".join(lines[3:6]),
        "(3/4) " + "\n".join(lines[6:9]),
        "(4/4) " + lines[9],
    ]
