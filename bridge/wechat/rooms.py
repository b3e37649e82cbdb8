"""Config room keys -> WeChat rooms, resolved after every login (pure apart from the list fetch).

Rooms are matched by exact topic or exact id. wechaty's own `Room.find` matches substrings and
ignores case ("家" finds "老家群"), which would send a family alarm to the wrong group.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bridge.chat import WeChatRoom
from bridge.config.rooms import RoomSettings
from bridge.errors import RoomNotAvailable

#: The prefix of the room id an official bot's room resolves to (`ilink:alice`): no gateway room id has a colon.
ILINK_PREFIX = "ilink:"


def ilink_room_id(name: str) -> str:
    return ILINK_PREFIX + name


def person_of(room_id: str) -> str | None:
    """The person an official bot's room id names; None for a group chat's id."""
    return room_id[len(ILINK_PREFIX):] if room_id.startswith(ILINK_PREFIX) else None


@dataclass(frozen=True, slots=True)
class Resolution:
    """A room key's WeChat room, or why there is none."""

    key: str
    room: WeChatRoom | None
    problem: str | None


def resolve_rooms(configured: Mapping[str, RoomSettings], rooms: list[WeChatRoom]) -> dict[str, Resolution]:
    by_id = {room.id: room for room in rooms}
    by_topic: dict[str, list[WeChatRoom]] = {}
    for room in rooms:
        by_topic.setdefault(room.topic, []).append(room)
    result = {}
    for key, wanted in configured.items():
        if wanted.ilink is not None:  # a person's chat with the official bot: nothing to look up
            result[key] = Resolution(key, WeChatRoom(ilink_room_id(wanted.ilink), wanted.ilink, 1), None)
            continue
        if wanted.id is not None:
            found = by_id.get(wanted.id)
            problem = None if found else f"room {key!r}: the account is in no room with id {wanted.id!r}"
            result[key] = Resolution(key, found, problem)
            continue
        candidates = by_topic.get(wanted.topic or "", [])
        if len(candidates) == 1:
            result[key] = Resolution(key, candidates[0], None)
        elif not candidates:
            result[key] = Resolution(key, None, f"room {key!r}: the account is in no room named {wanted.topic!r}")
        else:
            ids = ", ".join(sorted(r.id for r in candidates))
            result[key] = Resolution(key, None, (
                f"room {key!r}: {len(candidates)} rooms are named {wanted.topic!r} ({ids}); "
                "configure it by id instead"
            ))
    return result


class RoomDirectory:
    """The latest resolution; replaced as a whole so a reader never sees half an update."""

    def __init__(self) -> None:
        self._configured: Mapping[str, RoomSettings] = {}
        self._resolutions: dict[str, Resolution] = {}
        self.rooms: list[WeChatRoom] = []

    def update(self, rooms: list[WeChatRoom], configured: Mapping[str, RoomSettings]) -> dict[str, Resolution]:
        """Resolve the room keys `configured` (those of the runtime in force) against the account's `rooms`."""
        self.rooms = rooms
        self._configured = configured
        self._resolutions = resolve_rooms(configured, rooms)
        return self._resolutions

    @property
    def resolutions(self) -> Mapping[str, Resolution]:
        return self._resolutions

    def resolve(self, key: str) -> WeChatRoom:
        resolution = self._resolutions.get(key)
        if key not in self._configured:
            raise RoomNotAvailable(f"unknown room key {key!r}")
        if resolution is None:
            raise RoomNotAvailable(f"room {key!r} has not been looked up in WeChat yet")
        if resolution.room is None:
            raise RoomNotAvailable(resolution.problem or f"room {key!r} is not available")
        return resolution.room
