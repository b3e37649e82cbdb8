"""Hostile and broken input through the real broker: one clear rejected report each, nothing sent, still healthy."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import WORLD, BridgeFactory
from tests.integration.test_http import TOKEN, call
from tests.integration.test_mqtt_contract import request
from tests.support.broker import free_port
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient

pytestmark = pytest.mark.integration

CONFIG = """\
limits: {max_payload_bytes: 4096}
rooms:
  family: {topic: "Happy Family"}
  ops: {id: "room-ops@chatroom", allow_direct: false}
routes:
  - {name: obj, topic: "bad/obj", rooms: [family], template: "State {{ payload.state }}"}
  - {name: math, topic: "bad/math", rooms: [family], template: "{{ payload.a / payload.b }}"}
  - {name: repeat, topic: "bad/repeat", rooms: [family], template: "{{ 'x' * payload.n }}"}
  - {name: loop, topic: "bad/loop", rooms: [family],
     template: "{% for a in payload %}{% for b in payload %}{% endfor %}{% endfor %}done"}
  - {name: width, topic: "bad/width", rooms: [family], template: "{{ 'a' | center(payload.w) }}"}
  - {name: fmt, topic: "bad/fmt", rooms: [family], template: "{{ ('%' ~ payload.w ~ 's') % 'x' }}"}
  - {name: long, topic: "bad/long", rooms: [family], template: "{% for i in range(8) %}{{ raw }}{% endfor %}"}
  - {name: when, topic: "bad/when", rooms: [family], when: "payload.level > 3", template: "High"}
  - {name: echo, topic: "odd/#", rooms: [family], template: "{{ topic }} | {{ raw }}"}
"""

NOT_UTF8 = "the payload is not UTF-8 text (invalid byte at position 0)"
DEEP = ("[" * 40 + "]" * 40).encode()
NO_STATE = "route 'obj': the template uses a value the payload does not have: '{} object' has no attribute 'state'"

#: (topic, payload, route, room key, the exact error of the rejected report)
BAD_INPUTS: list[tuple[str, bytes, str | None, str, str]] = [
    ("bad/obj", b"\xff\xfe", "obj", "family", NOT_UTF8),
    ("bad/obj", b"", "obj", "family", "the payload is empty"),
    ("bad/obj", b"   \n", "obj", "family", "the payload is empty"),
    ("bad/obj", b"x" * 5000, "obj", "family",
     "the payload is 5000 bytes, more than the 4096 bytes allowed (limits.max_payload_bytes)"),
    ("bad/obj", DEEP, "obj", "family", "the JSON payload is nested more than 32 levels deep"),
    ("bad/obj", b"[1, 2]", "obj", "family", NO_STATE.format("list")),
    ("bad/obj", b"42", "obj", "family", NO_STATE.format("int")),
    ("bad/obj", b'"just a string"', "obj", "family", NO_STATE.format("str")),
    ("bad/obj", b"{}", "obj", "family", NO_STATE.format("dict")),
    ("bad/obj", b'{"state": NaN}', "obj", "family", "the JSON payload contains NaN, which JSON does not allow"),
    ("bad/obj", b'{"state": -Infinity}', "obj", "family",
     "the JSON payload contains -Infinity, which JSON does not allow"),
    ("bad/obj", b'{"state": 1, "state": 2}', "obj", "family", "the JSON payload has the key 'state' more than once"),
    ("bad/obj", b'{"state": "open"', "obj", "family",
     "the payload starts like a JSON object but is not valid JSON: "
     "Expecting ',' delimiter: line 1 column 17 (char 16)"),
    ("bad/obj", b"a\x00b", "obj", "family", "the payload contains a NUL character"),
    ("bad/math", b'{"a": 1, "b": 0}', "math", "family",
     "route 'math': the template failed on this payload: ZeroDivisionError: division by zero"),
    ("bad/math", b'{"a": "x", "b": 2}', "math", "family",
     "route 'math': the template failed on this payload: "
     "TypeError: unsupported operand type(s) for /: 'str' and 'int'"),
    ("bad/repeat", b'{"n": 1000000000}', "repeat", "family",
     "route 'repeat': the template failed: repeating a value 1000000000 times would exceed 20000"),
    ("bad/loop", json.dumps([0] * 400).encode(), "loop", "family",
     "route 'loop': the template failed: the template ran more than 100000 loop iterations"),
    ("bad/width", b'{"w": 1000000000}', "width", "family",
     "route 'width': the template failed: a width above 1000 is not allowed"),
    ("bad/fmt", b'{"w": 999999999}', "fmt", "family",
     "route 'fmt': the template failed: a format width or precision above 1000 is not allowed"),
    ("bad/long", b"y" * 3000, "long", "family",
     "route 'long': the template produced 24000 characters, more than 20000"),
    ("bad/when", b'{"level": "high"}', "when", "family",
     "route 'when': the 'when' condition failed on this payload: TypeError: '>' not supported between instances "
     "of 'str' and 'int'"),
    ("bad/when", b'{"temperature": 3}', "when", "family",
     "route 'when': the 'when' condition uses a value the payload does not have: 'dict object' has no attribute "
     "'level'"),
    ("wechat/send/nope", b"hi", None, "nope", "unknown room key 'nope' (known: family, ops)"),
    ("wechat/send/family/extra", b"hi", None, "family/extra", "unknown room key 'family/extra' (known: family, ops)"),
    ("wechat/send/../family", b"hi", None, "../family", "unknown room key '../family' (known: family, ops)"),
    ("wechat/send", b"hi", None, "", "no room key: publish to wechat/send/<room key> (known keys: family, ops)"),
    ("wechat/send/ops", b"deploy now", None, "ops", "room 'ops' does not take direct sends (allow_direct: false)"),
    ("wechat/send/family", b'{"message": "hi"}', None, "family",
     'a JSON direct send needs a "text" field holding a string'),
    ("wechat/send/family", b'{"text": 5}', None, "family", 'a JSON direct send needs a "text" field holding a string'),
    ("wechat/send/family", b'{"text": "  "}', None, "family", "the message is empty"),
    ("wechat/send/family", b"\xc3\x28", None, "family", "the payload is not UTF-8 text (invalid byte at position 0)"),
    ("wechat/send/family", b'{"text": "a", "text": "b"}', None, "family",
     "the JSON payload has the key 'text' more than once"),
]

#: Odd but legitimate input: it must arrive exactly as sent, as data, never interpreted.
LITERAL_INPUTS = [
    ("wechat/send/family", b"{{ 7*7 }} {% for x in range(3) %}x{% endfor %}",
     "{{ 7*7 }} {% for x in range(3) %}x{% endfor %}"),
    ("odd/ä ö/☃/ /$x", b"{{ payload.__class__ }}", "odd/ä ö/☃/ /$x | {{ payload.__class__ }}"),
]


@pytest.fixture
def bridge(start_bridge: BridgeFactory, gateway: MockGateway) -> None:
    start_bridge(CONFIG)
    gateway.clear()


def test_every_bad_input_gets_one_clear_rejection_and_nothing_reaches_a_room(
        bridge: None, gateway: MockGateway, listener: TestClient) -> None:
    assert len(BAD_INPUTS) >= 30
    failures = []
    for index, (topic, payload, route, room, error) in enumerate(BAD_INPUTS):
        listener.publish(topic, payload)
        [message] = listener.wait_for(lambda m: m.topic == "wechat/bridge/delivery", count=index + 1,
                                      what=f"report for case {index}")[index:]
        report = message.json()
        got = (report["status"], report["route"], report["topic"], report["room"], report["error"])
        want = ("rejected", route, topic, {"key": room, "id": None, "topic": None}, error)
        if got != want:
            failures.append(f"case {index} ({topic} {payload[:40]!r}):\n  got  {got}\n  want {want}")
    assert not failures, "\n".join(failures)

    for topic, payload, _ in LITERAL_INPUTS:
        listener.publish(topic, payload)
    listener.wait_for(lambda m: m.topic == "wechat/bridge/delivery", count=len(BAD_INPUTS) + len(LITERAL_INPUTS))
    assert [m["text"] for m in gateway.messages()] == [text for _, _, text in LITERAL_INPUTS]
    assert {m["room_id"] for m in gateway.messages()} == {"room-family@chatroom"}

    listener.publish("wechat/bridge/request/health_check", "{}")
    [health] = listener.wait_for(lambda m: m.topic == "wechat/bridge/response/health_check", what="health")
    assert health.json()["data"]["healthy"] is True


def test_a_full_outbox_rejects_new_events_while_queued_ones_are_still_delivered(
        start_bridge: BridgeFactory, listener: TestClient) -> None:
    own = MockGateway().start(WORLD)
    try:
        start_bridge("limits: {max_queued: 3}\nrooms:\n  family: {topic: \"Happy Family\"}\n", gateway_=own)
        own.logout()  # nothing can be sent: deliveries pile up in the outbox
        listener.wait_for(lambda m: m.topic == "wechat/bridge/login" and m.json()["state"] == "logged_out",
                          what="logged out")
        for n in range(5):
            listener.publish("wechat/send/family", json.dumps({"text": f"message {n}", "id": f"full-{n}"}))
        rejected = listener.wait_for(lambda m: m.topic == "wechat/bridge/delivery", count=2, what="rejections")
        assert [(r.json()["id"], r.json()["status"], r.json()["error"]) for r in rejected] == [
            (f"full-{n}", "rejected", "the bridge already holds 3 undelivered messages (limits.max_queued)")
            for n in (3, 4)]
        own.login()
        reports = listener.wait_for(lambda m: m.topic == "wechat/bridge/delivery", count=5, what="all reports")
        assert sorted((r.json()["id"], r.json()["status"]) for r in reports[2:]) == [
            ("full-0", "delivered"), ("full-1", "delivered"), ("full-2", "delivered")]
        assert [m["text"] for m in own.messages()] == ["message 0", "message 1", "message 2"]
    finally:
        own.stop()


def test_a_full_outbox_refuses_every_direct_send_door_with_the_queue_full_sentence(
        start_bridge: BridgeFactory, listener: TestClient) -> None:
    """The `send` request and the HTTP door answer the refusal (503 for HTTP), not `queued`."""
    full = "the bridge already holds 1 undelivered messages (limits.max_queued)"
    port = free_port()
    own = MockGateway().start(WORLD)
    try:
        start_bridge(f"limits: {{max_queued: 1}}\nhttp: {{enabled: true, port: {port}, token: {TOKEN}}}\n"
                     "rooms:\n  family: {topic: \"Happy Family\"}\n", gateway_=own)
        own.logout()  # nothing can be sent: the first delivery stays pending and fills the outbox
        listener.wait_for(lambda m: m.topic == "wechat/bridge/login" and m.json()["state"] == "logged_out",
                          what="logged out")
        listener.publish("wechat/send/family", json.dumps({"text": "message 0", "id": "fills-it"}))
        listener.publish("wechat/send/family", json.dumps({"text": "message 1", "id": "mqtt-1"}))
        [first] = listener.wait_for(lambda m: m.topic == "wechat/bridge/delivery", what="the MQTT rejection")
        assert (first.json()["id"], first.json()["status"], first.json()["error"]) == ("mqtt-1", "rejected", full)

        assert call(port, "POST", "/sendmessage", {"room": "family", "message": "m", "id": "http-1"}) == (
            503, {"error": full, "id": "http-1"})
        assert call(port, "POST", "/send/family", {"text": "m", "id": "http-2"}) == (
            503, {"error": full, "id": "http-2"})
        assert request(listener, "send", {"room": "family", "text": "m", "id": "req-1", "transaction": "t"}) == {
            "status": "error", "error": full, "transaction": "t"}

        reports = listener.wait_for(lambda m: m.topic == "wechat/bridge/delivery", count=4, what="every rejection")
        assert sorted((r.json()["id"], r.json()["status"], r.json()["error"]) for r in reports) == [
            (event_id, "rejected", full) for event_id in ("http-1", "http-2", "mqtt-1", "req-1")]
        own.login()
        [delivered] = listener.wait_for(lambda m: m.topic == "wechat/bridge/delivery", count=5, what="delivery")[4:]
        assert (delivered.json()["id"], delivered.json()["status"]) == ("fills-it", "delivered")
        assert [m["text"] for m in own.messages()] == ["message 0"]
    finally:
        own.stop()
