"""What people write in listening rooms -> `<base>/rooms/<key>/message`, filtered per room key.

A room with `listening:` publishes the messages of its WeChat room; `mentioned_only` keeps those
that @-mention the account, `match` those whose text the regular expression finds. The settings
are read from the runtime in force at each message, so a reload applies at once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from bridge.chat import IncomingMessage
from bridge.events import Publication
from bridge.pipeline.runtime import LiveRuntime
from bridge.reporting import payloads as reports
from bridge.wechat.rooms import RoomDirectory

log = logging.getLogger(__name__)

Publish = Callable[[Publication], Awaitable[object]]


class IncomingMessages:
    def __init__(self, *, live: LiveRuntime, directory: RoomDirectory, publish: Publish) -> None:
        self._live = live
        self._directory = directory
        self._publish = publish

    def listening(self) -> bool:
        """Whether any configured room publishes what people write (asked by the WeChat client per message)."""
        return any(room.listening is not None for room in self._live.current.rooms.values())

    async def publish(self, message: IncomingMessage) -> None:
        """A message someone wrote, to `<base>/rooms/<key>/message` of each listening key of its room."""
        runtime = self._live.current
        for key, resolution in self._directory.resolutions.items():
            listen = runtime.rooms[key].listening if key in runtime.rooms else None
            if listen is None or resolution.room is None or resolution.room.id != message.room_id:
                continue
            if listen.mentioned_only and not message.mentioned_me:
                continue
            if listen.match is not None and not re.search(listen.match, message.text):
                continue
            log.debug("message in room %r from %s: %s", key, message.from_name, message.text)
            await self._publish(reports.room_message_publication(runtime.topics, key, resolution.room, message))
