"""Each MQTT message the bridge receives, classified once and handed to the stage that owns it.

    Home Assistant's topics        our own stale discovery configs are cleared (and acknowledged);
                                   HA's status makes us announce ourselves again, and, like any
                                   topic, may still feed routes
    <base>/bridge/request/<name>   answered on <base>/bridge/response/<name>, never stored: a
                                   redelivered request is simply answered again
    <base>/send/<room key>         a direct send, stored through the intake
    anything else                  stored through the intake for the routes

The topic's class (`Topics.classify`) goes with the message, so the pipeline does not decide it again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bridge import homeassistant as discovery
from bridge.events import Acknowledge, InboundMessage, Publication
from bridge.homeassistant import HomeAssistant
from bridge.inbound.intake import Intake
from bridge.inbound.requests import Requests
from bridge.pipeline.runtime import Runtime
from bridge.reporting import payloads as reports
from bridge.topics import Topics

Publish = Callable[[Publication], Awaitable[Any]]


def subscriptions(runtime: Runtime) -> list[str]:
    """Every filter the bridge subscribes to: its routes', direct sends, requests, Home Assistant's."""
    topics = runtime.topics
    return [*runtime.route_subscriptions, topics.send_filter, topics.request_filter,
            *discovery.subscriptions(runtime.config)]


class Dispatch:
    """`await dispatch(message, ack)`: the MQTT session's one handler for what it receives."""

    def __init__(self, *, topics: Topics, homeassistant: HomeAssistant, requests: Requests, intake: Intake,
                 publish: Publish) -> None:
        self._topics = topics
        self._homeassistant = homeassistant
        self._requests = requests
        self._intake = intake
        self._publish = publish

    async def __call__(self, message: InboundMessage, ack: Acknowledge) -> None:
        if await self._homeassistant.on_message(message):
            ack()
            return
        kind = self._topics.classify(message.topic)
        if kind.kind == "request" and kind.name is not None:
            response = await self._requests.answer(kind.name, message.payload)
            await self._publish(reports.response_publication(self._topics, kind.name, response))
            ack()
            return
        await self._intake.submit(message, ack, kind)
