"""What each way into WeChat can carry, declared (issue 25), and the warnings `check` and `doctor` give.

    transport                   groups  files  mentions   why
    the official bot (iLink)    no      yes    no         a person's chat with the bot; no room to @ in
    mock (our gateway's tests)  yes     yes    yes        wechaty-puppet-mock does everything
    wechat4u                    yes     yes    no         its web protocol sends `@Name` text, nobody notified
    xp, padlocal                yes     yes    yes        WeChat for Windows / the iPad protocol
    wechat-skill                yes     no     no         text only (images and files on its roadmap)
    unknown                     yes     yes    yes        until it answers UNIMPLEMENTED (`WeChatClient`)

A delivery whose attachment or mentions its room's transport cannot carry is not failed: it goes
out as text, and its report's `note` says what was left out and why (`bridge.delivery.send`).
"""

from __future__ import annotations

from bridge.chat import Capabilities
from bridge.config.models import Config, GatewayPuppet

#: The official bot: one person's chat, images and files through its CDN.
ILINK = Capabilities("the official bot", groups=False, files=True, mentions=False)

PUPPETS: dict[GatewayPuppet, Capabilities] = {
    "unknown": Capabilities("the gateway"),
    "mock": Capabilities("the mock gateway"),
    "wechat4u": Capabilities("the wechat4u gateway", mentions=False),
    "xp": Capabilities("the puppet-xp gateway"),
    "padlocal": Capabilities("the padlocal gateway"),
    "wechat-skill": Capabilities("the wechat-skill gateway", files=False, mentions=False),
}


def gateway_capabilities(puppet: GatewayPuppet) -> Capabilities:
    """What `wechaty.puppet` is declared to carry."""
    return PUPPETS[puppet]


def room_capabilities(config: Config, room_key: str) -> Capabilities:
    """What the transport of a configured room carries, as declared."""
    room = config.rooms[room_key]
    return ILINK if room.ilink is not None else gateway_capabilities(config.wechaty.puppet)


def capability_warnings(config: Config) -> list[str]:
    """One sentence per route and room whose attachments or mentions the room's transport cannot carry."""
    warnings = []
    for index, route in enumerate(config.routes):
        name = route.name or f"routes[{index}]"
        attachment = route.attachment
        for key in route.rooms:
            if key not in config.rooms:
                continue
            can = room_capabilities(config, key)
            if attachment is not None and not can.files:
                warnings.append(f"route {name!r} sends {'an image' if attachment[0] == 'image' else 'a file'} "
                                f"to room {key!r}, but {can.transport} cannot send images or files: the text "
                                "goes alone, with a note in the report")
            if route.mention and not can.mentions:
                warnings.append(f"route {name!r} @-mentions people in room {key!r}, but {can.transport} cannot "
                                "make real @-mentions: the names go as plain @Name text, with a note in the report")
    return warnings
