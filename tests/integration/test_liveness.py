"""A frozen gateway, on the real broker and the official gateway: SIGSTOP is a dead host or a
silent NAT (no FIN, no RST). The bridge must notice it within seconds, never pile up retries on
the frozen connection, and be delivering again soon after the thaw.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from typing import Any

import pytest

from tests.integration.conftest import DELIVERY, OPS, WORLD, BridgeFactory
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient

pytestmark = pytest.mark.integration

LOGIN = "wechat/bridge/login"
ROUTES = """\
rooms:
  ops: {id: "room-ops@chatroom"}
routes:
  - name: alarm
    topic: "liveness/alarm"
    rooms: [ops]
    template: "evt {{ payload.id }}"
"""
FREEZE_SECONDS = 60


def login_states(listener: TestClient) -> list[dict[str, Any]]:
    return [m.json() for m in listener.messages(LOGIN)]


def wait_login(listener: TestClient, predicate: Any, *, after: int, timeout: float, what: str) -> dict[str, Any]:
    """The first login state published after the first `after` ones that matches `predicate`."""
    seen = sum(1 for state in login_states(listener)[:after] if predicate(state))
    found: dict[str, Any] = listener.wait_json(LOGIN, predicate, count=seen + 1, timeout=timeout, what=what)
    return found


def delivered(listener: TestClient, event_id: str, timeout: float) -> dict[str, Any]:
    [report] = listener.wait_for(lambda m: m.topic == DELIVERY and m.json()["id"] == event_id, timeout=timeout,
                                 what=f"the report of {event_id}")
    return report.json()  # type: ignore[no-any-return]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_frozen_gateway_is_noticed_and_an_event_sent_meanwhile_arrives_at_most_twice(
        start_bridge: BridgeFactory, listener: TestClient) -> None:
    gw = MockGateway().start(WORLD)
    run = uuid.uuid4().hex[:6]
    try:
        bridge = start_bridge(ROUTES, gateway_=gw)
        gw.clear()
        listener.publish("liveness/alarm", json.dumps({"id": f"before-{run}"}))
        assert delivered(listener, f"before-{run}", 15)["status"] == "delivered"
        assert gw.pid is not None

        before_freeze = len(login_states(listener))
        os.kill(gw.pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        try:
            listener.publish("liveness/alarm", json.dumps({"id": f"frozen-{run}"}))
            lost = wait_login(listener, lambda s: s["state"] != "logged_in", after=before_freeze, timeout=10,
                              what="bridge/login leaving logged_in")
            noticed = time.monotonic() - frozen_at
            assert noticed < 10 and lost["reason"], (noticed, lost)
            time.sleep(max(FREEZE_SECONDS - (time.monotonic() - frozen_at), 0))
        finally:
            os.kill(gw.pid, signal.SIGCONT)
        thawed_at = time.monotonic()
        after_thaw = len(login_states(listener))
        wait_login(listener, lambda s: s["state"] == "logged_in", after=after_thaw, timeout=30,
                   what="logged in again after the thaw")
        listener.publish("liveness/alarm", json.dumps({"id": f"after-{run}"}))
        assert delivered(listener, f"after-{run}", 30 - (time.monotonic() - thawed_at))["status"] == "delivered"
        assert time.monotonic() - thawed_at < 30

        frozen = delivered(listener, f"frozen-{run}", 30)
        texts = [m["text"] for m in gw.messages() if m["room_id"] == OPS]
        copies = texts.count(f"evt frozen-{run}")
        # The outbox counts each send that ended in doubt: only such a send may show twice in WeChat.
        doubts = [row["doubts"] for row in bridge.outbox_rows() if row["event_id"] == f"frozen-{run}"]
        summary = (f"noticed after {noticed:.1f} s ({lost['reason']}); copies of the frozen event: {copies}; "
                   f"doubts in the outbox: {doubts}; report: {frozen}")
        assert frozen["status"] == "delivered", summary
        assert copies == 1 or (copies == 2 and doubts == [1]), summary
        assert texts.count(f"evt before-{run}") == 1 and texts.count(f"evt after-{run}") == 1, summary
        assert "Traceback" not in bridge.log(), summary
        print(f"\nfrozen gateway: {summary}")
    finally:
        gw.stop()
