"""Flood control on the real broker and mock gateway: pacing, long texts, throttle, priority, digests."""

from __future__ import annotations

import itertools
import json
import re
import statistics
from typing import Any

import pytest

from tests.integration.conftest import DELIVERY, FAMILY, OPS, BridgeFactory, publish, reports
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient

pytestmark = pytest.mark.integration

#: Pacing tests that count single sends: the backlog must not fold into a digest.
NO_DIGEST = "digest: {enabled: false}"

ROUTES = """\
rooms:
  ops: {id: "room-ops@chatroom"}
  family: {id: "room-family@chatroom"}
routes:
  - name: flood
    topic: "flood/+"
    rooms: [ops]
    template: "{{ payload.text }}"
  - name: plugs
    topic: "plugs/+"
    rooms: [ops, family]
    template: "{{ payload.device }}: {{ payload.text }}"
    throttle: {period: 5m, key: "{{ payload.device }}"}
  - name: alarm
    topic: "alarm/+"
    rooms: [ops]
    priority: high
    template: "ALARM {{ payload.text }}"
"""


def test_sends_into_one_room_keep_the_minimum_gap_and_all_are_delivered(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient) -> None:
    start_bridge(ROUTES, pacing=f"{{min_gap: 300ms, jitter: 100ms, global_limit: 100, room_limit: 100, {NO_DIGEST}}}")
    gateway.clear()
    texts = [f"paced {i}" for i in range(6)]
    ids = publish(listener, "flood/ops", texts)
    found = reports(listener, ids)
    assert {r["status"] for r in found.values()} == {"delivered"}
    sent = [m for m in gateway.messages() if m["room_id"] == OPS]
    assert [m["text"] for m in sent] == texts
    gaps = [b["ts"] - a["ts"] for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 300, gaps
    # Paced, not stalled: 300-400 ms each by the settings; bounds generous for a loaded machine.
    assert statistics.median(gaps) < 1000 and max(gaps) < 3000, gaps


def test_room_limit_delays_without_dropping(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient) -> None:
    start_bridge(ROUTES, pacing=f"{{min_gap: 0, jitter: 0, global_limit: 100, room_limit: 2, period: 2s, {NO_DIGEST}}}")
    gateway.clear()
    ids = publish(listener, "flood/ops", [f"limited {i}" for i in range(5)])
    found = reports(listener, ids)
    assert {r["status"] for r in found.values()} == {"delivered"}
    sent = [m for m in gateway.messages() if m["room_id"] == OPS]
    # Two at once, then one a second (2 per 2 s): the fifth starts about 3 s after the first.
    assert sent[4]["ts"] - sent[0]["ts"] >= 2900, [m["ts"] - sent[0]["ts"] for m in sent]


def test_global_limit_spreads_sends_to_every_room_without_dropping(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient) -> None:
    start_bridge(ROUTES, pacing=f"{{min_gap: 0, jitter: 0, global_limit: 2, room_limit: 100, period: 2s, {NO_DIGEST}}}")
    gateway.clear()
    ids = [publish(listener, f"wechat/send/{room}", [f"to {room} {i}"])[0]
           for i, room in enumerate(["ops", "family", "ops", "family"])]
    found = reports(listener, ids)
    assert [found[i]["status"] for i in ids] == ["delivered"] * 4
    sent = gateway.messages()
    assert [(m["room_id"], m["text"]) for m in sent] == [
        (OPS, "to ops 0"), (FAMILY, "to family 1"), (OPS, "to ops 2"), (FAMILY, "to family 3")]
    # Two at once, then one a second (2 per 2 s) whichever room they are for: the fourth about 2 s after the first.
    assert sent[3]["ts"] - sent[0]["ts"] >= 1900, [m["ts"] - sent[0]["ts"] for m in sent]


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


def test_a_direct_send_past_the_longest_text_is_rejected_not_sent_as_parts(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient) -> None:
    start_bridge(ROUTES, pacing="{enabled: false, max_text_chars: 10000}")
    gateway.clear()
    [too_long] = publish(listener, "wechat/send/ops", ["y" * 20_001])
    [longest] = publish(listener, "wechat/send/ops", ["z" * 20_000])
    found = reports(listener, [too_long, longest])
    assert found[too_long]["status"] == "rejected"
    assert found[too_long]["error"] == "the text has 20,001 characters, more than the 20,000 a message may have"
    assert found[longest]["status"] == "delivered"
    sent = [m["text"] for m in gateway.messages() if m["room_id"] == OPS]
    assert [len(t) for t in sent] == [10_000, 10_000, 18]  # each "(i/3) " prefix counts toward the limit
    assert "".join(t.split(" ", 1)[1] for t in sent) == "z" * 20_000


def test_throttle_drops_repeats_of_a_key_within_the_period_with_a_report(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient) -> None:
    start_bridge(ROUTES)
    gateway.clear()
    ids = [publish(listener, "plugs/x", [text], device=device)[0]
           for device, text in [("plug1", "on"), ("plug1", "off"), ("plug2", "on"), ("plug1", "on again")]]
    wanted = set(ids)
    found = listener.wait_for(lambda m: m.topic == DELIVERY and json.loads(m.payload)["id"] in wanted,
                              count=8, timeout=30, what="a report per event and room")
    status: dict[tuple[str, str], dict[str, Any]] = {(m.json()["id"], m.json()["room"]["key"]): m.json()
                                                     for m in found}
    assert [status[(i, "ops")]["status"] for i in ids] == ["delivered", "dropped", "delivered", "dropped"]
    assert [status[(i, "family")]["status"] for i in ids] == ["delivered", "dropped", "delivered", "dropped"]
    error = status[(ids[1], "ops")]["error"]
    assert re.fullmatch(r"throttled: an event with key 'plug1' was let through \d+ s ago \(route throttle 5m\)",
                        error), error
    assert status[(ids[1], "ops")]["room"] == {"key": "ops", "id": None, "topic": None}
    sent = sorted(m["text"] for m in gateway.messages() if m["room_id"] == OPS)
    assert sent == ["plug1: on", "plug2: on"]


def test_a_high_priority_event_overtakes_the_waiting_normal_ones(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient) -> None:
    start_bridge(ROUTES, pacing=f"{{min_gap: 250ms, jitter: 0, global_limit: 100, room_limit: 100, {NO_DIGEST}}}")
    gateway.clear()
    normal = publish(listener, "flood/ops", [f"normal {i}" for i in range(8)])
    high = publish(listener, "alarm/x", ["water"])
    reports(listener, normal + high)
    sent = [m["text"] for m in gateway.messages() if m["room_id"] == OPS]
    at = sent.index("ALARM water")
    assert at <= 2, sent  # the burst of 8 takes 2 s; the alarm came after at most the first couple
    assert [t for t in sent if t != "ALARM water"] == [f"normal {i}" for i in range(8)]


def test_a_backlog_for_one_room_goes_out_as_one_digest_with_a_report_per_event(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient) -> None:
    # One send per 2 s into a room: the first event goes at once, the seven after it wait and fold.
    start_bridge(ROUTES, pacing="{min_gap: 0, jitter: 0, global_limit: 100, room_limit: 1, period: 2s}")
    gateway.clear()
    texts = [f"event {i}" for i in range(8)]
    first = publish(listener, "flood/ops", texts[:1])
    reports(listener, first)  # sent alone: nothing else waited when it came (the room is paced for 2 s now)
    rest = publish(listener, "flood/ops", texts[1:])
    found = reports(listener, first + rest)
    sent = [m["text"] for m in gateway.messages() if m["room_id"] == OPS]
    assert sent == ["event 0", "7 notifications:\n" + "\n".join(f"\u2022 event {i}" for i in range(1, 8))]
    assert {r["status"] for r in found.values()} == {"delivered"}
    assert "digest" not in found[first[0]]
    digests = {found[i]["digest"] for i in rest}
    assert len(digests) == 1 and digests.pop().isdigit()
    assert all(found[i]["room"] == {"key": "ops", "id": OPS, "topic": "Ops"} for i in rest)


def test_digests_hold_at_most_max_items_in_the_configured_format(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient) -> None:
    start_bridge(ROUTES, pacing="{min_gap: 0, jitter: 0, global_limit: 100, room_limit: 1, period: 2s, "
                                "digest: {threshold: 2, max_items: 3, header: 'Backlog ({count}):', item: '- {text}'}}")
    gateway.clear()
    first = publish(listener, "flood/ops", ["event 0"])
    reports(listener, first)
    rest = publish(listener, "flood/ops", [f"event {i}" for i in range(1, 8)])
    found = reports(listener, rest)
    sent = [m["text"] for m in gateway.messages() if m["room_id"] == OPS]
    # Seven waiting: three fold, then three more, and the last one, alone under the threshold, goes as it is.
    assert sent == ["event 0",
                    "Backlog (3):\n- event 1\n- event 2\n- event 3",
                    "Backlog (3):\n- event 4\n- event 5\n- event 6",
                    "event 7"]
    assert {r["status"] for r in found.values()} == {"delivered"}
    digests = [found[i].get("digest") for i in rest]
    assert digests[0] == digests[1] == digests[2] != digests[3] == digests[4] == digests[5]
    assert None not in digests[:6] and digests[6] is None
