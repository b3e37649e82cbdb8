"""Incoming messages: read from the gateway only while a room listens."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from bridge.wechat import IncomingMessage, LoginState, WeChatClient, WeChatUser
from bridge.wechaty_compat import EventMessagePayload


class Puppet:
    def __init__(self) -> None:
        self.reads: list[str] = []

    async def message_payload(self, message_id: str) -> Any:
        self.reads.append(message_id)
        return SimpleNamespace(id=message_id, room_id="room@chatroom", from_id="alice", text="hi", type=1,
                               mention_ids=[], timestamp=1_700_000_000)

    async def contact_payload(self, contact_id: str) -> Any:
        return SimpleNamespace(name="Alice")


async def test_messages_are_read_only_while_a_room_listens() -> None:
    events: list[object] = []

    async def on_event(event: object) -> None:
        events.append(event)

    listening = False
    client = WeChatClient(endpoint="127.0.0.1:1", token="t", send_timeout=1.0, on_event=on_event,
                          listening=lambda: listening)
    puppet = Puppet()
    client._bot = SimpleNamespace(puppet=puppet)  # type: ignore[assignment]
    client._state = LoginState("logged_in", user=WeChatUser("bot", "Bot"))

    await client._handle_message(EventMessagePayload(message_id="m1"))
    assert puppet.reads == [] and events == []  # e.g. the echo of our own send: not even fetched

    listening = True
    await client._handle_message(EventMessagePayload(message_id="m2"))
    assert puppet.reads == ["m2"]
    [message] = events
    assert isinstance(message, IncomingMessage) and (message.from_name, message.text) == ("Alice", "hi")
