"""The latest message of each topic a route attaches from (`image: {topic: ...}`), kept in memory.

Frigate publishes each camera's best snapshot of an object as a retained JPEG on
`frigate/<camera>/<label>/snapshot`; a route on `frigate/reviews` attaches it. The bridge
subscribes to those topics (`Runtime.kept_filters`) and keeps the last payload of each here, in
arrival order with the events, so an event planned after the snapshot arrived carries its bytes
into the outbox (durable from then on, as an `image: payload` is). A retained message is replayed
by the broker at every (re)subscribe, so a restart finds the snapshots again; an empty retained
payload clears one. At most `MAX_TOPICS` topics are kept, the least recently updated dropped first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from types import MappingProxyType

from bridge.events import InboundMessage
from bridge.pipeline.runtime import Runtime

#: Cameras x labels of a large home fit; each kept payload is at most `attachments.max_bytes`.
MAX_TOPICS = 64


class KeptMessages:
    def __init__(self) -> None:
        self._latest: OrderedDict[str, bytes] = OrderedDict()
        self.view: Mapping[str, bytes] = MappingProxyType(self._latest)

    def offer(self, runtime: Runtime, message: InboundMessage) -> None:
        """Keep `message` if a route attaches from its topic."""
        if not any(f.match(message.topic) is not None for f in runtime.kept_filters):
            return
        self._latest.pop(message.topic, None)
        if message.payload and len(message.payload) <= runtime.attachments.max_bytes:
            self._latest[message.topic] = message.payload
        while len(self._latest) > MAX_TOPICS:
            self._latest.popitem(last=False)
