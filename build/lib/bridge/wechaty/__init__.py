"""The wechaty puppet-service protocol: generated stubs (`proto/`) and the typed link over them.

Import from here: `PuppetLink` (one gRPC connection, a typed async call per protocol method the
bridge uses), `LinkTls`, and the payloads it returns. See `link` for the protocol's facts.
"""

from bridge.wechaty.link import (
    ContactPayload,
    LinkTls,
    MessagePayload,
    PuppetEvent,
    PuppetLink,
    RoomPayload,
    describe,
)

__all__ = ["ContactPayload", "LinkTls", "MessagePayload", "PuppetEvent", "PuppetLink", "RoomPayload", "describe"]
