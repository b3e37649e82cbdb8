"""Messages people write in WeChat rooms, published on MQTT for automations to react to."""

from __future__ import annotations

import pytest

from tests.integration.conftest import BridgeFactory
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient

pytestmark = pytest.mark.integration

ROOMS = """\
rooms:
  family: {topic: "Happy Family", listen: true}
  ops: {id: "room-ops@chatroom", listen: {match: "^/", mentioned_only: false}}
  laojia: {id: "room-laojia@chatroom", listen: {mentioned_only: true}}
  twin: {id: "room-twin-a@chatroom"}
"""


def test_listening_rooms_publish_what_people_write(
        start_bridge: BridgeFactory, gateway: MockGateway, broker: object) -> None:
    start_bridge(ROOMS)
    client = TestClient("127.0.0.1", broker.port, ["wechat/rooms/#"])  # type: ignore[attr-defined]
    try:
        message_id = gateway.say("room-family@chatroom", "alice", "/status please")
        [received] = client.wait_for(lambda m: True, what="the family message")
        assert received.topic == "wechat/rooms/family/message"
        body = received.json()
        assert body.pop("ts").endswith("Z")
        assert body == {"id": message_id,
                        "room": {"key": "family", "id": "room-family@chatroom", "topic": "Happy Family"},
                        "from": {"id": "alice", "name": "Alice"}, "text": "/status please", "type": "text",
                        "mentioned_me": False}

        gateway.say("room-ops@chatroom", "bob", "just chatting")  # filtered out: does not match ^/
        gateway.say("room-laojia@chatroom", "alice", "hello all")  # filtered out: not mentioning the bot
        gateway.say("room-twin-a@chatroom", "alice", "/ignored")  # not listening
        gateway.say("room-laojia@chatroom", "alice", "@Bridge Bot are you there?", mention_ids=["bot"])
        gateway.say("room-ops@chatroom", "bob", "/restart nas")
        # The bridge's own messages come back from WeChat as messages too: they are not echoed.
        client.publish("wechat/send/family", "the bot speaking")
        gateway.wait_for_messages(1)
        gateway.say("room-family@chatroom", "bob", "last one")
        found = client.wait_for(lambda m: True, count=4, what="four messages")
        assert [(m.topic, m.json()["text"], m.json()["mentioned_me"]) for m in found] == [
            ("wechat/rooms/family/message", "/status please", False),
            ("wechat/rooms/laojia/message", "@Bridge Bot are you there?", True),
            ("wechat/rooms/ops/message", "/restart nas", False),
            ("wechat/rooms/family/message", "last one", False),
        ]
        assert all(not m.retain for m in found)
    finally:
        client.close()
