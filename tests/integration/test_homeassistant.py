"""Home Assistant MQTT discovery, read off the real broker as Home Assistant would read it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.integration.conftest import BridgeFactory, publish, reports
from tests.integration.test_mqtt_contract import request
from tests.support.bridge_process import BridgeProcess
from tests.support.broker import MosquittoBroker
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient, retained
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

ROOMS = """\
rooms:
  family: {topic: "Happy Family"}
  ops: {id: "room-ops@chatroom"}
"""

# --- Home Assistant's discovery schema, per platform ---------------------------------------------
# Taken from home-assistant/core homeassistant/components/mqtt: config.py (MQTT_BASE_SCHEMA,
# MQTT_RO_SCHEMA), schemas.py (MQTT_ENTITY_COMMON_SCHEMA with the availability schemas,
# MQTT_ENTITY_DEVICE_INFO_SCHEMA, MQTT_ORIGIN_INFO_SCHEMA), notify.py, binary_sensor.py, sensor.py
# and image.py (PLATFORM_SCHEMA_MODERN / DISCOVERY_SCHEMA). Discovery drops unknown keys silently
# (vol.REMOVE_EXTRA), which is exactly why a misspelt key must be caught here.
BASE = {"qos", "encoding"}
COMMON = {
    "availability_topic", "availability_template", "payload_available", "payload_not_available",
    "availability_mode", "availability",
    "device", "entity_picture", "origin", "enabled_by_default", "entity_category", "icon",
    "json_attributes_topic", "json_attributes_template", "default_entity_id", "unique_id",
}
READ_ONLY = {"state_topic", "value_template"}
PLATFORM_KEYS: dict[str, set[str]] = {
    "notify": BASE | COMMON | {"command_topic", "command_template", "name", "retain"},
    "binary_sensor": BASE | COMMON | READ_ONLY | {
        "device_class", "expire_after", "force_update", "name", "off_delay", "payload_off", "payload_on"},
    "sensor": BASE | COMMON | READ_ONLY | {
        "device_class", "expire_after", "force_update", "last_reset_value_template", "name", "options",
        "suggested_display_precision", "state_class", "unit_of_measurement"},
    "image": BASE | COMMON | {"content_type", "name", "url_topic", "image_topic", "image_encoding", "url_template"},
}
REQUIRED: dict[str, set[str]] = {
    "notify": {"command_topic"},
    "binary_sensor": {"state_topic"},
    "sensor": {"state_topic"},
    "image": set(),  # one of image_topic / url_topic, checked below
}
DEVICE_KEYS = {"identifiers", "connections", "manufacturer", "model", "model_id", "name", "hw_version",
               "serial_number", "sw_version", "via_device", "suggested_area", "configuration_url"}
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
ENTITY_CATEGORIES = {"config", "diagnostic"}


def node_of(bridge: BridgeProcess) -> str:
    client_id: str = yaml.safe_load(bridge.config_path.read_text())["mqtt"]["client_id"]
    return client_id  # the test client ids hold only letters, digits and '-'


def retained_under(broker: MosquittoBroker, topic_filter: str, count: int | None = None) -> dict[str, bytes]:
    """Every retained message a new subscriber to `topic_filter` gets (once there are `count`): topic -> payload."""
    if count is None:
        return retained(broker.host, broker.port, topic_filter)
    return wait_for(lambda: found if len(found := retained(broker.host, broker.port, topic_filter)) >= count else None,
                    timeout=15, what=f"{count} retained messages under {topic_filter}")


def settled(broker: MosquittoBroker, topic_filter: str, predicate: Callable[[dict[str, bytes]], bool],
            timeout: float = 15.0) -> dict[str, bytes]:
    """The retained messages under `topic_filter` once `predicate` holds for them (the bridge queues a
    clean-up with the response or the log line that announces it, a moment before the broker has it)."""
    def check() -> list[dict[str, bytes]] | None:
        found = retained(broker.host, broker.port, topic_filter)
        return [found] if predicate(found) else None
    return wait_for(check, timeout=timeout, what=f"the retained messages under {topic_filter} to settle",
                    detail=lambda: "\n".join(sorted(retained(broker.host, broker.port, topic_filter))))[0]


def discovery_configs(broker: MosquittoBroker, node: str, count: int) -> dict[str, dict[str, Any]]:
    found = retained_under(broker, f"homeassistant/+/{node}/+/config", count)
    return {topic: json.loads(payload) for topic, payload in found.items()}


def check_schema(topic: str, config: dict[str, Any]) -> None:
    component = topic.split("/")[1]
    allowed = PLATFORM_KEYS[component]
    assert set(config) <= allowed, f"{topic}: keys HA does not know: {sorted(set(config) - allowed)}"
    assert REQUIRED[component] <= set(config), f"{topic}: missing {sorted(REQUIRED[component] - set(config))}"
    if component == "image":
        assert ("image_topic" in config) != ("url_topic" in config)
    assert "object_id" not in config  # deprecated in HA 2025.10 for default_entity_id
    assert config["default_entity_id"].startswith(f"{component}.")
    assert config["unique_id"] and config["name"]
    assert set(config["device"]) <= DEVICE_KEYS and config["device"]["identifiers"]
    assert set(config["origin"]) <= ORIGIN_KEYS and config["origin"]["name"]
    assert config.get("entity_category", "diagnostic") in ENTITY_CATEGORIES
    assert ("options" in config) == (config.get("device_class") == "enum")
    assert not ("availability" in config and "availability_topic" in config)


def test_discovery_follows_ha_schema_and_notify_sends_to_the_room(
        start_bridge: BridgeFactory, broker: MosquittoBroker, gateway: MockGateway, listener: TestClient) -> None:
    bridge = start_bridge(ROOMS)
    gateway.clear()
    node = node_of(bridge)
    configs = discovery_configs(broker, node, count=8)
    assert sorted(configs) == sorted(f"homeassistant/{c}/{node}/{o}/config" for c, o in [
        ("notify", "room_family"), ("notify", "room_ops"), ("binary_sensor", "connection"), ("sensor", "login"),
        ("sensor", "queue_depth"), ("sensor", "last_delivery"), ("sensor", "last_delivery_time"),
        ("image", "login_qr_code")])
    for topic, config in configs.items():
        check_schema(topic, config)
    assert len({c["unique_id"] for c in configs.values()}) == len(configs)
    assert len({json.dumps(c["device"], sort_keys=True) for c in configs.values()}) == 1  # one device
    for topic, config in configs.items():
        if "connection" not in topic:  # the connectivity sensor itself must read off, not unavailable
            assert config["availability_topic"] == "wechat/bridge/state"

    family = configs[f"homeassistant/notify/{node}/room_family/config"]
    assert (family["name"], family["command_topic"], family["default_entity_id"]) == (
        "Happy Family", "wechat/send/family", "notify.wechat_family")
    # notify.send_message: HA publishes the message text, as is, to command_topic.
    listener.publish(family["command_topic"], "洗衣机洗好了 🧺 (washer done)")
    assert [(m["room_id"], m["text"]) for m in gateway.wait_for_messages(1)] == [
        ("room-family@chatroom", "洗衣机洗好了 🧺 (washer done)")]

    image = configs[f"homeassistant/image/{node}/login_qr_code/config"]
    picture = retained_under(broker, image["image_topic"], count=1)[image["image_topic"]]
    assert picture.startswith(b"<svg") and b"Logged in as Bridge Bot" in picture
    login = configs[f"homeassistant/sensor/{node}/login/config"]
    assert json.loads(retained_under(broker, login["state_topic"], count=1)[login["state_topic"]])[
        "state"] == "logged_in"


def test_ha_birth_message_republishes_discovery(start_bridge: BridgeFactory, broker: MosquittoBroker) -> None:
    node = node_of(start_bridge(ROOMS))
    discovery_configs(broker, node, count=8)
    watcher = TestClient(broker.host, broker.port, [f"homeassistant/+/{node}/+/config"])
    try:
        watcher.wait_for(lambda m: m.retain, count=8, what="retained configs")
        watcher.publish("homeassistant/status", "online")
        again = watcher.wait_for(lambda m: not m.retain and bool(m.payload), count=8, what="re-published configs")
        assert len({m.topic for m in again}) == 8
    finally:
        watcher.close()


def test_reload_removes_the_entity_of_a_removed_room(
        start_bridge: BridgeFactory, broker: MosquittoBroker, listener: TestClient) -> None:
    bridge = start_bridge(ROOMS)
    node = node_of(bridge)
    ops = f"homeassistant/notify/{node}/room_ops/config"
    assert ops in discovery_configs(broker, node, count=8)
    bridge.config_path.write_text(bridge.config_path.read_text().replace('  ops: {id: "room-ops@chatroom"}\n', ""))
    assert request(listener, "reload", {})["status"] == "ok"
    # The clean-up is queued with the reload's response: a subscriber right after it may still get it.
    after = settled(broker, f"homeassistant/+/{node}/+/config", lambda found: ops not in found)
    assert ops not in after and f"homeassistant/notify/{node}/room_family/config" in after
    assert len(after) == 7


def test_restart_clears_stale_configs_and_discovery_off_clears_all(
        start_bridge: BridgeFactory, broker: MosquittoBroker) -> None:
    bridge = start_bridge(ROOMS + '  garden: {topic: "Garden Club"}\n')
    node = node_of(bridge)
    assert f"homeassistant/notify/{node}/room_garden/config" in discovery_configs(broker, node, count=9)
    assert bridge.stop() == 0
    producer = TestClient(broker.host, broker.port)
    try:
        # A leftover of an older version of this bridge, and another device's config that must stay.
        producer.publish(f"homeassistant/sensor/{node}/old_thing/config", '{"name": "old"}', retain=True)
        producer.publish("homeassistant/sensor/someone-else/thing/config", '{"name": "theirs"}', retain=True)
        bridge.config_path.write_text(bridge.config_path.read_text().replace('  garden: {topic: "Garden Club"}\n', ""))
        bridge.start(wait_ready=True)
        after = settled(broker, f"homeassistant/+/{node}/+/config", lambda found: len(found) == 8)
        assert f"homeassistant/notify/{node}/room_garden/config" not in after
        assert f"homeassistant/sensor/{node}/old_thing/config" not in after
        assert "homeassistant/sensor/someone-else/thing/config" in retained_under(
            broker, "homeassistant/sensor/someone-else/+/config", count=1)

        assert bridge.stop() == 0
        bridge.config_path.write_text(bridge.config_path.read_text() + "homeassistant: {discovery: false}\n")
        bridge.start(wait_ready=True)
        assert settled(broker, f"homeassistant/+/{node}/+/config", lambda found: not found) == {}
    finally:
        producer.publish("homeassistant/sensor/someone-else/thing/config", "", retain=True)
        producer.close()


CLOSED_OPS = ROOMS.replace('ops: {id: "room-ops@chatroom"}', 'ops: {id: "room-ops@chatroom", allow_direct: false}')


def test_a_room_without_direct_sends_gets_no_notify_entity_and_reload_removes_a_stale_one(
        start_bridge: BridgeFactory, broker: MosquittoBroker, listener: TestClient) -> None:
    """notify.send_message on `ops` would succeed in HA while the bridge rejects it (allow_direct: false):
    so `ops` has no notify entity, a reload that closes it removes it, and one that opens it adds it."""
    bridge = start_bridge(CLOSED_OPS)
    node = node_of(bridge)
    ops, family = f"homeassistant/notify/{node}/room_ops/config", f"homeassistant/notify/{node}/room_family/config"
    configs = discovery_configs(broker, node, count=7)
    assert ops not in configs and family in configs and len(configs) == 7

    bridge.config_path.write_text(bridge.config_path.read_text().replace(", allow_direct: false}", "}"))
    assert request(listener, "reload", {})["status"] == "ok"
    assert ops in settled(broker, f"homeassistant/+/{node}/+/config", lambda found: ops in found)

    bridge.config_path.write_text(bridge.config_path.read_text().replace(
        'ops: {id: "room-ops@chatroom"}', 'ops: {id: "room-ops@chatroom", allow_direct: false}'))
    assert request(listener, "reload", {})["status"] == "ok"
    after = settled(broker, f"homeassistant/+/{node}/+/config", lambda found: ops not in found)
    assert ops not in after and family in after and len(after) == 7


THROTTLED = ROOMS + """\
routes:
  - {name: plug, topic: "ha/plug", rooms: [family], template: "plug {{ payload.id }}",
     throttle: {period: 5m, key: "plug"}}
  - {name: short, topic: "ha/short", rooms: [family], template: "short {{ payload.id }}", expire_after: 1s}
"""


def test_the_last_delivery_sensor_offers_every_status_the_bridge_reports(
        start_bridge: BridgeFactory, broker: MosquittoBroker, gateway: MockGateway, listener: TestClient) -> None:
    """HA ignores an enum state outside `options` and keeps the previous one: `dropped` (throttle) and
    `expired` (expire_after) must be options like `delivered` and `rejected`."""
    bridge = start_bridge(THROTTLED)
    node = node_of(bridge)
    sensor = discovery_configs(broker, node, count=8)[f"homeassistant/sensor/{node}/last_delivery/config"]
    assert sensor["value_template"] == "{{ value_json.status }}"
    first, second = publish(listener, "ha/plug", ["x"])[0], publish(listener, "ha/plug", ["y"])[0]
    got = reports(listener, [first, second])
    gateway.logout()
    try:
        listener.wait_for(lambda m: m.topic == "wechat/bridge/login" and m.json()["state"] == "logged_out",
                          what="logged out")
        late = publish(listener, "ha/short", ["w"])[0]
        got |= reports(listener, [late])
    finally:
        gateway.login()
    statuses = {got[first]["status"], got[second]["status"], got[late]["status"]}
    assert statuses == {"delivered", "dropped", "expired"}, got
    for status in statuses | {"rejected", "failed"}:
        assert status in sensor["options"], f"HA would log 'Ignoring invalid option ... got {status!r}'"
