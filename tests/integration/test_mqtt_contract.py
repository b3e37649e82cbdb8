"""The bridge's own topics, as a Home Assistant or zigbee2mqtt user would read them off the broker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import EMPTY_QUEUE, WORLD, BridgeFactory
from tests.support import mqtt_client
from tests.support.broker import MosquittoBroker
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import Received, TestClient
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

ROOMS = """\
rooms:
  family: {topic: "Happy Family"}
  ops: {id: "room-ops@chatroom"}
  twins: {topic: "Twins"}
  gone: {topic: "No Such Room"}
routes:
  - name: door
    topic: "home/{area}/door"
    rooms: [family]
    template: "Door {{ area }}: {{ payload.state }}"
"""

EXPECTED_ROOMS = [
    {"id": "room-family@chatroom", "topic": "Happy Family", "member_count": 3, "key": "family"},
    {"id": "room-ops@chatroom", "topic": "Ops", "member_count": 2, "key": "ops"},
    {"id": "room-twin-a@chatroom", "topic": "Twins", "member_count": 2, "key": None},
    {"id": "room-twin-b@chatroom", "topic": "Twins", "member_count": 2, "key": None},
    {"id": "room-laojia@chatroom", "topic": "老家群", "member_count": 2, "key": None},
]
UNRESOLVED = [
    {"key": "gone", "reason": "room 'gone': the account is in no room named 'No Such Room'"},
    {"key": "twins", "reason": "room 'twins': 2 rooms are named 'Twins' (room-twin-a@chatroom, "
                               "room-twin-b@chatroom); configure it by id instead"},
]


def retained(broker: MosquittoBroker, topic: str, predicate: Any = None, timeout: float = 15.0) -> Any:
    """What a client that subscribes now gets as the retained message on `topic` (once it matches)."""
    def check() -> list[Any] | None:
        found = mqtt_client.retained(broker.host, broker.port, topic).get(topic)
        if found is None:
            return None
        value = json.loads(found)
        return [value] if predicate is None or predicate(value) else None
    return wait_for(check, timeout=timeout, what=f"a retained message on {topic} matching the expectation",
                    detail=lambda: repr(mqtt_client.retained(broker.host, broker.port, topic)))[0]


def request(listener: TestClient, name: str, body: Any, *, raw: bytes | None = None) -> dict[str, Any]:
    topic = f"wechat/bridge/response/{name}"
    before = len(listener.messages(topic))
    listener.publish(f"wechat/bridge/request/{name}", raw if raw is not None else json.dumps(body))
    found = listener.wait_for(lambda m: m.topic == topic, count=before + 1, what=f"response on {topic}")
    response: dict[str, Any] = found[before].json()
    assert not found[before].retain
    return response


def is_event(message: Received, kind: str) -> bool:
    return message.topic == "wechat/bridge/event" and message.json()["type"] == kind


@pytest.fixture
def own_gateway() -> Iterator[MockGateway]:
    """A gateway of the test's own, for tests that change the WeChat world."""
    gw = MockGateway().start(WORLD)
    yield gw
    gw.stop()


def test_retained_status_topics_after_start_up(start_bridge: BridgeFactory, broker: MosquittoBroker) -> None:
    bridge = start_bridge(ROOMS)
    assert retained(broker, "wechat/bridge/state") == {"state": "online"}
    assert retained(broker, "wechat/bridge/login") == {
        "state": "logged_in", "user": {"id": "bot", "name": "Bridge Bot"}}
    assert retained(broker, "wechat/bridge/rooms") == EXPECTED_ROOMS
    info = retained(broker, "wechat/bridge/info")
    assert isinstance(info.pop("uptime"), int)
    assert info.pop("started").endswith("Z")
    assert info == {
        "version": info["version"], "login": "logged_in", "routes": 1,
        "rooms": {"configured": 4, "resolved": 2, "unresolved": UNRESOLVED},
        "queue": EMPTY_QUEUE, "fallback": None,  # no `fallback` section
        "ilink": None,  # no room uses the official bot
    }
    assert info["version"]
    # `run` says what it is doing, one line per step, and why a room is unusable.
    for line in ("MQTT: connected to the broker at 127.0.0.1:", "WeChat: connecting to the gateway at 127.0.0.1:",
                 "WeChat: logged in as Bridge Bot", "WeChat: 2 of 4 configured rooms resolved (5 rooms in the account)",
                 "room 'gone': the account is in no room named 'No Such Room'"):
        assert line in bridge.log()


def test_last_will_when_the_bridge_is_killed(start_bridge: BridgeFactory, broker: MosquittoBroker) -> None:
    bridge = start_bridge(ROOMS)
    assert retained(broker, "wechat/bridge/state") == {"state": "online"}
    bridge.kill()
    assert retained(broker, "wechat/bridge/state", lambda s: s["state"] == "offline") == {"state": "offline"}


def test_clean_shutdown_publishes_offline(start_bridge: BridgeFactory, broker: MosquittoBroker) -> None:
    bridge = start_bridge(ROOMS)
    assert retained(broker, "wechat/bridge/state") == {"state": "online"}
    assert bridge.stop() == 0
    assert retained(broker, "wechat/bridge/state", lambda s: s["state"] == "offline") == {"state": "offline"}


def test_status_is_published_again_after_a_broker_restart(start_bridge: BridgeFactory) -> None:
    own = MosquittoBroker(persistence=False).start()
    try:
        start_bridge(ROOMS, broker_=own)
        assert retained(own, "wechat/bridge/login")["state"] == "logged_in"
        own.restart()  # without persistence the broker forgets every retained message
        assert retained(own, "wechat/bridge/state") == {"state": "online"}
        assert retained(own, "wechat/bridge/login")["state"] == "logged_in"
        assert retained(own, "wechat/bridge/rooms") == EXPECTED_ROOMS
        assert retained(own, "wechat/bridge/info")["login"] == "logged_in"
    finally:
        own.close()


def test_room_renamed_and_room_joined_show_in_rooms_and_events(
        start_bridge: BridgeFactory, own_gateway: MockGateway, listener: TestClient, broker: MosquittoBroker) -> None:
    start_bridge(ROOMS, gateway_=own_gateway)
    own_gateway.rename_room("room-ops@chatroom", "Ops Team", changer_id="bob")
    [renamed] = listener.wait_for(lambda m: is_event(m, "room_topic"), what="room_topic event")
    assert renamed.json() == {"type": "room_topic", "data": {
        "room": {"id": "room-ops@chatroom", "topic": "Ops Team"}, "old_topic": "Ops", "new_topic": "Ops Team"}}
    rooms = retained(broker, "wechat/bridge/rooms", lambda r: any(x["topic"] == "Ops Team" for x in r))
    assert {"id": "room-ops@chatroom", "topic": "Ops Team", "member_count": 2, "key": "ops"} in rooms

    own_gateway.add_room("room-new@chatroom", "Garden Club", members=["alice"], inviter_id="alice")
    [joined] = listener.wait_for(lambda m: is_event(m, "room_join"), what="room_join event")
    assert joined.json() == {"type": "room_join", "data": {
        "room": {"id": "room-new@chatroom", "topic": "Garden Club"},
        "invited_ids": ["bot"], "inviter_id": "alice"}}
    rooms = retained(broker, "wechat/bridge/rooms", lambda r: len(r) == 6)
    assert {"id": "room-new@chatroom", "topic": "Garden Club", "member_count": 2, "key": None} in rooms


def test_logout_and_login_are_published(
        start_bridge: BridgeFactory, own_gateway: MockGateway, listener: TestClient, broker: MosquittoBroker) -> None:
    start_bridge(ROOMS, gateway_=own_gateway)
    own_gateway.logout()
    login = retained(broker, "wechat/bridge/login", lambda s: s["state"] == "logged_out")
    assert login["state"] == "logged_out" and login["reason"]
    own_gateway.login()
    assert retained(broker, "wechat/bridge/login", lambda s: s["state"] == "logged_in") == {
        "state": "logged_in", "user": {"id": "bot", "name": "Bridge Bot"}}
    events = listener.wait_for(lambda m: is_event(m, "logout") or is_event(m, "login"), count=3,
                               what="login, logout and login events")
    assert [m.json()["type"] for m in events] == ["login", "logout", "login"]
    assert events[1].json()["data"]["reason"] == login["reason"]


class TestRequests:
    @pytest.fixture(autouse=True)
    def _bridge(self, start_bridge: BridgeFactory, gateway: MockGateway) -> None:
        self.bridge = start_bridge(ROOMS)
        gateway.clear()

    def test_rooms(self, listener: TestClient) -> None:
        assert request(listener, "rooms", {"transaction": "t-1"}) == {
            "status": "ok", "data": EXPECTED_ROOMS, "transaction": "t-1"}
        assert request(listener, "rooms", {}) == {"status": "ok", "data": EXPECTED_ROOMS}
        assert request(listener, "rooms", None, raw=b"") == {"status": "ok", "data": EXPECTED_ROOMS}

    def test_send(self, listener: TestClient, gateway: MockGateway) -> None:
        assert request(listener, "send", {"room": "family", "text": "From a request", "id": "req-1",
                                          "transaction": 7}) == {
            "status": "ok", "data": {"id": "req-1", "room": "family", "status": "queued"}, "transaction": 7}
        [report] = listener.wait_for(lambda m: m.topic == "wechat/bridge/delivery", what="delivery report")
        assert (report.json()["id"], report.json()["status"], report.json()["topic"]) == (
            "req-1", "delivered", "wechat/bridge/request/send")
        assert [(m["room_id"], m["text"]) for m in gateway.messages()] == [("room-family@chatroom", "From a request")]

        response = request(listener, "send", {"room": "ops", "text": "no transaction"})
        assert response["status"] == "ok" and "transaction" not in response

    def test_send_errors(self, listener: TestClient) -> None:
        assert request(listener, "send", {"room": "nope", "text": "x", "transaction": "t"}) == {
            "status": "error", "error": "unknown room key 'nope' (known: family, gone, ops, twins)", "transaction": "t"}
        assert request(listener, "send", {"text": "x"}) == {
            "status": "error", "error": 'a send request needs "room" (a room key) and "text", both strings'}

    def test_health_check(self, listener: TestClient) -> None:
        expected = {"healthy": True, "broker": {"connected": True},
                    "wechat": {"state": "logged_in", "reason": None, "user": "Bridge Bot"}, "queue": EMPTY_QUEUE}
        assert request(listener, "health_check", {"transaction": "h"}) == {
            "status": "ok", "data": expected, "transaction": "h"}
        assert request(listener, "health_check", {}) == {"status": "ok", "data": expected}

    def test_malformed_and_unknown_requests_get_an_error_response(self, listener: TestClient) -> None:
        bad = request(listener, "rooms", None, raw=b"{not json")
        assert bad["status"] == "error" and bad["error"].startswith("the request is not valid JSON: ")
        assert request(listener, "rooms", None, raw=b"[1, 2]") == {
            "status": "error", "error": 'the request must be a JSON object, such as {"transaction": "1"}'}
        assert request(listener, "bogus", {"transaction": "b"}) == {
            "status": "error", "error": "unknown request 'bogus' (known: health_check, reload, rooms, send)",
            "transaction": "b"}
        assert request(listener, "health_check", {})["status"] == "ok"  # still serving

    def test_reload_good_then_broken(self, listener: TestClient, gateway: MockGateway) -> None:
        config: Path = self.bridge.config_path
        good = config.read_text().replace("routes:\n", """routes:
  - name: backup
    topic: "scripts/backup"
    rooms: [ops]
    template: "Backup {{ payload }}"
""")
        config.write_text(good)
        assert request(listener, "reload", {"transaction": "r1"}) == {
            "status": "ok", "data": {"routes": 2, "rooms": 4}, "transaction": "r1"}
        listener.publish("scripts/backup", "done")
        assert gateway.wait_for_messages(1)[0]["text"] == "Backup done"

        broken = good.replace('"Backup {{ payload }}"', '"Backup {{ payload "')
        config.write_text(broken)
        line = broken.splitlines().index('    template: "Backup {{ payload "') + 1
        response = request(listener, "reload", {})
        assert response["status"] == "error"
        assert response["error"] == (
            f"the new config was not loaded: {config}:{line}: routes[0].template: "
            "template syntax error on its line 1: unexpected end of template, expected 'end of print statement'.")
        listener.publish("scripts/backup", "still works")  # the running config is untouched
        assert [m["text"] for m in gateway.wait_for_messages(2)] == ["Backup done", "Backup still works"]
