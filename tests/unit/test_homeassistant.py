"""Discovery payloads, ids and the runtime hooks of bridge/homeassistant.py, with a fake publish."""

from __future__ import annotations

import time
from pathlib import Path
from typing import get_args

import orjson
import pytest

from bridge.chat import LoginState, WeChatUser
from bridge.config.loader import load_config
from bridge.config.models import Config
from bridge.errors import ConfigError
from bridge.events import DeliveryStatus, InboundMessage, Publication
from bridge.homeassistant import HomeAssistant, discovery_publications, login_image, node_id, slug, subscriptions
from bridge.i18n import texts_for

CONFIG = """\
mqtt: {client_id: "bridge.home 1", base_topic: wechat}
wechaty: {token: t}
rooms:
  family: {topic: "Happy Family"}
  Ops-Team: {id: "1@chatroom"}
  家: {topic: "老家群"}
"""


def config(tmp_path: Path, text: str = CONFIG) -> Config:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(path, environ={})


def message(topic: str, payload: bytes, *, retain: bool) -> InboundMessage:
    return InboundMessage(topic=topic, payload=payload, retain=retain, received_at=time.time())


def test_ids_are_stable_distinct_and_what_ha_accepts() -> None:
    assert node_id("bridge.home 1") == "bridge_home_1"
    assert slug("family") == "family"
    assert slug("Ops-Team") == "ops_team_" + slug("Ops-Team")[-6:] != slug("ops_team")
    assert slug("家") != slug("群") and len(slug("家")) == 6
    assert slug("家") == slug("家")  # a hash, not a random id


def test_discovery_topics_and_entity_ids(tmp_path: Path) -> None:
    pubs = discovery_publications(config(tmp_path))
    node = "bridge_home_1"
    notify = {t: orjson.loads(p.payload) for t, p in pubs.items() if "/notify/" in t}
    family = notify[f"homeassistant/notify/{node}/room_family/config"]
    assert (family["command_topic"], family["unique_id"], family["default_entity_id"], family["name"]) == (
        "wechat/send/family", f"{node}_room_family", "notify.wechat_family", "Happy Family")
    ops = notify[f"homeassistant/notify/{node}/room_{slug('Ops-Team')}/config"]
    assert (ops["command_topic"], ops["name"]) == ("wechat/send/Ops-Team", "Ops-Team")
    assert all(p.retain and p.qos == 1 for p in pubs.values())
    assert len(pubs) == 3 + 6


def test_prefix_is_validated_and_discovery_off_still_watches_its_own_configs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"homeassistant\.prefix: the discovery prefix 'ha/#' cannot contain"):
        config(tmp_path, CONFIG + "homeassistant: {prefix: 'ha/#'}\n")
    off = config(tmp_path, CONFIG + "homeassistant: {discovery: false, prefix: ha}\n")
    assert subscriptions(off) == ["ha/+/bridge_home_1/+/config"]
    assert subscriptions(config(tmp_path)) == ["homeassistant/+/bridge_home_1/+/config", "homeassistant/status"]


async def test_stale_configs_are_cleared_and_our_own_are_kept(tmp_path: Path) -> None:
    published: list[Publication] = []

    async def publish(p: Publication) -> None:
        published.append(p)

    cfg = config(tmp_path)
    ha = HomeAssistant(cfg, publish)
    await ha.on_connect()
    ours = set(discovery_publications(cfg))
    assert {p.topic for p in published} == ours | {"wechat/bridge/login/qrcode"}
    published.clear()

    stale = "homeassistant/notify/bridge_home_1/room_gone/config"
    assert await ha.on_message(message(stale, b"{}", retain=True))
    assert await ha.on_message(message(sorted(ours)[0], b"{}", retain=True))  # ours: kept
    assert await ha.on_message(message(stale, b"", retain=True))  # already cleared
    assert await ha.on_message(message(stale, b"{}", retain=False))  # live, not a leftover
    assert published == [Publication(stale, b"", qos=1, retain=True)]
    assert not await ha.on_message(message("homeassistant/notify/other/x/config", b"{}", retain=True))

    published.clear()
    assert not await ha.on_message(message("homeassistant/status", b"offline", retain=False))
    assert published == []
    assert not await ha.on_message(message("homeassistant/status", b"online", retain=False))
    assert {p.topic for p in published} == ours


async def test_reload_clears_removed_rooms_and_publishes_only_changes(tmp_path: Path) -> None:
    published: list[Publication] = []

    async def publish(p: Publication) -> None:
        published.append(p)

    ha = HomeAssistant(config(tmp_path), publish)
    await ha.reload(config(tmp_path, CONFIG.replace('  family: {topic: "Happy Family"}\n',
                                                    '  family: {topic: "Family"}\n  garden: {id: "g@chatroom"}\n')
                           .replace('  家: {topic: "老家群"}\n', "")))
    assert [(p.topic.split("/")[3], p.payload == b"") for p in published] == [
        (f"room_{slug('家')}", True), ("room_family", False), ("room_garden", False)]


async def test_login_picture(tmp_path: Path) -> None:
    scan = login_image(LoginState("scan", qrcode="https://login.weixin.qq.com/l/abc"))
    assert scan.startswith(b'<svg xmlns="http://www.w3.org/2000/svg"') and b'<path d="M' in scan
    assert b"Logged in as A &amp; B" in login_image(LoginState("logged_in", user=WeChatUser("1", "A & B")))
    published: list[Publication] = []

    async def publish(p: Publication) -> None:
        published.append(p)

    ha = HomeAssistant(config(tmp_path), publish)
    await ha.on_login(LoginState("scan", qrcode="x"))
    await ha.on_login(LoginState("scan", qrcode="x"))  # unchanged: not published again
    assert [(p.topic, p.retain) for p in published] == [("wechat/bridge/login/qrcode", True)]


def test_names_and_the_login_picture_in_chinese(tmp_path: Path) -> None:
    english = discovery_publications(config(tmp_path))
    chinese = discovery_publications(config(tmp_path, "locale: zh-CN\n" + CONFIG))
    assert english.keys() == chinese.keys()
    for topic in english:
        en, zh = orjson.loads(english[topic].payload), orjson.loads(chinese[topic].payload)
        assert (en["unique_id"], en["default_entity_id"]) == (zh["unique_id"], zh["default_entity_id"])
    login = orjson.loads(chinese["homeassistant/sensor/bridge_home_1/login/config"].payload)
    assert (login["device"]["name"], login["name"]) == ("微信桥", "登录状态")
    zh = texts_for("zh-CN")
    scan = login_image(LoginState("scan", qrcode="https://login.weixin.qq.com/l/abc"), zh)
    assert b'<path d="M' in scan and "微信扫码登录".encode() in scan
    assert b"Scan with WeChat to log in" in login_image(LoginState("scan", qrcode="x"))
    assert "已登录：A &amp; B".encode() in login_image(LoginState("logged_in", user=WeChatUser("1", "A & B")), zh)
    assert "正在等待登录二维码".encode() in login_image(LoginState("scan"), zh)


def test_last_delivery_offers_every_status_a_report_can_carry(tmp_path: Path) -> None:
    """HA's enum sensor ignores a state outside `options` ("Ignoring invalid option ... got 'dropped'")
    and keeps showing the previous one: every status of a delivery report must be an option."""
    pubs = discovery_publications(config(tmp_path))
    last = orjson.loads(pubs["homeassistant/sensor/bridge_home_1/last_delivery/config"].payload)
    assert last["options"] == list(get_args(DeliveryStatus))
    assert {"delivered", "rejected", "failed", "expired", "dropped"} == set(last["options"])


async def test_a_room_without_direct_sends_has_no_notify_entity_and_loses_it_on_reload(tmp_path: Path) -> None:
    """`notify.send_message` on a room with `allow_direct: false` would succeed in HA and be rejected by
    the bridge: such a room gets no notify entity, and a reload that turns direct sends off removes it."""
    ops = f"homeassistant/notify/bridge_home_1/room_{slug('Ops-Team')}/config"
    closed = CONFIG.replace('Ops-Team: {id: "1@chatroom"}', 'Ops-Team: {id: "1@chatroom", allow_direct: false}')
    assert ops not in discovery_publications(config(tmp_path, closed))
    assert "homeassistant/notify/bridge_home_1/room_family/config" in discovery_publications(config(tmp_path, closed))

    published: list[Publication] = []

    async def publish(p: Publication) -> None:
        published.append(p)

    ha = HomeAssistant(config(tmp_path), publish)
    await ha.reload(config(tmp_path, closed))
    assert published == [Publication(ops, b"", qos=1, retain=True)]
    published.clear()
    await ha.reload(config(tmp_path))  # direct sends allowed again: the entity comes back
    assert [(p.topic, bool(p.payload)) for p in published] == [(ops, True)]

    # A config left retained by an earlier run, before allow_direct was turned off: cleared at start.
    published.clear()
    await HomeAssistant(config(tmp_path, closed), publish).on_message(message(ops, b"{}", retain=True))
    assert published == [Publication(ops, b"", qos=1, retain=True)]


ILINK = """\
mqtt: {client_id: "bridge.home 1", base_topic: wechat}
rooms:
  me: {ilink: alice}
  also_me: {ilink: alice, allow_direct: false}
  grandpa: {ilink: bob-2}
"""


def test_each_person_of_the_official_bot_is_a_sensor_of_their_retained_state(tmp_path: Path) -> None:
    pubs = discovery_publications(config(tmp_path, ILINK))
    node = "bridge_home_1"
    alice = orjson.loads(pubs[f"homeassistant/sensor/{node}/ilink_alice/config"].payload)
    assert (alice["name"], alice["state_topic"], alice["json_attributes_topic"]) == (
        "Official bot alice", "wechat/bridge/ilink/alice", "wechat/bridge/ilink/alice")
    assert (alice["unique_id"], alice["default_entity_id"]) == (f"{node}_ilink_alice", "sensor.wechat_ilink_alice")
    assert alice["device_class"] == "enum" and alice["options"] == ["logged_in", "scan", "logged_out"]
    bob = orjson.loads(pubs[f"homeassistant/sensor/{node}/ilink_{slug('bob-2')}/config"].payload)
    assert bob["state_topic"] == "wechat/bridge/ilink/bob-2"
    # One sensor per person, not per room: alice has two rooms.
    assert sum(1 for t in pubs if "/ilink_" in t) == 2
    zh = orjson.loads(discovery_publications(config(tmp_path, "locale: zh-CN\n" + ILINK))[
        f"homeassistant/sensor/{node}/ilink_alice/config"].payload)
    assert zh["name"] == "官方机器人 alice"


def test_the_official_bot_sensor_reads_what_the_retained_state_says(tmp_path: Path) -> None:
    """The templates HA applies, applied here with Jinja to a payload as the bridge publishes it."""
    import jinja2

    from bridge.chat import IlinkState
    from bridge.reporting.payloads import ilink_body

    pubs = discovery_publications(config(tmp_path, ILINK))
    alice = orjson.loads(pubs["homeassistant/sensor/bridge_home_1/ilink_alice/config"].payload)
    body = ilink_body(IlinkState(name="alice", state="logged_in", window_until=1_800_000_000.0, budget=3,
                                 waiting=2, reason=None))
    env = jinja2.Environment()
    env.filters["tojson"] = lambda value: orjson.dumps(value).decode()
    state = env.from_string(alice["value_template"]).render(value_json=body)
    attributes = orjson.loads(env.from_string(alice["json_attributes_template"]).render(value_json=body))
    assert state == "logged_in"
    assert attributes == {"window_until": body["window_until"], "budget": 3, "waiting": 2, "reason": None}
    assert body["window_until"].startswith("2027-01-15T")
