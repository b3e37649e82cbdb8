from pathlib import Path

import pytest

from bridge.config.loader import load_config
from bridge.config.models import ENV_TOKEN
from bridge.errors import ConfigError
from bridge.events import DeliveryPolicy
from bridge.pipeline.runtime import Runtime

GOOD = """\
mqtt:
  host: broker.lan
  password: ${MQTT_PASSWORD}
wechaty:
  endpoint: gw:8788
  token: ${TOKEN:-from-default}
rooms:
  family: {topic: "Happy Family"}
routes:
  - topic: "home/{area}/door"
    rooms: [family]
    template: "Door {{ area }} opened"
include: ["mappings/*.yaml"]
"""

MAPPING = """\
rooms:
  ops: {id: "123@chatroom"}
routes:
  - topic: "tele/+/SENSOR"
    rooms: [ops, family]
    template: "{{ payload.ENERGY.Total }}"
"""


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config = load_config(path, env if env is not None else {ENV_TOKEN: "t"})
        Runtime.compile(config)
    return [str(p) for p in info.value.problems]


def test_good_config_with_includes_and_env(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    write(tmp_path, MAPPING, "mappings/tasmota.yaml")
    config = load_config(path, {"MQTT_PASSWORD": "s3cret"})
    assert config.mqtt.host == "broker.lan"
    assert config.mqtt.password is not None and config.mqtt.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(config)
    assert config.wechaty.token is not None and config.wechaty.token.get_secret_value() == "from-default"
    assert set(config.rooms) == {"family", "ops"}
    assert [r.topic for r in config.routes] == ["home/{area}/door", "tele/+/SENSOR"]


def test_env_vars_override_the_gateway_settings(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('include: ["mappings/*.yaml"]', ""))
    config = load_config(path, {"MQTT_PASSWORD": "x", ENV_TOKEN: "env-token",
                                "WECHATY_PUPPET_SERVICE_ENDPOINT": "10.0.0.2:9000"})
    assert config.wechaty.endpoint == "10.0.0.2:9000"
    assert config.wechaty.token is not None and config.wechaty.token.get_secret_value() == "env-token"


def test_every_problem_names_file_key_path_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, """\
mqtt:
  port: 99999
  hots: x
rooms:
  family: {topic: "A", id: "b"}
routes:
  - topic: "a/#/b"
    rooms: [family]
    template: "x"
""")
    found = problems(path)
    assert f"{path}:2: mqtt.port: Input should be less than or equal to 65535" in found
    assert any(p.startswith(f"{path}:3: mqtt.hots: unknown key") for p in found)
    assert (f"{path}:5: rooms.family: give exactly one of 'topic' (a group's name), 'id' (a group's id) or "
            "'ilink' (a person bound to the official bot)") in found
    assert f"{path}:7: routes[0].topic: '#' must be the last level of a topic filter: 'a/#/b'" in found


def test_cross_file_problems_point_into_the_included_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    mapping = write(tmp_path, MAPPING.replace("[ops, family]", "[ops, nowhere]").replace(
        '"{{ payload.ENERGY.Total }}"', '"{{ payload.ENERGY.Total "'), "mappings/tasmota.yaml")
    found = problems(path, {"MQTT_PASSWORD": "x"})
    assert f"{mapping}:5: routes[0].rooms[1]: unknown room key 'nowhere' (known: family, ops)" in found
    # Template syntax is only checked once the room keys are known to be good.
    assert len(found) == 1


def test_template_syntax_errors_are_config_errors(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("Door {{ area }} opened", "Door {{ area }").replace(
        'include: ["mappings/*.yaml"]', ""))
    found = problems(path, {"MQTT_PASSWORD": "x", "TOKEN": "t"})
    assert found == [f"{path}:12: routes[0].template: template syntax error on its line 1: unexpected '}}'"]


def test_missing_secret_env_var_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('include: ["mappings/*.yaml"]', ""))
    assert problems(path, {}) == [f"{path}:3: mqtt.password: environment variable MQTT_PASSWORD is not set"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty"),
        ("a: [1, 2", "not valid YAML"),
        ("- 1\n- 2\n", "the file must hold a mapping of keys, not a list"),
        ("rooms: {a: {topic: x}}\nrooms: {}\n", "key 'rooms' is given twice"),
    ],
)
def test_unusable_files(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    assert any(expected in p for p in problems(path)), problems(path)


def test_duplicate_route_names_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, """\
wechaty: {token: t}
rooms: {a: {topic: x}}
routes:
  - {name: same, topic: a, rooms: [a], template: x}
  - {name: same, topic: b, rooms: [a], template: y}
""")
    found = problems(path)
    assert f"{path}:4: routes[0].name: route name 'same' is used by more than one route" in found
    assert f"{path}:5: routes[1].name: route name 'same' is used by more than one route" in found


def test_delivery_retry_expiry_and_outbox_keys(tmp_path: Path) -> None:
    path = write(tmp_path, """\
rooms: {ops: {id: "ops@chatroom"}}
delivery: {retry: {attempts: 3, backoff: 500ms}, expire_after: 1h}
outbox: {path: /var/lib/bridge/outbox.sqlite3, idempotency_window: 2d}
routes:
  - {topic: a, rooms: [ops], template: x}
  - {topic: b, rooms: [ops], template: x, retry: {attempts: 5, backoff: 2s, max_backoff: 1m}, expire_after: 10m}
""")
    config = load_config(path, {ENV_TOKEN: "t"})
    retry = config.delivery.retry
    assert (retry.attempts, retry.backoff, config.delivery.expire_after) == (3, 0.5, 3600)
    assert (config.outbox.path, config.outbox.idempotency_window) == ("/var/lib/bridge/outbox.sqlite3", 172800)
    runtime = Runtime.compile(config)
    assert runtime.direct_policy == DeliveryPolicy(attempts=3, backoff=0.5, max_backoff=300.0, expire_after=3600.0)
    assert {route.name: route.policy for route in runtime.routes} == {
        "a": DeliveryPolicy(attempts=3, backoff=0.5, max_backoff=300.0, expire_after=3600.0),
        "b": DeliveryPolicy(attempts=5, backoff=2.0, max_backoff=60.0, expire_after=600.0),
    }


def test_bad_durations_and_retry_settings_are_located(tmp_path: Path) -> None:
    path = write(tmp_path, """\
rooms: {ops: {id: "ops@chatroom"}}
routes:
  - topic: a
    rooms: [ops]
    template: x
    retry: {attempts: 0, backoff: soon}
    expire_after: -5
delivery:
  retry: {backoff: 1m, max_backoff: 10s}
""")
    assert problems(path) == [
        f"{path}:6: routes[0].retry.attempts: Input should be greater than or equal to 1",
        f"{path}:6: routes[0].retry.backoff: 'soon' is not a duration: write a number of seconds "
        "or e.g. '500ms', '2s', '10m', '1h', '7d'",
        f"{path}:7: routes[0].expire_after: Input should be greater than 0",
        f"{path}:9: delivery.retry: max_backoff (10 s) is shorter than backoff (60 s)",
    ]
