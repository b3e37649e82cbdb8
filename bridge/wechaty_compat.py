"""Every workaround that `wechaty` 0.10.7 (2022, the last release) needs, in one place.

Import wechaty's names from here, never from `wechaty` directly: the shims must run before
the first `import wechaty`, and keeping them together lets a future SDK release drop them in
one edit. Each shim says what breaks without it.
"""

from __future__ import annotations

import logging
import warnings

from h2.connection import H2Connection
from wechaty_puppet import PuppetOptions

# Shim 1: `WechatyOptions` is a dataclass whose field default is `PuppetOptions()`. Python 3.11
# refuses unhashable (mutable) dataclass defaults, so `import wechaty` raises ValueError. Making
# the class hashable passes that check; the shared default instance is never used because
# `new_options` always builds a fresh `PuppetOptions`.
PuppetOptions.__hash__ = object.__hash__

# Shim 2: wechaty builds on `pyee.AsyncIOEventEmitter` from pyee's top level, which pyee 11
# still provides (hence `pyee<12`) but warns about on every bot and connection it creates.
warnings.filterwarnings("ignore", message=r"pyee\.AsyncIOEventEmitter has been moved", category=DeprecationWarning)

import wechaty_puppet_service.puppet as _puppet_module  # noqa: E402
from wechaty import Wechaty, WechatyOptions  # noqa: E402
from wechaty_puppet import FileBox  # noqa: E402
from wechaty_puppet.schemas.event import (  # noqa: E402
    EventLoginPayload,
    EventLogoutPayload,
    EventMessagePayload,
    EventRoomJoinPayload,
    EventRoomLeavePayload,
    EventRoomTopicPayload,
    EventScanPayload,
)


# Shim 3: before connecting, the SDK "pings" the endpoint with a blocking telnetlib connect of
# up to 3 s, which freezes the whole event loop (MQTT keepalives included). Our own reconnect
# loop already handles an unreachable gateway, so the ping always succeeds and the real gRPC
# connect reports the failure.
def _no_blocking_ping(end_point: str) -> bool:
    return True


_puppet_module.ping_endpoint = _no_blocking_ping

#: How many closed HTTP/2 streams a gateway connection remembers (h2's default is 65,536).
CLOSED_STREAMS_REMEMBERED = 1_024

# Shim 4: the SDK's gRPC runs on h2, whose connection remembers the ids of its last 65,536 closed
# streams (one per call, about 160 bytes each) to tell a late frame of a reset stream from a
# protocol error. Over a long-lived gateway connection that is 10 MB held for nothing: our calls
# are short unary calls, and a frame arriving after 1,024 newer calls only earns an RST_STREAM.
# The limit is read when a connection is made, so setting it here covers every connection.
H2Connection.MAX_CLOSED_STREAMS = CLOSED_STREAMS_REMEMBERED

# Shim 5: each SDK module builds its own logger with a private stderr handler and
# `propagate = False`, logging message texts at INFO and the gateway token in a warning. We
# route them through the bridge's own handlers (which redact secrets) and quiet them to
# WARNING unless the bridge runs at debug level (see `adopt_sdk_loggers`).
_SDK_LOGGERS = (
    "Wechaty", "PuppetService", "WechatyPuppet", "WechatyPuppetServiceConfig", "Room", "Contact",
    "ContactSelf", "Message", "Accessory", "Config", "Favorite", "FriendShip", "Image", "MiniProgram",
    "RoomInvitation", "Tag", "UrlLink", "FileBox", "WechatyPuppet.Schemas.Event",
    "WechatyPuppet.Schema.Base",
)


def adopt_sdk_loggers(debug: bool) -> None:
    """Send the SDK's log records through the root logger's handlers."""
    for name in _SDK_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
        logger.setLevel(logging.DEBUG if debug else logging.WARNING)


def new_options(endpoint: str, token: str) -> WechatyOptions:
    """Options for one bot; a fresh `PuppetOptions` each time (see shim 1)."""
    return WechatyOptions(
        puppet="wechaty-puppet-service",
        puppet_options=PuppetOptions(end_point=endpoint, token=token),
    )


__all__ = [
    "CLOSED_STREAMS_REMEMBERED",
    "EventLoginPayload",
    "EventLogoutPayload",
    "EventMessagePayload",
    "EventRoomJoinPayload",
    "EventRoomLeavePayload",
    "EventRoomTopicPayload",
    "EventScanPayload",
    "FileBox",
    "Wechaty",
    "WechatyOptions",
    "adopt_sdk_loggers",
    "new_options",
]
