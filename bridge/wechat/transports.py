"""The ways into WeChat behind one sender: group chats through a gateway, people through the official bot.

A configured room resolves to a room id (`bridge.wechat.rooms`): a group's id from the gateway's
room list, or `ilink:<name>` for a person's chat with the official bot. `Transports` sends by that
id, so the delivery worker sees one `Sender`. `TransportOpenings` tells the worker, before each
claim, which rooms can take a message now (`bridge.events.Openings`): the gateway's rooms only
once it is logged in and its rooms are read; each person's only while their bot's window and
budget allow, folding what waited into one digest when the budget has one message left or the
person has just written again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from bridge.chat import Capabilities, LoginState, WeChatContact, WeChatRoom
from bridge.errors import GatewayUnavailable
from bridge.events import Openings
from bridge.pipeline.runtime import LiveRuntime
from bridge.wechat.capabilities import ILINK, PUPPETS
from bridge.wechat.rooms import person_of

if TYPE_CHECKING:  # the bots are built only when a room names a person: a config without them does not load them
    from bridge.wechat.official import OfficialBots

#: How far past `now` a fold reaches: the rows due now, not one a clock tick later.
_FOLD_MARGIN_SECONDS = 0.001


class GroupSender(Protocol):
    """The gateway's client (`bridge.wechat.client.WeChatClient`), as far as sending goes."""

    @property
    def state(self) -> LoginState: ...

    def capabilities(self, room_id: str = "") -> Capabilities: ...

    async def send_text(self, room_id: str, text: str, mentions: Sequence[WeChatContact] = ()) -> str: ...

    async def send_file(self, room_id: str, name: str, data: bytes) -> str: ...

    async def room_members(self, room_id: str) -> list[WeChatContact]: ...


class Transports:
    """One `Sender` for the delivery worker; each room id goes to the transport that owns it."""

    def __init__(self, *, gateway: GroupSender | None, official: OfficialBots | None) -> None:
        self._gateway = gateway
        self._official = official
        self._account = LoginState("connecting")

    @property
    def state(self) -> LoginState:
        """The gateway's login; without a gateway, the official bots' together (`set_account`)."""
        return self._gateway.state if self._gateway is not None else self._account

    def set_account(self, state: LoginState) -> None:
        self._account = state

    def capabilities(self, room_id: str) -> Capabilities:
        """What the transport of `room_id` can carry (`bridge.wechat.capabilities`)."""
        if person_of(room_id) is not None:
            return ILINK
        return self._group().capabilities(room_id) if self._gateway is not None else PUPPETS["unknown"]

    async def send_text(self, room_id: str, text: str, mentions: Sequence[WeChatContact] = ()) -> str:
        person = person_of(room_id)
        if person is not None:
            return await self._bots().send_text(person, text)
        return await self._group().send_text(room_id, text, mentions)

    async def send_file(self, room_id: str, name: str, data: bytes) -> str:
        person = person_of(room_id)
        if person is not None:
            return await self._bots().send_file(person, name, data)
        return await self._group().send_file(room_id, name, data)

    async def room_members(self, room_id: str) -> list[WeChatContact]:
        if person_of(room_id) is not None:
            return []  # a person's chat with the bot: nobody to @-mention
        return await self._group().room_members(room_id)

    def _bots(self) -> OfficialBots:
        if self._official is None:
            raise GatewayUnavailable("no official bot is configured")
        return self._official

    def _group(self) -> GroupSender:
        if self._gateway is None:
            raise GatewayUnavailable("no gateway is configured: group chats need `wechaty`")
        return self._gateway


class NoGateway:
    """Where the gateway would be, for a config with no group chat: never logged in, no rooms."""

    @property
    def state(self) -> LoginState:
        return LoginState("logged_out", reason="no gateway is configured (no room is a group chat)")

    async def rooms(self) -> list[WeChatRoom]:
        return []


class TransportOpenings:
    """`openings(now)`: which rooms the worker may claim for now (see the module docstring)."""

    def __init__(self, *, live: LiveRuntime, rooms_ready: asyncio.Event, official: OfficialBots | None) -> None:
        self._live = live
        self._rooms_ready = rooms_ready
        self._official = official

    def __call__(self, now: float) -> Openings:
        rooms = self._live.current.rooms
        groups = {key for key, room in rooms.items() if room.ilink is None}
        people = {key: room.ilink for key, room in rooms.items() if room.ilink is not None}
        groups_ready = self._rooms_ready.is_set()
        blocked = set() if groups_ready else set(groups)
        fold: dict[str, float] = {}
        reopens: list[float] = []
        for key, name in people.items():
            left = self._official.remaining(name, now) if self._official is not None else None
            if left is None or not left.open:
                blocked.add(key)
                if left is not None and left.retry_at is not None:
                    reopens.append(left.retry_at)
            elif left.budget == 1 or (self._official is not None and self._fresh(name)):
                fold[key] = now + _FOLD_MARGIN_SECONDS
        return Openings(ready=groups_ready or bool(people), blocked=frozenset(blocked), fold=fold,
                        next_change=min(reopens) if reopens else None)

    def _fresh(self, name: str) -> bool:
        """The person wrote and nothing was sent since: what waited goes out first, as one digest."""
        bot = self._official.bot(name) if self._official is not None else None
        return bot is not None and bot.window.spent == 0
