"""What the puppet-service link takes and gives: its TLS settings, events and payloads.

Plain frozen values, apart from the module that speaks gRPC (`bridge.wechaty.link`), so callers
and tests build them without a connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

#: The server name in the certificate every PuppetServer uses unless given its own.
WECHATY_SERVER_NAME = "insecure"


@dataclass(frozen=True, slots=True)
class LinkTls:
    """TLS to the gateway: `ca_pem` None trusts the system's CAs; `server_name` overrides the host check."""

    ca_pem: bytes | None = None
    server_name: str | None = None

    @classmethod
    def wechaty_ca(cls) -> LinkTls:
        """The wechaty project's published CA and server name: encryption without authentication."""
        pem = resources.files("bridge.wechat.puppet").joinpath("wechaty-ca.pem").read_bytes()
        return cls(pem, WECHATY_SERVER_NAME)

    @classmethod
    def from_files(cls, ca_file: Path | None, server_name: str | None) -> LinkTls:
        return cls(ca_file.read_bytes() if ca_file is not None else None, server_name)


@dataclass(frozen=True, slots=True)
class PuppetEvent:
    """One event from the stream: `type` as the protocol names it, lower case ("login", "message")."""

    type: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ContactPayload:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class RoomPayload:
    id: str
    topic: str
    member_ids: tuple[str, ...]


@dataclass(kw_only=True, frozen=True, slots=True)
class MessagePayload:
    id: str
    room_id: str
    talker_id: str
    text: str
    #: wechaty-puppet's message type, lower case: "text", "image", "attachment", ...
    type: str
    mention_ids: tuple[str, ...]
    #: Seconds since the epoch (0 when the puppet gave none).
    timestamp: float
