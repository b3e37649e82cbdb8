"""The MQTT topic contract, and the wildcard matcher routes use.

This is the only module that builds topic strings under the base topic: every other module
asks `Topics` for a name, so the contract in the README can be checked against one table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

_NAMED_LEVEL = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class TopicFilterError(ValueError):
    """A topic filter or base topic that MQTT would refuse, with a sentence saying why."""


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
    """Names of every topic the bridge publishes or listens to, under one base topic."""

    DELIVERY: Final = "bridge/delivery"
    STATE: Final = "bridge/state"
    SEND_PREFIX: Final = "send"

    def __init__(self, base: str) -> None:
        if not base or base.startswith("/") or base.endswith("/"):
            raise TopicFilterError(f"base_topic {base!r} must be non-empty and not start or end with '/'")
        if "+" in base or "#" in base or "\x00" in base:
            raise TopicFilterError(f"base_topic {base!r} cannot contain '+', '#' or NUL")
        self.base = base

    def _join(self, suffix: str) -> str:
        return f"{self.base}/{suffix}"

    @property
    def delivery(self) -> str:
        """Delivery reports: one per event and room, QoS 1, not retained."""
        return self._join(self.DELIVERY)

    @property
    def state(self) -> str:
        return self._join(self.STATE)

    @property
    def send_filter(self) -> str:
        """Where scripts publish text for one room: `<base>/send/<room key>`."""
        return self._join(f"{self.SEND_PREFIX}/+")

    def send(self, room_key: str) -> str:
        check_topic_level(room_key, "a room key")
        return self._join(f"{self.SEND_PREFIX}/{room_key}")

    def direct_send_key(self, topic: str) -> str | None:
        """The room key of a direct-send topic, or None when the topic is not one."""
        prefix = self._join(f"{self.SEND_PREFIX}/")
        if not topic.startswith(prefix):
            return None
        key = topic[len(prefix):]
        return None if "/" in key or not key else key
