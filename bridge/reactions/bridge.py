"""What the bridge does on its own events, tying stages together: the broker (re)connected, an
event stored, a link up or down, a new config in force.

Each reaction is a small object the root builds from stages that already exist and hands, as a
bound method, to the stage that raises the event, so the root wires and nothing more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from bridge.homeassistant import HomeAssistant
from bridge.links import LinkState
from bridge.metrics import Metrics
from bridge.pipeline.runtime import Runtime
from bridge.reactions.official import OfficialReactions
from bridge.reactions.wechat import WeChatEvents
from bridge.reporting.status import BridgeStatus


class Nudges:
    """Several stages to wake at once: `Nudges(worker.nudge, reporter.nudge)()`."""

    def __init__(self, *wake: Callable[[], None]) -> None:
        self._wake = wake

    def __call__(self) -> None:
        for wake in self._wake:
            wake()


class BrokerConnected:
    """On every (re)connect: our retained status topics again, then Home Assistant's discovery."""

    def __init__(self, *, status: BridgeStatus, homeassistant: HomeAssistant) -> None:
        self._status = status
        self._homeassistant = homeassistant

    async def __call__(self) -> None:
        await self._status.replay()
        await self._homeassistant.on_connect()


class LinkChanged:
    """A connection (broker, gateway) went up or down: counted, and the live pages woken."""

    def __init__(self, *, metrics: Metrics, notify: Callable[[], None]) -> None:
        self._metrics = metrics
        self._notify = notify

    def __call__(self, name: str, state: LinkState) -> None:
        self._metrics.link(name, state)
        self._notify()


class Reloaded:
    """A new runtime is in force: the broker's subscriptions, Home Assistant, room resolution, info."""

    def __init__(self, *, subscribe: Callable[[list[str]], Awaitable[None]],
                 subscriptions: Callable[[Runtime], Sequence[str]], homeassistant: HomeAssistant,
                 wechat_events: WeChatEvents, status: BridgeStatus,
                 official: OfficialReactions | None = None) -> None:
        self._subscribe = subscribe
        self._official = official
        self._subscriptions = subscriptions
        self._homeassistant = homeassistant
        self._wechat_events = wechat_events
        self._status = status

    async def __call__(self, runtime: Runtime) -> None:
        await self._subscribe(list(self._subscriptions(runtime)))
        await self._homeassistant.reload(runtime.config)
        await self._wechat_events.reresolve()
        if self._official is not None:
            await self._official.reloaded()
        await self._status.publish_info()
