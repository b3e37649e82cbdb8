"""`locale: zh-CN` as a Chinese family sees it: texts in the room, names in Home Assistant, rooms
with full-width names; on the real broker, the mock gateway and the bridge as a subprocess."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import OPS, WORLD, BridgeFactory, publish, reports
from tests.integration.test_homeassistant import discovery_configs, settled
from tests.support.broker import MosquittoBroker
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient

pytestmark = pytest.mark.integration

ROUTES = """\
locale: zh-CN
rooms:
  family: {topic: "Happy Family"}
  ops: {id: "room-ops@chatroom"}
routes:
  - name: flood
    topic: "flood/+"
    rooms: [ops]
    template: "{{ payload.text }}"
"""


def test_a_chinese_long_text_arrives_in_parts_cut_at_the_sentence_end(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient) -> None:
    start_bridge(ROUTES, pacing="{enabled: false, max_text_chars: 100}")
    gateway.clear()
    first = "今天下午三点，洗衣房地面检测到漏水，已经自动关闭进水阀。"  # 28 characters
    second = "请尽快回家查看，并擦干地面；如有需要，请联系物业维修。💧"  # 27 + an emoji of 2 UTF-16 units
    [event_id] = publish(listener, "flood/ops", [(first + second) * 3])
    [report] = reports(listener, [event_id]).values()
    assert (report["status"], report["error"]) == ("delivered", None)
    assert [m["text"] for m in gateway.messages() if m["room_id"] == OPS] == [
        "（1/2）" + first + second + first, "（2/2）" + second + first + second]


def test_a_backlog_goes_out_as_a_chinese_digest(
        start_bridge: BridgeFactory, gateway: MockGateway, listener: TestClient) -> None:
    start_bridge(ROUTES, pacing="{min_gap: 0, jitter: 0, global_limit: 100, room_limit: 1, period: 2s}")
    gateway.clear()
    texts = ["门铃响了", *(f"第 {i} 条" for i in range(1, 8))]
    first = publish(listener, "flood/ops", texts[:1])
    reports(listener, first)  # sent alone; the room is paced for 2 s now, so the seven after it fold
    rest = publish(listener, "flood/ops", texts[1:])
    found = reports(listener, first + rest)
    assert {r["status"] for r in found.values()} == {"delivered"}
    assert [m["text"] for m in gateway.messages() if m["room_id"] == OPS] == [
        "门铃响了", "7 条通知：\n" + "\n".join(f"\u2022 第 {i} 条" for i in range(1, 8))]


def names(configs: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {topic.split("/")[3]: config["name"] for topic, config in configs.items()}


def test_ha_names_follow_the_locale_and_the_ids_stay(start_bridge: BridgeFactory, broker: MosquittoBroker) -> None:
    bridge = start_bridge(ROUTES.replace("locale: zh-CN\n", ""))
    node = bridge.config_path.read_text().split("client_id: ", 1)[1].split("\n", 1)[0]
    english = discovery_configs(broker, node, count=8)
    assert names(english) == {
        "room_family": "Happy Family", "room_ops": "ops", "connection": "Connection", "login": "WeChat login",
        "queue_depth": "Queue depth", "last_delivery": "Last delivery", "last_delivery_time": "Last delivery time",
        "login_qr_code": "Login QR code"}
    assert bridge.stop() == 0

    bridge.config_path.write_text(bridge.config_path.read_text() + "locale: zh-CN\n")
    bridge.start()
    found = settled(broker, f"homeassistant/+/{node}/+/config",
                    # every config republished: each names the device in Chinese
                    lambda f: len(f) == 8 and all('"微信桥"'.encode() in payload for payload in f.values()))
    chinese = {topic: json.loads(payload) for topic, payload in found.items()}
    assert names(chinese) == {
        "room_family": "Happy Family", "room_ops": "ops", "connection": "连接状态", "login": "登录状态",
        "queue_depth": "待发消息", "last_delivery": "最近投递", "last_delivery_time": "最近投递时间",
        "login_qr_code": "登录二维码"}
    assert {c["device"]["name"] for c in chinese.values()} == {"微信桥"}  # HA shows "微信桥 登录状态"
    assert chinese[f"homeassistant/sensor/{node}/queue_depth/config"]["unit_of_measurement"] == "条"
    # The same topics, unique ids and entity ids: HA renames the entities and keeps their history.
    assert sorted(chinese) == sorted(english)
    for topic, config in english.items():
        assert (chinese[topic]["unique_id"], chinese[topic]["default_entity_id"]) == (
            config["unique_id"], config["default_entity_id"])
    picture = settled(broker, "wechat/bridge/login/qrcode", lambda f: "已登录".encode() in b"".join(f.values()))
    assert "已登录：Bridge Bot".encode() in picture["wechat/bridge/login/qrcode"]


FULL_WIDTH = "幸福一家人🏠（老家）"


@pytest.fixture
def cjk_gateway() -> Iterator[MockGateway]:
    """A WeChat world with a full-width room name and its ASCII-bracket look-alike."""
    world = {**WORLD, "rooms": [*WORLD["rooms"],
                                {"id": "room-fullwidth@chatroom", "topic": FULL_WIDTH, "members": ["alice"]},
                                {"id": "room-ascii@chatroom", "topic": "幸福一家人🏠(老家)", "members": ["bob"]}]}
    gw = MockGateway().start(world)
    yield gw
    gw.stop()


def test_room_names_with_full_width_characters_and_emoji_match_exactly(
        start_bridge: BridgeFactory, cjk_gateway: MockGateway, listener: TestClient) -> None:
    start_bridge(f'locale: zh-CN\nrooms:\n  home: {{topic: "{FULL_WIDTH}"}}\n  near: {{topic: "幸福一家人🏠"}}\n',
                 gateway_=cjk_gateway)
    [home] = publish(listener, "wechat/send/home", ["到家了 🏠"])
    [near] = publish(listener, "wechat/send/near", ["到家了"])
    found = reports(listener, [home, near])
    assert (found[home]["status"], found[home]["room"]) == (
        "delivered", {"key": "home", "id": "room-fullwidth@chatroom", "topic": FULL_WIDTH})
    assert [(m["room_id"], m["text"]) for m in cjk_gateway.messages()] == [("room-fullwidth@chatroom", "到家了 🏠")]
    assert found[near]["status"] == "rejected"
    assert found[near]["error"] == "room 'near': the account is in no room named '幸福一家人🏠'"
