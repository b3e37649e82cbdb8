"""Every ready-made file in mappings/, loaded as a user loads it, fed real payloads of its devices.

Each file is included from a main config that defines the rooms `family` and `ops`, and each
sample payload has the shape the device really publishes (Tasmota, ESPHome and Zigbee2MQTT docs
and captures). The texts are asserted exactly, and so is which `when` holds.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bridge import pipeline as pipelines
from bridge.config_loader import load_config
from bridge.events import InboundMessage, Queued, Rejected
from bridge.runtime import Runtime

MAPPINGS = Path(__file__).resolve().parent.parent / "mappings"
READY_MADE = ["home-assistant.yaml", "tasmota.yaml", "esphome.yaml", "zigbee2mqtt.yaml", "scripts.yaml"]

Sent = list[tuple[str, str, str]]  # (route, room key, text)


def pipeline_for(tmp_path: Path, *files: str) -> Runtime:
    main = tmp_path / "config.yaml"
    includes = ", ".join(f"'{MAPPINGS / f}'" for f in files)
    main.write_text(
        "wechaty: {token: t}\n"
        "rooms:\n  family: {topic: 'Happy Family'}\n  ops: {topic: 'Ops'}\n"
        f"include: [{includes}]\n")
    return Runtime.compile(load_config(main, environ={}))


def sent(pipeline: Runtime, topic: str, payload: str | bytes, *, retain: bool = False) -> Sent:
    data = payload.encode() if isinstance(payload, str) else payload
    outcomes = pipelines.plan(pipeline, InboundMessage(topic, data, retain, time.time())).outcomes
    rejected = [o for o in outcomes if isinstance(o, Rejected)]
    assert not rejected, f"rejected: {[r.error for r in rejected]}"
    return [(o.delivery.route or "", o.delivery.room_key, o.delivery.text) for o in outcomes if isinstance(o, Queued)]


@pytest.mark.parametrize("name", READY_MADE)
def test_each_file_holds_routes_only_and_says_which_rooms_it_needs(name: str) -> None:
    text = (MAPPINGS / name).read_text()
    assert "`family`" in text.split("routes:")[0] and "`ops`" in text.split("routes:")[0]
    assert "\nrooms:" not in text  # rooms come from the user's main config


def test_all_files_load_together_and_beside_the_example(tmp_path: Path) -> None:
    pipeline = pipeline_for(tmp_path, *READY_MADE)
    assert len(pipeline.routes) == 17
    example = tmp_path / "with-example"
    example.mkdir()
    (example / "config.yaml").write_text(
        f"wechaty: {{token: t}}\ninclude: ['{MAPPINGS / 'example.yaml'}', "
        + ", ".join(f"'{MAPPINGS / f}'" for f in READY_MADE) + "]\n")
    assert len(Runtime.compile(load_config(example / "config.yaml", environ={})).routes) == 20


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
        ("z2m-door-opened", "family", "🚪 front door was opened")]
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


def test_scripts(tmp_path: Path) -> None:
    p = pipeline_for(tmp_path, "scripts.yaml")
    assert sent(p, "scripts/backup/nas", "done, 12G") == [("script-backup", "ops", "💾 Backup on nas: done, 12G")]
    assert sent(p, "scripts/disk/nas", "93") == [("script-disk-full", "ops", "💽 nas: disk 93 % full")]
    assert sent(p, "scripts/disk/nas", "42") == []
    assert sent(p, "scripts/cron/nas/sync", "exit status 23") == [
        ("script-cron-failed", "ops", "⏰ cron job sync failed on nas: exit status 23")]
    assert sent(p, "scripts/done/buildbox/build", "3725") == [
        ("script-done", "ops", "✅ build on buildbox finished after 1 h 2 min")]
