"""The wechaty puppet-service transport: generated stubs (`proto/`) and the typed link over them.

The only code importing grpc; imports the core errors alone.

Import from here: `PuppetLink` (one gRPC connection, a typed async call per protocol method the
bridge uses), `LinkTls`, and the payloads it returns (`payloads`). See `link` for the protocol's facts.
"""

from bridge.wechat.puppet.link import PuppetLink, describe
from bridge.wechat.puppet.payloads import ContactPayload, LinkTls, MessagePayload, PuppetEvent, RoomPayload

__all__ = ["ContactPayload", "LinkTls", "MessagePayload", "PuppetEvent", "PuppetLink", "RoomPayload", "describe"]
