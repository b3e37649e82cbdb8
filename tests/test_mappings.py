"""Every ready-made file in mappings/, loaded as a user loads it, fed real payloads of its devices.

Each file is included from a main config that defines the rooms `family` and `ops`, and each
sample payload has the shape the device really publishes (Tasmota, ESPHome and Zigbee2MQTT docs
and captures). The texts are asserted exactly, and so is which `when` holds.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.config.loader import load_config
from bridge.events import InboundMessage, Queued, Rejected
from bridge.inbound.intake import idempotency_key
from bridge.outbox.records import Accepted, Arrival
from bridge.outbox.store import Outbox
from bridge.pipeline import plan as pipelines
from bridge.pipeline.runtime import Runtime

MAPPINGS = Path(__file__).resolve().parent.parent / "mappings"
READY_MADE = ["home-assistant.yaml", "tasmota.yaml", "esphome.yaml", "zigbee2mqtt.yaml", "scripts.yaml"]

Sent = list[tuple[str, str, str]]  # (route, room key, text)


def pipeline_for(tmp_path: Path, *files: str, locale: str = "en") -> Runtime:
    main = tmp_path / "config.yaml"
    includes = ", ".join(f"'{MAPPINGS / f}'" for f in files)
    main.write_text(
        f"locale: {locale}\nwechaty: {{token: t}}\n"
        "rooms:\n  family: {topic: 'Happy Family'}\n  ops: {topic: 'Ops'}\n"
        f"include: [{includes}]\n")
    return Runtime.compile(load_config(main, environ={}))


def sent(pipeline: Runtime, topic: str, payload: str | bytes, *, retain: bool = False) -> Sent:
    data = payload.encode() if isinstance(payload, str) else payload
    outcomes = pipelines.plan(pipeline, InboundMessage(topic=topic, payload=data, retain=retain,
                                                       received_at=time.time())).outcomes
    rejected = [o for o in outcomes if isinstance(o, Rejected)]
    assert not rejected, f"rejected: {[r.error for r in rejected]}"
    return [(o.delivery.route or "", o.delivery.room_key, o.delivery.text) for o in outcomes if isinstance(o, Queued)]


@pytest.mark.parametrize("name", READY_MADE)
def test_each_file_holds_routes_only_and_says_which_rooms_it_needs(name: str) -> None:
    text = (MAPPINGS / name).read_text()
    assert "`family`" in text.split("routes:")[0] and "`ops`" in text.split("routes:")[0]
    assert "\nrooms:" not in text  # rooms come from the user's main config


@pytest.mark.parametrize("name", READY_MADE)
def test_every_route_has_a_chinese_text(tmp_path: Path, name: str) -> None:
    english = pipeline_for(tmp_path, name).routes
    chinese = pipeline_for(tmp_path, name, locale="zh-CN").routes
    config = load_config(tmp_path / "config.yaml", environ={})
    assert all("zh-CN" in route.translations for route in config.routes), name
    assert len(english) == len(chinese)


def test_all_files_load_together_and_beside_the_example(tmp_path: Path) -> None:
    pipeline = pipeline_for(tmp_path, *READY_MADE)
    assert len(pipeline.routes) == 18
    example = tmp_path / "with-example"
    example.mkdir()
    (example / "config.yaml").write_text(
        f"wechaty: {{token: t}}\ninclude: ['{MAPPINGS / 'example.yaml'}', "
        + ", ".join(f"'{MAPPINGS / f}'" for f in READY_MADE) + "]\n")
    assert len(Runtime.compile(load_config(example / "config.yaml", environ={})).routes) == 21


def test_home_assistant(tmp_path: Path) -> None:
    p = pipeline_for(tmp_path, "home-assistant.yaml")
    assert sent(p, "homeassistant/alerts/washer", '{"title": "Washer", "message": "done after 92 min", '
                                                 '"level": "info"}') == [
        ("ha-alert", "family", "Washer: done after 92 min")]
    assert sent(p, "homeassistant/alerts/washer", '{"message": "Washing machine is done"}') == [
        ("ha-alert", "family", "Washing machine is done")]
    assert sent(p, "homeassistant/alerts/freezer", '{"title": "Freezer", "message": "-8 °C, door open?", '
                                                  '"level": "warning"}') == [
        ("ha-alert-warning", "ops", "⚠️ Freezer: -8 °C, door open?")]
    assert sent(p, "homeassistant/alerts/smoke", '{"message": "Smoke in the kitchen", "level": "critical"}') == [
        ("ha-alert-warning", "ops", "🚨 Smoke in the kitchen")]
    assert sent(p, "homeassistant/alerts/x", "Plain text from an automation") == [
        ("ha-alert", "family", "Plain text from an automation")]
    assert sent(p, "homeassistant/status", "online") == []  # HA's own topics are not alerts


def test_tasmota(tmp_path: Path) -> None:
    p = pipeline_for(tmp_path, "tasmota.yaml")
    plug = ('{"Time":"2026-11-24T21:14:03","ENERGY":{"TotalStartTime":"2026-01-02T10:11:12","Total":123.456,'
            '"Yesterday":1.234,"Today":%s,"Period":12,"Power":%d,"ApparentPower":2310,"ReactivePower":300,'
            '"Factor":0.97,"Voltage":231,"Current":%s}}')
    assert sent(p, "tele/washer_plug/SENSOR", plug % ("2.345", 2250, "9.740")) == [
        ("tasmota-high-power", "ops", "⚡ washer_plug draws 2250 W (2.35 kWh today)")]
    assert sent(p, "tele/washer_plug/SENSOR", plug % ("0.567", 40, "0.180")) == []  # `when` false
    sensor = ('{"Time":"2026-11-24T21:14:03","AM2301":{"Temperature":%s,"Humidity":%s,"DewPoint":13.8},'
              '"TempUnit":"C"}')
    assert sent(p, "tele/attic/SENSOR", sensor % ("31.46", "38.6")) == [
        ("tasmota-too-hot", "family", "🌡️ attic: 31.5 °C, 39 % humidity")]
    assert sent(p, "tele/attic/SENSOR", sensor % ("24.6", "51.2")) == []
    assert sent(p, "stat/kettle/POWER", "ON") == [("tasmota-power", "family", "🟢 kettle switched on")]
    assert sent(p, "stat/kettle/POWER", "OFF") == [("tasmota-power", "family", "⚫ kettle switched off")]
    assert sent(p, "tele/kettle/LWT", "Offline") == [("tasmota-offline", "ops", "🔴 Tasmota kettle is offline")]
    assert sent(p, "tele/kettle/LWT", "Online") == []
    assert sent(p, "tele/kettle/LWT", "Offline", retain=True) == []  # replayed at subscribe: old news


def test_esphome(tmp_path: Path) -> None:
    p = pipeline_for(tmp_path, "esphome.yaml")
    assert sent(p, "doorbell/binary_sensor/front_button/state", "ON") == [
        ("esphome-binary-sensor-on", "family", "🔔 doorbell: front button is on")]
    assert sent(p, "doorbell/binary_sensor/front_button/state", "OFF") == []
    assert sent(p, "livingroom/sensor/livingroom_temperature/state", "30.25") == [
        ("esphome-too-hot", "family", "🌡️ livingroom: livingroom temperature is 30.2 °C")]
    assert sent(p, "livingroom/sensor/livingroom_temperature/state", "22.5") == []
    assert sent(p, "livingroom/sensor/livingroom_humidity/state", "64") == []  # not a temperature
    assert sent(p, "livingroom/sensor/livingroom_temperature/state", "nan") == []  # no reading yet
    assert sent(p, "livingroom/status", "offline") == [
        ("esphome-offline", "ops", "🔴 ESPHome node livingroom is offline")]
    assert sent(p, "livingroom/status", "online") == []
    assert sent(p, "homeassistant/status", "offline") == []  # HA restarting is not an ESPHome node


def test_zigbee2mqtt(tmp_path: Path) -> None:
    p = pipeline_for(tmp_path, "zigbee2mqtt.yaml")
    door = ('{"battery":100,"contact":%s,"device_temperature":24,"linkquality":120,"power_outage_count":3,'
            '"voltage":3025}')
    assert sent(p, "zigbee2mqtt/front_door", door % "false") == [
        ("z2m-door-opened", "family", "🚪 front door was opened"),
        ("z2m-door-left-open", "family", "🚪 front door has been open for 10 minutes")]  # when its timer fires
    assert sent(p, "zigbee2mqtt/front_door", door % "true") == []
    leak = ('{"battery":91,"battery_low":false,"device_temperature":23,"linkquality":87,"power_outage_count":6,'
            '"tamper":false,"voltage":3005,"water_leak":%s}')
    assert sent(p, "zigbee2mqtt/laundry_floor", leak % "true") == [
        ("z2m-water-leak", "family", "💧 Water leak: laundry floor!"),
        ("z2m-water-leak", "ops", "💧 Water leak: laundry floor!")]
    assert sent(p, "zigbee2mqtt/laundry_floor", leak % "false") == []
    motion = ('{"battery":100,"illuminance":120,"illuminance_lux":120,"linkquality":102,"occupancy":%s,'
              '"power_outage_count":8,"temperature":24,"voltage":3055,"device_temperature":25}')
    assert sent(p, "zigbee2mqtt/hallway_motion", motion % "true") == [
        ("z2m-motion", "family", "🏃 Motion: hallway motion (120 lx)")]
    assert sent(p, "zigbee2mqtt/hallway_motion", motion % "false") == []
    # A sensor with its own low-battery flag and no level, and one with only a level.
    assert sent(p, "zigbee2mqtt/bathroom_leak", leak.replace('"battery":91,"battery_low":false',
                                                              '"battery_low":true') % "false") == [
        ("z2m-battery-low", "ops", "🪫 bathroom leak: battery low")]
    assert sent(p, "zigbee2mqtt/back_door", door.replace('"battery":100', '"battery":9') % "true") == [
        ("z2m-battery-low", "ops", "🪫 back door: battery low (9 %)")]
    # Zigbee2MQTT's own topics and other devices' messages match nothing.
    assert sent(p, "zigbee2mqtt/bridge/state", '{"state":"online"}') == []
    assert sent(p, "zigbee2mqtt/kitchen_plug", '{"state":"ON","power":12.5,"linkquality":200}') == []
    assert sent(p, "zigbee2mqtt/kitchen_plug/availability", '{"state":"online"}') == []


def test_zigbee2mqtt_repeats_of_a_state_are_one_message_per_change(tmp_path: Path) -> None:
    """Zigbee2MQTT republishes the whole state on every report: the door, leak and motion routes
    send once per change of their own key, whatever else the report carries."""
    p = pipeline_for(tmp_path, "zigbee2mqtt.yaml")
    box = Outbox.open(":memory:")

    def stored(device: str, payload: str, at: float) -> list[tuple[str | None, str | None]]:
        plan = pipelines.plan(p, InboundMessage(topic=f"zigbee2mqtt/{device}", payload=payload.encode(),
                                                retain=False, received_at=at, qos=1))
        arrival = Arrival(key=idempotency_key(device, payload.encode(), None), dup=False, needs_ack=True,
                          outcomes=plan.outcomes, received_at=at, observations=plan.observations)
        [result] = box.accept([arrival], now=at)
        assert isinstance(result, Accepted)
        return [(r.route, r.error) for r in result.refused]

    try:
        assert stored("front_door", '{"contact":false,"linkquality":120}', 1.0) == []
        assert stored("front_door", '{"contact":false,"linkquality":96}', 2.0) == [
            ("z2m-door-opened", "unchanged: contact is still false"),
            ("z2m-door-left-open", "unchanged: contact is still false")]
        assert stored("front_door", '{"battery":80}', 3.0) == []  # no contact: remembered as it was
        assert stored("hall", '{"occupancy":true}', 4.0) == []
        assert stored("hall", '{"occupancy":true,"illuminance_lux":3}', 5.0) == [
            ("z2m-motion", "unchanged: occupancy is still true")]
        assert stored("laundry", '{"water_leak":true}', 6.0) == []
        assert stored("laundry", '{"water_leak":true,"battery":70}', 7.0) == [
            ("z2m-water-leak", "unchanged: water_leak is still true")] * 2
        assert [r.text for r in box._rows("WHERE status = 'pending'")] == [
            "🚪 front door was opened", "🏃 Motion: hall", "💧 Water leak: laundry!", "💧 Water leak: laundry!"]
    finally:
        box.close()


def test_scripts(tmp_path: Path) -> None:
    p = pipeline_for(tmp_path, "scripts.yaml")
    assert sent(p, "scripts/backup/nas", "done, 12G") == [("script-backup", "ops", "💾 Backup on nas: done, 12G")]
    assert sent(p, "scripts/disk/nas", "93") == [("script-disk-full", "ops", "💽 nas: disk 93 % full")]
    assert sent(p, "scripts/disk/nas", "42") == []
    assert sent(p, "scripts/cron/nas/sync", "exit status 23") == [
        ("script-cron-failed", "ops", "⏰ cron job sync failed on nas: exit status 23")]
    assert sent(p, "scripts/done/buildbox/build", "3725") == [
        ("script-done", "ops", "✅ build on buildbox finished after 1 h 2 min")]


# --- the same sample payloads with `locale: zh-CN`: Chinese texts, Chinese device names ---------------


def test_home_assistant_in_chinese(tmp_path: Path) -> None:
    p = pipeline_for(tmp_path, "home-assistant.yaml", locale="zh-CN")
    assert sent(p, "homeassistant/alerts/washer", '{"title": "洗衣机", "message": "洗好了，用时 92 分钟", '
                                                 '"level": "info"}') == [
        ("ha-alert", "family", "洗衣机：洗好了，用时 92 分钟")]
    assert sent(p, "homeassistant/alerts/freezer", '{"title": "冰箱", "message": "-8 °C，门没关？", '
                                                  '"level": "warning"}') == [
        ("ha-alert-warning", "ops", "⚠️ 冰箱：-8 °C，门没关？")]
    assert sent(p, "homeassistant/alerts/smoke", '{"message": "厨房有烟雾", "level": "critical"}') == [
        ("ha-alert-warning", "ops", "🚨 厨房有烟雾")]
    assert sent(p, "homeassistant/alerts/x", "自动化发来的纯文本") == [("ha-alert", "family", "自动化发来的纯文本")]
    assert sent(p, "homeassistant/status", "online") == []


def test_tasmota_in_chinese(tmp_path: Path) -> None:
    p = pipeline_for(tmp_path, "tasmota.yaml", locale="zh-CN")
    plug = ('{"Time":"2026-11-24T21:14:03","ENERGY":{"TotalStartTime":"2026-01-02T10:11:12","Total":123.456,'
            '"Yesterday":1.234,"Today":2.345,"Period":12,"Power":2250,"ApparentPower":2310,"ReactivePower":300,'
            '"Factor":0.97,"Voltage":231,"Current":9.740}}')
    assert sent(p, "tele/洗衣机插座/SENSOR", plug) == [
        ("tasmota-high-power", "ops", "⚡ 洗衣机插座 功率 2250 W（今日 2.35 kWh）")]
    sensor = ('{"Time":"2026-11-24T21:14:03","AM2301":{"Temperature":31.46,"Humidity":38.6,"DewPoint":13.8},'
              '"TempUnit":"C"}')
    assert sent(p, "tele/阁楼/SENSOR", sensor) == [("tasmota-too-hot", "family", "🌡️ 阁楼：31.5 °C，湿度 39%")]
    assert sent(p, "stat/热水壶/POWER", "ON") == [("tasmota-power", "family", "🟢 热水壶已打开")]
    assert sent(p, "stat/热水壶/POWER", "OFF") == [("tasmota-power", "family", "⚫ 热水壶已关闭")]
    assert sent(p, "tele/热水壶/LWT", "Offline") == [("tasmota-offline", "ops", "🔴 Tasmota 设备 热水壶 已离线")]
    assert sent(p, "tele/热水壶/LWT", "Online") == []


def test_esphome_in_chinese(tmp_path: Path) -> None:
    p = pipeline_for(tmp_path, "esphome.yaml", locale="zh-CN")
    assert sent(p, "doorbell/binary_sensor/front_button/state", "ON") == [
        ("esphome-binary-sensor-on", "family", "🔔 doorbell：front button 已触发")]
    assert sent(p, "livingroom/sensor/livingroom_temperature/state", "30.25") == [
        ("esphome-too-hot", "family", "🌡️ livingroom：livingroom temperature 为 30.2 °C")]
    assert sent(p, "livingroom/status", "offline") == [("esphome-offline", "ops", "🔴 ESPHome 节点 livingroom 已离线")]
    assert sent(p, "homeassistant/status", "offline") == []


def test_zigbee2mqtt_in_chinese(tmp_path: Path) -> None:
    """Zigbee2MQTT friendly names may be Chinese, as 米家/Aqara and 涂鸦 sensors are often named."""
    p = pipeline_for(tmp_path, "zigbee2mqtt.yaml", locale="zh-CN")
    door = '{"battery":100,"contact":%s,"linkquality":120,"voltage":3025}'
    assert sent(p, "zigbee2mqtt/大门", door % "false") == [("z2m-door-opened", "family", "🚪 大门开了"),
                                                         ("z2m-door-left-open", "family", "🚪 大门已经开了10分钟")]
    leak = '{"battery":91,"battery_low":false,"linkquality":87,"tamper":false,"voltage":3005,"water_leak":%s}'
    assert sent(p, "zigbee2mqtt/洗衣房地面", leak % "true") == [
        ("z2m-water-leak", "family", "💧 漏水：洗衣房地面！"),
        ("z2m-water-leak", "ops", "💧 漏水：洗衣房地面！")]
    assert sent(p, "zigbee2mqtt/laundry_floor", leak % "true")[0] == (
        "z2m-water-leak", "family", "💧 漏水：laundry floor！")
    motion = '{"battery":100,"illuminance_lux":120,"linkquality":102,"occupancy":true,"voltage":3055}'
    assert sent(p, "zigbee2mqtt/走廊", motion) == [("z2m-motion", "family", "🏃 检测到有人：走廊（120 lx）")]
    assert sent(p, "zigbee2mqtt/卫生间水浸", leak.replace('"battery":91,"battery_low":false',
                                                         '"battery_low":true') % "false") == [
        ("z2m-battery-low", "ops", "🪫 卫生间水浸：电量低")]
    assert sent(p, "zigbee2mqtt/后门", door.replace('"battery":100', '"battery":9') % "true") == [
        ("z2m-battery-low", "ops", "🪫 后门：电量低（9%）")]


def test_scripts_in_chinese(tmp_path: Path) -> None:
    p = pipeline_for(tmp_path, "scripts.yaml", locale="zh-CN")
    assert sent(p, "scripts/backup/nas", "完成，12G") == [("script-backup", "ops", "💾 nas 的备份：完成，12G")]
    assert sent(p, "scripts/disk/nas", "93") == [("script-disk-full", "ops", "💽 nas：磁盘已用 93%")]
    assert sent(p, "scripts/cron/nas/sync", "exit status 23") == [
        ("script-cron-failed", "ops", "⏰ nas 上的定时任务 sync 失败：exit status 23")]
    assert sent(p, "scripts/done/buildbox/build", "3725") == [
        ("script-done", "ops", "✅ buildbox 上的 build 已完成，用时 1小时2分钟")]


# ------------------------------------------------------------------ issue 27: what a home publishes

HOME = ["availability.yaml", "frigate.yaml", "owntracks.yaml", "shelly.yaml"]

#: Zigbee2MQTT availability, from its docs (https://www.zigbee2mqtt.io/guide/configuration/device-availability.html)
#: and its tests (test/extensions/availability.test.ts publishes `{"state":"offline"}`, and plain
#: `offline` under `legacy_availability_payload`).
Z2M_OFFLINE, Z2M_ONLINE = '{"state":"offline"}', '{"state":"online"}'
#: Frigate's own examples (https://docs.frigate.video/integrations/mqtt/, "frigate/reviews" and "frigate/events").
FRIGATE_REVIEW = {
    "type": "new",
    "before": {"id": "1718987129.308396-fqk5ka", "camera": "front_cam", "start_time": 1718987129.308396,
               "end_time": None, "severity": "alert",
               "thumb_path": "/media/frigate/clips/review/thumb-front_cam-1718987129.308396-fqk5ka.webp",
               "data": {"detections": ["1718987128.947436-g92ztx"], "objects": ["person"], "sub_labels": [],
                        "zones": [], "audio": []}},
    "after": {"id": "1718987129.308396-fqk5ka", "camera": "front_cam", "start_time": 1718987129.308396,
              "end_time": None, "severity": "alert",
              "thumb_path": "/media/frigate/clips/review/thumb-front_cam-1718987129.308396-fqk5ka.webp",
              "data": {"detections": ["1718987128.947436-g92ztx", "1718987130.12345-abc123"],
                       "objects": ["person", "car"], "sub_labels": [], "zones": ["front_yard"], "audio": []}},
}
FRIGATE_EVENT = {
    "type": "new",
    "before": {},
    "after": {"id": "1607123955.475377-mxklsc", "camera": "front_door", "frame_time": 1607123961.837752,
              "label": "person", "sub_label": None, "top_score": 0.958984375, "false_positive": False,
              "start_time": 1607123955.475377, "end_time": None, "score": 0.7890625, "box": [424, 500, 536, 712],
              "area": 23744, "ratio": 2.113207, "region": [264, 450, 667, 853], "current_zones": ["driveway"],
              "entered_zones": ["yard", "driveway"], "thumbnail": None, "has_snapshot": True, "has_clip": True,
              "stationary": False, "motionless_count": 0, "position_changes": 2, "attributes": {}},
}
#: OwnTracks' booklet (https://owntracks.org/booklet/tech/json/, _type=transition) and its poster's example.
OWNTRACKS_ENTER = ('{"_type":"transition","wtst":1425042603,"lat":12.34,"lon":44.5,"tst":1427634603,"acc":130,'
                   '"tid":"JP","event":"enter","desc":"Home","t":"c"}')
#: Shelly's Gen2 API docs (https://shelly-api-docs.shelly.cloud/gen2/General/Notifications and
#: ComponentsAndServices/Input: "single_push", "double_push", "triple_push", "long_push").
SHELLY_PUSH = ('{"src":"shellyplus1-a8032ab720ac","dst":"shellyplus1-a8032ab720ac/events","method":"NotifyEvent",'
               '"params":{"ts":1631266595.44,"events":[{"component":"input:0","id":0,"event":"%s",'
               '"ts":1631266595.44}]}}')
SHELLY_SWITCH = ('{"src":"shellyplus1pm-441793d69718","dst":"shellyplus1pm-441793d69718/events",'
                 '"method":"NotifyStatus","params":{"ts":1631186452.56,"switch:0":{"id":0,"output":%s,'
                 '"source":"button"}}}')


@pytest.mark.parametrize("name", HOME)
def test_each_home_file_holds_routes_only_and_has_chinese_texts(tmp_path: Path, name: str) -> None:
    text = (MAPPINGS / name).read_text()
    assert "`family`" in text.split("routes:")[0] and "`ops`" in text.split("routes:")[0]
    assert "\nrooms:" not in text
    pipeline_for(tmp_path, name, locale="zh-CN")
    config = load_config(tmp_path / "config.yaml", environ={})
    assert all("zh-CN" in route.translations for route in config.routes), name
    assert all("zh-CN" in route.batch.translations for route in config.routes if route.batch is not None)


def test_all_home_files_load_beside_the_others(tmp_path: Path) -> None:
    assert len(pipeline_for(tmp_path, *READY_MADE, *HOME).routes) == 18 + 4 + 4 + 1 + 4


def test_availability(tmp_path: Path) -> None:
    p = pipeline_for(tmp_path, "availability.yaml")
    assert sent(p, "zigbee2mqtt/kitchen_plug/availability", Z2M_OFFLINE) == [
        ("z2m-offline", "ops", "🔌 kitchen plug went offline")]
    assert sent(p, "zigbee2mqtt/kitchen_plug/availability", "offline") == [  # legacy_availability_payload
        ("z2m-offline", "ops", "🔌 kitchen plug went offline")]
    assert sent(p, "zigbee2mqtt/kitchen_plug/availability", Z2M_ONLINE) == [
        ("z2m-online", "ops", "✅ kitchen plug is back online")]  # when the last state was offline
    assert sent(p, "tele/kettle/LWT", "Offline") == [("tasmota-lwt-offline", "ops", "🔌 Tasmota kettle went offline")]
    assert sent(p, "tele/kettle/LWT", "Online") == []
    assert sent(p, "livingroom/status", "offline") == [
        ("esphome-status-offline", "ops", "🔌 ESPHome node livingroom went offline")]
    assert sent(p, "livingroom/status", "online") == []
    assert sent(p, "homeassistant/status", "offline") == []
    assert sent(p, "zigbee2mqtt/bridge/state", '{"state":"offline"}') == []  # two levels: not a device
    zh = pipeline_for(tmp_path, "availability.yaml", locale="zh-CN")
    assert sent(zh, "zigbee2mqtt/kitchen_plug/availability", Z2M_OFFLINE) == [
        ("z2m-offline", "ops", "🔌 kitchen plug 已离线")]


def test_availability_repeats_say_nothing_and_a_replay_at_start_is_quiet(tmp_path: Path) -> None:
    p = pipeline_for(tmp_path, "availability.yaml")
    box = Outbox.open(":memory:")

    def stored(topic: str, payload: str, at: float, retain: bool = False) -> list[str | None]:
        plan = pipelines.plan(p, InboundMessage(topic=topic, payload=payload.encode(), retain=retain,
                                                received_at=at, qos=1))
        arrival = Arrival(key=idempotency_key(topic, payload.encode(), None), dup=False, needs_ack=True,
                          outcomes=plan.outcomes, received_at=at, observations=plan.observations)
        [result] = box.accept([arrival], now=at)
        assert isinstance(result, Accepted)
        return [r.error for r in result.refused]

    try:
        assert stored("zigbee2mqtt/lamp/availability", Z2M_ONLINE, 1.0, retain=True) == []  # replayed: remembered
        assert stored("zigbee2mqtt/lamp/availability", Z2M_ONLINE, 2.0) == [  # not a change: no "back online"
            "unchanged: the value is still online"]
        assert stored("zigbee2mqtt/lamp/availability", Z2M_OFFLINE, 3.0) == []
        assert stored("zigbee2mqtt/lamp/availability", Z2M_OFFLINE, 4.0) == ["unchanged: the value is still offline"]
        assert stored("tele/kettle/LWT", "Offline", 5.0) == []
        assert stored("tele/kettle/LWT", "Offline", 6.0) == ["unchanged: payload is still Offline"]
        assert [r.text for r in box._rows("WHERE status = 'pending' ORDER BY seq")] == [
            "🔌 lamp went offline", "🔌 Tasmota kettle went offline"]
    finally:
        box.close()


def test_frigate_review_is_announced_with_the_kept_snapshot(tmp_path: Path) -> None:
    p = pipeline_for(tmp_path, "frigate.yaml")
    assert [f.mqtt for f in p.kept_filters] == ["frigate/+/+/snapshot", "frigate/+/+/snapshot"]
    assert "frigate/+/+/snapshot" in p.route_subscriptions
    review = json.dumps(FRIGATE_REVIEW)
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(256))
    message = InboundMessage(topic="frigate/reviews", payload=review.encode(), retain=False, received_at=1.0)
    assert pipelines.plan(p, message).outcomes == ()  # no snapshot yet: waits for a later update
    [queued] = pipelines.plan(p, message, kept={"frigate/front_cam/person/snapshot": jpeg}).outcomes
    assert isinstance(queued, Queued)
    assert queued.delivery.text == "📷 front cam: person, car in front yard"
    assert queued.delivery.attachment is not None and queued.delivery.attachment.data == jpeg
    assert queued.throttle is not None and queued.throttle.key == "1718987129.308396-fqk5ka"
    ended = json.dumps({**FRIGATE_REVIEW, "type": "end"})
    assert sent(p, "frigate/reviews", ended) == []
    detection = json.dumps({**FRIGATE_REVIEW, "after": {**FRIGATE_REVIEW["after"], "severity": "detection"}})
    assert pipelines.plan(p, InboundMessage(topic="frigate/reviews", payload=detection.encode(), retain=False,
                                            received_at=1.0), kept={"frigate/front_cam/person/snapshot": jpeg}
                          ).outcomes == ()
    zh = pipeline_for(tmp_path, "frigate.yaml", locale="zh-CN")
    [queued] = pipelines.plan(zh, message, kept={"frigate/front_cam/person/snapshot": jpeg}).outcomes
    assert isinstance(queued, Queued) and queued.delivery.text == "📷 front cam：person、car（front yard）"


def test_frigate_with_frigate_url_takes_the_snapshot_from_the_http_api(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    main = tmp_path / "config.yaml"
    main.write_text("wechaty: {token: t}\nrooms:\n  family: {topic: F}\n  ops: {topic: O}\n"
                    f"include: ['{MAPPINGS / 'frigate.yaml'}']\n")
    p = Runtime.compile(load_config(main, environ={"FRIGATE_URL": "http://nvr:5000", "FRIGATE_EVENTS": "on"}))
    [queued] = pipelines.plan(p, InboundMessage(topic="frigate/reviews", payload=json.dumps(FRIGATE_REVIEW).encode(),
                                                retain=False, received_at=1.0)).outcomes
    assert isinstance(queued, Queued) and queued.delivery.attachment is not None
    assert queued.delivery.attachment.url == "http://nvr:5000/api/events/1718987128.947436-g92ztx/snapshot.jpg"
    update = json.dumps({**FRIGATE_REVIEW, "type": "update"})
    assert sent(p, "frigate/reviews", update) == []  # announced on `new` already
    [queued] = pipelines.plan(p, InboundMessage(topic="frigate/events", payload=json.dumps(FRIGATE_EVENT).encode(),
                                                retain=False, received_at=1.0)).outcomes
    assert isinstance(queued, Queued) and queued.delivery.text == "📷 front door: person in yard, driveway"
    assert queued.delivery.attachment is not None
    assert queued.delivery.attachment.url == "http://nvr:5000/api/events/1607123955.475377-mxklsc/snapshot.jpg"


def test_frigate_events_are_off_unless_asked_for(tmp_path: Path) -> None:
    p = pipeline_for(tmp_path, "frigate.yaml")
    assert sent(p, "frigate/events", json.dumps(FRIGATE_EVENT)) == []


def test_owntracks(tmp_path: Path) -> None:
    p = pipeline_for(tmp_path, "owntracks.yaml")
    assert sent(p, "owntracks/alice/phone/event", OWNTRACKS_ENTER) == [
        ("owntracks-transition", "family", "🏠 Alice arrived at Home")]
    leave = OWNTRACKS_ENTER.replace('"enter"', '"leave"').replace('"Home"', '"Office"')
    assert sent(p, "owntracks/alice/phone/event", leave) == [("owntracks-transition", "family", "🚶 Alice left Office")]
    private = '{"_type":"transition","lat":49.13,"lon":13.42,"acc":26,"tst":1444818585,"event":"leave","tid":"21"}'
    assert sent(p, "owntracks/bob/phone/event", private) == [("owntracks-transition", "family", "🚶 Bob left a region")]
    location = '{"_type":"location","lat":49.13,"lon":13.42,"tst":1444818585,"tid":"21"}'
    assert sent(p, "owntracks/alice/phone/event", location) == []
    zh = pipeline_for(tmp_path, "owntracks.yaml", locale="zh-CN")
    assert sent(zh, "owntracks/alice/phone/event", OWNTRACKS_ENTER) == [
        ("owntracks-transition", "family", "🏠 alice 到达了Home")]


def test_shelly(tmp_path: Path) -> None:
    p = pipeline_for(tmp_path, "shelly.yaml")
    topic = "shellyplus1-a8032ab720ac/events/rpc"
    assert sent(p, topic, SHELLY_PUSH % "single_push") == [
        ("shelly-button", "family", "🔘 shellyplus1-a8032ab720ac: button 0 pressed")]
    assert sent(p, topic, SHELLY_PUSH % "long_push") == [
        ("shelly-button", "family", "🔘 shellyplus1-a8032ab720ac: button 0 held")]
    assert sent(p, topic, SHELLY_PUSH % "btn_down") == []  # a raw edge, not a press
    assert sent(p, "shellyplus1pm-441793d69718/events/rpc", SHELLY_SWITCH % "true") == [
        ("shelly-switch", "family", "🟢 shellyplus1pm-441793d69718 switched on (button)")]
    power = ('{"src":"shellyplus1pm-441793d69718","dst":"shellyplus1pm-441793d69718/events","method":"NotifyStatus",'
             '"params":{"ts":1631186545.04,"switch:0":{"id":0,"apower":8.9,"current":0.068}}}')
    assert sent(p, "shellyplus1pm-441793d69718/events/rpc", power) == []  # a power reading, no switching
    assert sent(p, "shellies/shelly1-B929CC/relay/0", "off") == [  # the outbox sends it when it is a change
        ("shelly-gen1-relay", "family", "⚫ shelly1-B929CC relay 0 switched off")]
    assert sent(p, "shellies/shellybutton1-A4CF12F45301/input_event/0", '{"event":"SS","event_cnt":4}') == [
        ("shelly-gen1-button", "family", "🔘 shellybutton1-A4CF12F45301: button 0 pressed twice")]
    zh = pipeline_for(tmp_path, "shelly.yaml", locale="zh-CN")
    assert sent(zh, topic, SHELLY_PUSH % "double_push") == [
        ("shelly-button", "family", "🔘 shellyplus1-a8032ab720ac：按钮 0 被按了两下")]


@pytest.mark.parametrize(("name", "topic", "payload", "text"), [
    ("availability.yaml", "zigbee2mqtt/kitchen_plug/availability", Z2M_OFFLINE, "🔌 kitchen plug went offline"),
    ("availability.yaml", "zigbee2mqtt/kitchen_plug/availability", "offline", "🔌 kitchen plug went offline"),
    ("availability.yaml", "tele/kettle/LWT", "Offline", "🔌 Tasmota kettle went offline"),
    ("availability.yaml", "livingroom/status", "offline", "🔌 ESPHome node livingroom went offline"),
    ("frigate.yaml", "frigate/reviews", json.dumps(FRIGATE_REVIEW), "📷 front cam: person, car in front yard"),
    ("owntracks.yaml", "owntracks/alice/phone/event", OWNTRACKS_ENTER, "🏠 Alice arrived at Home"),
    ("shelly.yaml", "shellyplus1-a8032ab720ac/events/rpc", SHELLY_PUSH % "single_push",
     "🔘 shellyplus1-a8032ab720ac: button 0 pressed"),
    ("shelly.yaml", "shellyplus1pm-441793d69718/events/rpc", SHELLY_SWITCH % "false",
     "⚫ shellyplus1pm-441793d69718 switched off (button)"),
])
def test_check_passes_and_render_shows_the_message_of_each_documented_sample(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, topic: str, payload: str, text: str) -> None:
    pipeline_for(tmp_path, name)
    config = str(tmp_path / "config.yaml")
    assert main(["check", "--config", config]) == 0
    assert capsys.readouterr().out.startswith(f"{config}: OK")
    assert main(["render", "--config", config, "--topic", topic, "--payload", payload]) == 0
    assert f"\n       {text}\n" in capsys.readouterr().out + "\n"
