"""The bridge in front of a real Home Assistant core, on a broker of the test's own: what HA shows.

Home Assistant runs from `.venv-ha` (scripts/setup.sh creates it where Python 3.13+ is found);
without it these tests skip and tests/integration/test_homeassistant.py checks the discovery
payloads against HA's schema alone.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from tests.integration.conftest import BridgeFactory
from tests.integration.test_homeassistant import CLOSED_OPS, node_of
from tests.integration.test_mqtt_contract import request
from tests.support.broker import MosquittoBroker
from tests.support.gateway import MockGateway
from tests.support.home_assistant import HomeAssistantCore, require_home_assistant
from tests.support.mqtt_client import TestClient

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROUTES = """\
routes:
  - {name: plug, topic: "ha/plug", rooms: [family], template: "plug {{ payload.id }}",
     throttle: {period: 5m, key: "plug"}}
  - {name: short, topic: "ha/short", rooms: [family], template: "short {{ payload.id }}", expire_after: 1s}
"""
ENTITIES = ("room_family", "connection", "login", "queue_depth", "last_delivery", "last_delivery_time",
            "login_qr_code")


@pytest.fixture
def own_broker() -> Iterator[MosquittoBroker]:
    require_home_assistant()
    broker = MosquittoBroker().start()
    yield broker
    broker.close()


@pytest.fixture
def home_assistant(own_broker: MosquittoBroker) -> Iterator[HomeAssistantCore]:
    ha = HomeAssistantCore(own_broker)
    yield ha
    ha.stop()


def test_home_assistant_shows_every_status_and_no_notify_entity_for_a_closed_room(
        start_bridge: BridgeFactory, own_broker: MosquittoBroker, gateway: MockGateway,
        home_assistant: HomeAssistantCore) -> None:
    ha = home_assistant
    bridge = start_bridge(CLOSED_OPS + ROUTES, broker_=own_broker)
    node = node_of(bridge)
    last, ops = f"{node}_last_delivery", f"{node}_room_ops"
    listener = TestClient(own_broker.host, own_broker.port, ["wechat/bridge/#"])
    try:
        # Discovery publishes the notify configs first, in room order: once the last entity is there,
        # HA has read the place where `ops` would have been.
        snap = ha.wait_until(lambda s: all(ha.state(f"{node}_{e}", s) for e in ENTITIES), what="the bridge's entities")
        assert ha.state(ops, snap) is None, "a room with allow_direct: false must have no notify entity"
        ha.wait_until(lambda s: ha.state(f"{node}_login", s) == "logged_in", what="WeChat login showing logged_in")

        def shown(event_id: str, topic: str, status: str) -> None:
            listener.publish(topic, json.dumps({"id": event_id}))
            listener.wait_for(lambda m: m.topic == "wechat/bridge/delivery" and m.json()["id"] == event_id,
                              what=f"the report of {event_id}")
            ha.wait_until(lambda s: ha.state(last, s) == status, what=f"Last delivery showing {status!r}")

        run = uuid.uuid4().hex[:6]
        shown(f"first-{run}", "ha/plug", "delivered")
        shown(f"again-{run}", "ha/plug", "dropped")  # the throttle let the first through
        gateway.logout()
        try:
            listener.wait_for(lambda m: m.topic == "wechat/bridge/login" and m.json()["state"] == "logged_out",
                              what="logged out")
            shown(f"late-{run}", "ha/short", "expired")
        finally:
            gateway.login()
        assert "Ignoring invalid option" not in ha.log()

        # A reload that opens `ops` gives it an entity; one that closes it again takes it away.
        bridge.config_path.write_text(bridge.config_path.read_text().replace(", allow_direct: false}", "}"))
        assert request(listener, "reload", {})["status"] == "ok"
        ha.wait_until(lambda s: ha.state(ops, s) is not None, what="a notify entity for ops")
        bridge.config_path.write_text(bridge.config_path.read_text().replace(
            'ops: {id: "room-ops@chatroom"}', 'ops: {id: "room-ops@chatroom", allow_direct: false}'))
        assert request(listener, "reload", {})["status"] == "ok"
        ha.wait_until(lambda s: ha.state(ops, s) is None, what="the notify entity of ops removed")
    finally:
        listener.close()
