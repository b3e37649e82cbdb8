"""The configuration: pydantic models, and loading that names file, key path and line.

A config is loaded once, by the CLI, and passed down; nothing reads it from a global.
Secrets are `SecretStr`, so printing a config or an error never shows them.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bridge.errors import ConfigError, ConfigProblem
from bridge.topics import TopicFilter, TopicFilterError, Topics, check_topic_level
from bridge.yaml_source import Path_, YamlDocument, read_yaml

#: Environment variables that override the `wechaty` section, named as the wechaty SDKs name them.
ENV_ENDPOINT = "WECHATY_PUPPET_SERVICE_ENDPOINT"
ENV_TOKEN = "WECHATY_PUPPET_SERVICE_TOKEN"

#: Template variables the bridge provides; a named topic level may not shadow them.
RESERVED_TEMPLATE_NAMES = frozenset({"payload", "raw", "topic", "wildcards", "now", "route", "room"})


class _Strict(BaseModel):
    # Unknown keys are errors: a typo such as `tempalte:` must not silently do nothing.
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttSettings(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    username: str | None = None
    password: SecretStr | None = None
    client_id: Annotated[str, Field(min_length=1)] = "wechat-mqtt-bridge"
    base_topic: str = "wechat"
    keepalive: Annotated[int, Field(ge=5, le=3600)] = 60

    @field_validator("base_topic")
    @classmethod
    def _base_topic_is_usable(cls, value: str) -> str:
        try:
            Topics(value)
        except TopicFilterError as exc:
            raise ValueError(str(exc)) from None
        return value


class WechatySettings(_Strict):
    endpoint: str = "127.0.0.1:8788"
    token: SecretStr | None = None
    #: How long one send may take before it counts as failed.
    send_timeout: Annotated[float, Field(gt=0, le=300)] = 30.0


class LimitsSettings(_Strict):
    #: Payloads above this size are rejected before any decoding work.
    max_payload_bytes: Annotated[int, Field(ge=1, le=16 * 1024 * 1024)] = 256 * 1024
    #: Events waiting for WeChat; past it new events are rejected rather than held without bound.
    max_queued: Annotated[int, Field(ge=1)] = 10_000


class HomeAssistantSettings(_Strict):
    """Home Assistant MQTT discovery: the bridge's entities appear in HA without any HA config."""

    discovery: bool = True
    #: HA's `discovery_prefix`; HA announces itself on `<prefix>/status`.
    prefix: str = "homeassistant"

    @field_validator("prefix")
    @classmethod
    def _prefix_is_usable(cls, value: str) -> str:
        try:
            Topics(value)  # the same rules as a base topic: no wildcards, no leading or trailing '/'
        except TopicFilterError as exc:
            raise ValueError(str(exc).replace("base_topic", "the discovery prefix")) from None
        return value


class RoomSettings(_Strict):
    """A room the bridge may write to, found by exact topic (name) or by id."""

    topic: Annotated[str, Field(min_length=1)] | None = None
    id: Annotated[str, Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _exactly_one_selector(self) -> RoomSettings:
        if (self.topic is None) == (self.id is None):
            raise ValueError("give exactly one of 'topic' (the room name) or 'id'")
        return self

    def describe(self) -> str:
        return f"id {self.id!r}" if self.id is not None else f"topic {self.topic!r}"


class RouteSettings(_Strict):
    """MQTT messages on `topic` become `template` in each of `rooms`, when `when` holds."""

    topic: str
    rooms: Annotated[list[str], Field(min_length=1)]
    template: str
    name: Annotated[str, Field(min_length=1)] | None = None
    when: str | None = None
    #: Retained messages are replayed by the broker on every (re)subscribe; alarms must not repeat.
    retained: bool = False

    _origin: tuple[YamlDocument, Path_] | None = PrivateAttr(default=None)

    @field_validator("topic")
    @classmethod
    def _topic_is_a_filter(cls, value: str) -> str:
        try:
            parsed = TopicFilter.parse(value)
        except TopicFilterError as exc:
            raise ValueError(str(exc)) from None
        clash = RESERVED_TEMPLATE_NAMES.intersection(parsed.segment_names)
        if clash:
            raise ValueError(f"named level {sorted(clash)[0]!r} would hide a template variable of that name")
        return value

    def problem(self, subpath: Path_, message: str) -> ConfigProblem:
        """A problem located in the file and at the key this route came from."""
        if self._origin is None:
            return ConfigProblem("<config>", ".".join(map(str, subpath)), message)
        doc, path = self._origin
        return doc.problem((*path, *subpath), message)


class _Mappings(_Strict):
    """What an included mapping file may hold."""

    rooms: dict[str, RoomSettings] = Field(default_factory=dict)
    routes: list[RouteSettings] = Field(default_factory=list)

    @field_validator("rooms")
    @classmethod
    def _room_keys_fit_a_topic_level(cls, value: dict[str, RoomSettings]) -> dict[str, RoomSettings]:
        for key in value:
            try:
                check_topic_level(key, "room key")
            except TopicFilterError as exc:
                raise ValueError(f"{exc}; room keys become part of the topic <base>/send/<key>") from None
        return value


class Config(_Mappings):
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    wechaty: WechatySettings = Field(default_factory=WechatySettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    homeassistant: HomeAssistantSettings = Field(default_factory=HomeAssistantSettings)
    include: list[str] = Field(default_factory=list)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @property
    def topics(self) -> Topics:
        return Topics(self.mqtt.base_topic)


M = TypeVar("M", bound=_Mappings)


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read the main file and its includes; raise `ConfigError` listing every problem found."""
    env = os.environ if environ is None else environ
    main_path = Path(path)
    main_doc = read_yaml(main_path, env)
    problems = list(main_doc.problems)
    config = _validate(Config, main_doc, problems)
    # Included files are read even when the main file is broken, so one run shows every problem.
    includes = config.include if config is not None else _raw_includes(main_doc.value)

    rooms = dict(config.rooms) if config is not None else _rooms_alone(main_doc.value)
    room_origin = {key: main_doc for key in rooms}
    routes = list(config.routes) if config is not None else []
    for index, pattern in enumerate(includes):
        matched = sorted(glob.glob(str(main_path.parent / pattern)))
        if not matched and not glob.has_magic(pattern):
            problems.append(main_doc.problem(("include", index), f"included file {pattern!r} not found"))
        for file in matched:
            doc = read_yaml(Path(file), env)
            problems.extend(doc.problems)
            fragment = _validate(_Mappings, doc, problems)
            if fragment is None:
                continue
            for key, room in fragment.rooms.items():
                if key in rooms:
                    first = room_origin[key].file
                    problems.append(doc.problem(("rooms", key), f"room key {key!r} is also defined in {first}"))
                    continue
                rooms[key] = room
                room_origin[key] = doc
            routes.extend(fragment.routes)
    for route in routes:
        for index, key in enumerate(route.rooms):
            if key not in rooms:
                known = ", ".join(sorted(rooms)) or "none are defined"
                problems.append(route.problem(("rooms", index), f"unknown room key {key!r} (known: {known})"))
    if config is None:
        raise ConfigError(problems or [ConfigProblem(str(main_path), "", "cannot be used")])
    config = config.model_copy(update={"rooms": rooms, "routes": routes, "include": config.include})

    wechaty = config.wechaty
    endpoint = env.get(ENV_ENDPOINT) or wechaty.endpoint
    token = env.get(ENV_TOKEN)
    wechaty = wechaty.model_copy(
        update={"endpoint": endpoint, "token": SecretStr(token) if token else wechaty.token}
    )
    if wechaty.token is None or not wechaty.token.get_secret_value():
        problems.append(main_doc.problem(
            ("wechaty", "token"), f"the gateway token is missing: set wechaty.token or {ENV_TOKEN}"
        ))
    if problems:
        raise ConfigError(problems)
    return config.model_copy(update={"wechaty": wechaty})


def _validate(model: type[M], doc: YamlDocument, problems: list[ConfigProblem]) -> M | None:
    if doc.value is None:
        return None
    if not isinstance(doc.value, dict):
        problems.append(doc.problem((), f"the file must hold a mapping of keys, not {_kind(doc.value)}"))
        return None
    try:
        result = model.model_validate(doc.value)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            problems.append(doc.problem(loc, _message(error)))
        return None
    for index, route in enumerate(result.routes):
        route._origin = (doc, ("routes", index))
    return result


def _rooms_alone(value: Any) -> dict[str, RoomSettings]:
    """The main file's rooms when the rest of it is broken, to check routes against them."""
    try:
        return _Mappings.model_validate({"rooms": value.get("rooms") or {}}).rooms
    except (ValidationError, AttributeError):
        return {}


def _raw_includes(value: Any) -> list[str]:
    raw = value.get("include") if isinstance(value, dict) else None
    return [p for p in raw if isinstance(p, str)] if isinstance(raw, list) else []


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (check its spelling; see the README's config reference)"
    if kind == "missing":
        return "this key is required"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _kind(value: object) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true/false"}.get(
        type(value), type(value).__name__
    )
