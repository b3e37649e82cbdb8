"""The wechaty puppet-service protocol: generated stubs (`proto/`) and the typed link over them.

Import from here: `PuppetLink` (one gRPC connection, a typed async call per protocol method the
bridge uses), `LinkTls`, and the payloads it returns (`payloads`). See `link` for the protocol's facts.
"""

from bridge.wechaty.link import PuppetLink, describe
from bridge.wechaty.payloads import ContactPayload, LinkTls, MessagePayload, PuppetEvent, RoomPayload

__all__ = ["ContactPayload", "LinkTls", "MessagePayload", "PuppetEvent", "PuppetLink", "RoomPayload", "describe"]
