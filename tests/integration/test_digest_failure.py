"""A digest WeChat refuses, on the real broker and mock gateway (`fail_room`).

README (Flood control, Digest): "If the digest's send fails, every folded delivery is retried (or
fails) under its own retry policy, and may be folded again." The room is paced at one send per
2 s, so events sent one by one would be at least 2 s apart: outcomes decided within a second of
each other were decided by one (digest) send.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.integration.conftest import OPS, BridgeFactory, publish, reports
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient

pytestmark = pytest.mark.integration

ROUTES = """\
rooms:
  ops: {id: "room-ops@chatroom"}
routes:
  - name: patient
    topic: "patient/+"
    rooms: [ops]
    template: "{{ payload.text }}"
    retry: {attempts: 3, backoff: 2s}
  - name: impatient
    topic: "impatient/+"
    rooms: [ops]
    template: "{{ payload.text }}"
    retry: {attempts: 1}
  - name: doomed
    topic: "doomed/+"
    rooms: [ops]
    template: "{{ payload.text }}"
    retry: {attempts: 2, backoff: 500ms}
"""

#: One send per 2 s into a room, so a backlog builds up; more than 3 waiting fold into a digest.
PACING = "{min_gap: 0, jitter: 0, global_limit: 100, room_limit: 1, period: 2s, digest: {threshold: 3}}"

REFUSED = "WeChat refused the message: Error: mock gateway: sending to room-ops@chatroom fails (fail_room)"
OPS_REF = {"key": "ops", "id": OPS, "topic": "Ops"}


def spread(found: list[dict[str, Any]]) -> float:
    """Seconds between the first and the last of these reports' `ts`."""
    times = [datetime.fromisoformat(r["ts"]) for r in found]
    return (max(times) - min(times)).total_seconds()


def pace_the_room(listener: TestClient) -> None:
    """One event sent alone: the room's bucket is empty for 2 s, so what comes next waits and folds."""
    first = publish(listener, "patient/ops", ["event 0"])
    [report] = reports(listener, first).values()
    assert (report["status"], report["error"]) == ("delivered", None), report
    assert "digest" not in report


def test_a_refused_digest_fails_or_retries_each_event_by_its_route_and_the_retry_folds_again(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient) -> None:
    bridge = start_bridge(ROUTES, pacing=PACING)
    gateway.clear()
    pace_the_room(listener)
    gateway.fail_room(OPS)
    try:
        patient = publish(listener, "patient/ops", ["p1", "p2"])
        impatient = publish(listener, "impatient/ops", ["i1"])
        patient += publish(listener, "patient/ops", ["p3"])
        impatient += publish(listener, "impatient/ops", ["i2"])
        patient += publish(listener, "patient/ops", ["p4", "p5"])
        # The seven fold into one digest, which fails: the routes without retries end at once...
        failed = reports(listener, impatient, timeout=15)
        gateway.fail_room(OPS, False)  # ...and the room recovers before the others' retry (2 s)
        for event_id in impatient:
            assert failed[event_id] == {
                "id": event_id, "status": "failed", "route": "impatient", "topic": "impatient/ops",
                "room": OPS_REF, "error": f"gave up after 1 attempt(s); last error: {REFUSED}",
                "ts": failed[event_id]["ts"]}  # and no `digest`: that is only in delivered reports
        assert spread(list(failed.values())) < 1.0, "i1 and i2 were refused by one digest send"
        for event_id in patient:
            assert (f"delivery {event_id} to room 'ops': attempt 1 of 3 failed: {REFUSED}; retrying in 2.0 s"
                    in bridge.log())

        delivered = reports(listener, patient, timeout=15)
    finally:
        gateway.fail_room(OPS, False)
    sent = [m["text"] for m in gateway.messages() if m["room_id"] == OPS]
    assert sent == ["event 0", "5 notifications:\n" + "\n".join(f"\u2022 p{i}" for i in range(1, 6))]
    assert {(r["status"], r["error"], r["room"]["id"]) for r in delivered.values()} == {("delivered", None, OPS)}
    digests = {r["digest"] for r in delivered.values()}
    assert len(digests) == 1 and digests.pop().isdigit(), delivered
    for event_id in patient:
        assert f"delivered {event_id} to room 'ops'" not in bridge.log()  # not one by one: as the digest


def test_a_digest_refused_at_every_attempt_ends_each_folded_event_failed_with_its_own_report(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient) -> None:
    bridge = start_bridge(ROUTES, pacing=PACING)
    gateway.clear()
    pace_the_room(listener)
    gateway.fail_room(OPS)
    try:
        doomed = publish(listener, "doomed/ops", [f"d{i}" for i in range(1, 5)])
        found = reports(listener, doomed, timeout=20)
    finally:
        gateway.fail_room(OPS, False)
    for event_id in doomed:
        assert found[event_id] == {
            "id": event_id, "status": "failed", "route": "doomed", "topic": "doomed/ops", "room": OPS_REF,
            "error": f"gave up after 2 attempt(s); last error: {REFUSED}", "ts": found[event_id]["ts"]}
        assert f"delivery {event_id} to room 'ops': attempt 1 of 2 failed: {REFUSED}" in bridge.log()
    # The retries folded again into one digest: sent one by one they would end 2 s apart.
    assert spread(list(found.values())) < 1.0, [r["ts"] for r in found.values()]
    assert [m["text"] for m in gateway.messages() if m["room_id"] == OPS] == ["event 0"]
