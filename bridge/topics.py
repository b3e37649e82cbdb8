"""The MQTT topic contract, and the wildcard matcher routes use.

This is the only module that builds topic strings under the base topic: every other module
asks `Topics` for a name, so the contract in the README can be checked against one table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal

from bridge.errors import TopicFilterError

_NAMED_LEVEL = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


@dataclass(frozen=True, slots=True)
class TopicKind:
    """What an inbound topic is to the bridge, decided once (`Topics.classify`) and carried on.

    `request`: `<base>/bridge/request/<name>` (`name` set); `direct`: `<base>/send/<room key>`
    (`room_key` set, possibly empty or with `/`, for a rejection to name); `own`: anything else
    under the base topic, which routes never see; `event`: everything else, for the routes.
    """

    kind: Literal["request", "direct", "own", "event"]
    name: str | None = None
    room_key: str | None = None


EVENT = TopicKind("event")


@dataclass(frozen=True, slots=True)
class TopicMatch:
    """What a filter captured from a topic: each wildcard in order, and the named ones by name."""

    wildcards: tuple[str, ...]
    named: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class TopicFilter:
    """An MQTT subscription filter, optionally with named single-level segments.

    `home/{area}/door` subscribes as `home/+/door` and captures the middle level as `area`.
    Matching follows MQTT 3.1.1 section 4.7, including that `#` matches its parent level and that
    a filter starting with a wildcard does not match topics starting with `$`.
    """

    text: str
    levels: tuple[str, ...]
    names: tuple[str | None, ...]

    @classmethod
    def parse(cls, text: str) -> TopicFilter:
        if not text:
            raise TopicFilterError("a topic filter cannot be empty")
        if "\x00" in text:
            raise TopicFilterError("a topic filter cannot contain a NUL character")
        levels: list[str] = []
        names: list[str | None] = []
        raw_levels = text.split("/")
        for index, level in enumerate(raw_levels):
            named = _NAMED_LEVEL.match(level)
            if named:
                levels.append("+")
                names.append(named.group(1))
                continue
            if level == "#" and index != len(raw_levels) - 1:
                raise TopicFilterError(f"'#' must be the last level of a topic filter: {text!r}")
            if level not in ("+", "#") and ("+" in level or "#" in level):
                raise TopicFilterError(
                    f"'+' and '#' must fill a whole level of a topic filter: {text!r} (level {level!r})"
                )
            if "{" in level or "}" in level:
                raise TopicFilterError(
                    f"a named level is written {{name}} with a Python-style name: {text!r} (level {level!r})"
                )
            levels.append(level)
            names.append(None)
        seen = [n for n in names if n is not None]
        if len(seen) != len(set(seen)):
            raise TopicFilterError(f"a name is used twice in topic filter {text!r}")
        return cls(text=text, levels=tuple(levels), names=tuple(names))

    @property
    def mqtt(self) -> str:
        """The filter as the broker understands it (named levels become `+`)."""
        return "/".join(self.levels)

    @property
    def segment_names(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if n is not None)

    def match(self, topic: str) -> TopicMatch | None:
        if topic.startswith("$") and self.levels[0] in ("+", "#"):
            return None
        parts = topic.split("/")
        captured: list[str] = []
        named: dict[str, str] = {}
        for index, level in enumerate(self.levels):
            if level == "#":
                captured.append("/".join(parts[index:]))
                return TopicMatch(tuple(captured), MappingProxyType(named))
            if index >= len(parts):
                return None
            if level == "+":
                captured.append(parts[index])
                name = self.names[index]
                if name is not None:
                    named[name] = parts[index]
            elif level != parts[index]:
                return None
        if len(parts) != len(self.levels):
            return None
        return TopicMatch(tuple(captured), MappingProxyType(named))


def check_topic_level(value: str, what: str) -> None:
    """Refuse a string that would change the topic structure if put into one topic level."""
    if not value:
        raise TopicFilterError(f"{what} cannot be empty")
    for bad, meaning in (("/", "a level separator"), ("+", "a wildcard"), ("#", "a wildcard"),
                         ("\x00", "a NUL character")):
        if bad in value:
            raise TopicFilterError(f"{what} {value!r} contains {meaning} ({bad!r})")


class Topics:
    """Names of every topic the bridge publishes or listens to, under one base topic.

    | topic                          | retained | what                                        |
    |--------------------------------|----------|---------------------------------------------|
    | <base>/bridge/state            | yes      | online / offline (also the MQTT last will)  |
    | <base>/bridge/login            | yes      | connecting / scan / logged_in / logged_out  |
    | <base>/bridge/login/qrcode     | yes      | SVG image: the login QR code, or the state  |
    | <base>/bridge/rooms            | yes      | every room of the account                   |
    | <base>/bridge/ilink/<name>     | yes      | a person's official bot: login, window      |
    | <base>/bridge/info             | yes      | version, counts, unresolved rooms, uptime   |
    | <base>/bridge/event            | no       | login, logout, room changes, errors         |
    | <base>/bridge/delivery         | no       | one report per event and room               |
    | <base>/bridge/request/<name>   | in       | rooms, send, health_check, reload           |
    | <base>/bridge/response/<name>  | no       | {status, data | error, transaction}         |
    | <base>/send/<room key>         | in       | text (or JSON) for one room                 |
    | <base>/rooms/<key>/message     | no       | what people write in a listening room       |
    """

    REQUESTS: Final = ("health_check", "reload", "rooms", "send")

    def __init__(self, base: str) -> None:
        if not base or base.startswith("/") or base.endswith("/"):
            raise TopicFilterError(f"base_topic {base!r} must be non-empty and not start or end with '/'")
        if "+" in base or "#" in base or "\x00" in base:
            raise TopicFilterError(f"base_topic {base!r} cannot contain '+', '#' or NUL")
        self.base = base

    def _join(self, suffix: str) -> str:
        return f"{self.base}/{suffix}"

    @property
    def state(self) -> str:
        return self._join("bridge/state")

    @property
    def login(self) -> str:
        return self._join("bridge/login")

    @property
    def login_qrcode(self) -> str:
        """An SVG picture of the login QR code while a scan is needed (Home Assistant's image entity)."""
        return self._join("bridge/login/qrcode")

    def ilink(self, name: str) -> str:
        """A person's official bot (iLink): login state, reply window, budget, what waits."""
        check_topic_level(name, "a bound person's name")
        return self._join(f"bridge/ilink/{name}")

    @property
    def rooms(self) -> str:
        return self._join("bridge/rooms")

    @property
    def info(self) -> str:
        return self._join("bridge/info")

    @property
    def event(self) -> str:
        return self._join("bridge/event")

    @property
    def delivery(self) -> str:
        return self._join("bridge/delivery")

    @property
    def request_filter(self) -> str:
        return self._join("bridge/request/+")

    def request(self, name: str) -> str:
        check_topic_level(name, "a request name")
        return self._join(f"bridge/request/{name}")

    def request_name(self, topic: str) -> str | None:
        """The request name of a request topic, or None when the topic is not one."""
        return self._last_level(topic, "bridge/request/")

    def response(self, name: str) -> str:
        check_topic_level(name, "a request name")
        return self._join(f"bridge/response/{name}")

    def room_message(self, room_key: str) -> str:
        check_topic_level(room_key, "a room key")
        return self._join(f"rooms/{room_key}/message")

    @property
    def send_filter(self) -> str:
        """Where scripts publish text for one room: `<base>/send/<room key>`.

        `#` rather than `+`, so a key that looks like a path (`send/a/b`) reaches the bridge
        and gets a rejected report instead of vanishing unanswered.
        """
        return self._join("send/#")

    def send(self, room_key: str) -> str:
        check_topic_level(room_key, "a room key")
        return self._join(f"send/{room_key}")

    def direct_send_key(self, topic: str) -> str | None:
        """Everything after `<base>/send/` (possibly empty or with `/`), or None for other topics."""
        prefix = self._join("send/")
        if topic == self._join("send"):
            return ""
        return topic[len(prefix):] if topic.startswith(prefix) else None

    def classify(self, topic: str) -> TopicKind:
        """The one place an inbound topic is classified (see `TopicKind`)."""
        if not self.is_own(topic):
            return EVENT
        name = self.request_name(topic)
        if name is not None:
            return TopicKind("request", name=name)
        room_key = self.direct_send_key(topic)
        if room_key is not None:
            return TopicKind("direct", room_key=room_key)
        return TopicKind("own")

    def is_own(self, topic: str) -> bool:
        """Whether a topic is under the base topic, which routes never see."""
        return topic.startswith(self.base + "/")

    def _last_level(self, topic: str, middle: str) -> str | None:
        prefix = self._join(middle)
        if not topic.startswith(prefix):
            return None
        rest = topic[len(prefix):]
        return None if "/" in rest or not rest else rest


#: What Home Assistant accepts as a discovery node id or object id (its discovery topic regex).
_DISCOVERY_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


class DiscoveryTopics:
    """Home Assistant MQTT discovery topics of one bridge, under HA's discovery prefix.

    | topic                                        | retained | what                                 |
    |----------------------------------------------|----------|--------------------------------------|
    | <prefix>/<component>/<node id>/<object id>/config | yes | one entity's discovery config; empty = removed |
    | <prefix>/status                              | in       | `online` when Home Assistant starts   |

    The node id is the bridge's own (from `mqtt.client_id`), so `config_filter` sees exactly this
    bridge's configs and no one else's.
    """

    def __init__(self, prefix: str, node_id: str) -> None:
        Topics(prefix)  # same rules as a base topic
        if not _DISCOVERY_ID.match(node_id):
            raise TopicFilterError(f"discovery node id {node_id!r} may only hold letters, digits, '_' and '-'")
        self.prefix = prefix
        self.node_id = node_id
        self._config_filter = TopicFilter.parse(self.config_filter)  # matched against every message

    @property
    def status(self) -> str:
        """Where Home Assistant publishes `online` (its birth message) and `offline`."""
        return f"{self.prefix}/status"

    @property
    def config_filter(self) -> str:
        return f"{self.prefix}/+/{self.node_id}/+/config"

    def config(self, component: str, object_id: str) -> str:
        for value, what in ((component, "component"), (object_id, "object id")):
            if not _DISCOVERY_ID.match(value):
                raise TopicFilterError(f"discovery {what} {value!r} may only hold letters, digits, '_' and '-'")
        return f"{self.prefix}/{component}/{self.node_id}/{object_id}/config"

    def is_config(self, topic: str) -> bool:
        """Whether `topic` is one of this bridge's discovery config topics."""
        return self._config_filter.match(topic) is not None
