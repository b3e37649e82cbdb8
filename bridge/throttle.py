"""Which events a route's `throttle` lets through: the key of each event (pure).

`throttle: {period: 5m, key: "{{ payload.device }}"}` lets at most one event per key per period
through a route. This module renders the key with the route's template variables; whether the
key passed recently is decided by the outbox, in the same transaction that stores the event,
so the decision survives restarts and a burst is decided in arrival order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bridge.config import Config
from bridge.errors import ConfigError, ConfigProblem, EventRejected
from bridge.events import InboundMessage, ThrottleMark
from bridge.payloads import DecodedPayload, decode_payload
from bridge.routing import Route
from bridge.templates import CompiledTemplate, TemplateEngine
from bridge.topics import TopicFilter


@dataclass(frozen=True, slots=True)
class _Throttle:
    filter: TopicFilter
    key: CompiledTemplate
    period: float


class Throttles:
    """Route name -> its throttle; `mark(route, message)` renders the key of one event."""

    def __init__(self, throttles: Mapping[str, _Throttle], *, max_payload_bytes: int) -> None:
        self._throttles = throttles
        self._max_payload_bytes = max_payload_bytes

    @classmethod
    def from_config(cls, config: Config, routes: list[Route]) -> Throttles:
        """`routes` are the compiled `config.routes`, in the same order (for their names)."""
        engine = TemplateEngine()
        found: dict[str, _Throttle] = {}
        problems: list[ConfigProblem] = []
        for settings, route in zip(config.routes, routes, strict=True):
            if settings.throttle is None:
                continue
            error = engine.check_template(settings.throttle.key)
            if error:
                problems.append(settings.problem(("throttle", "key"), error))
                continue
            found[route.name] = _Throttle(route.filter, engine.compile(settings.throttle.key),
                                          settings.throttle.period)
        if problems:
            raise ConfigError(problems)
        return cls(found, max_payload_bytes=config.limits.max_payload_bytes)

    def __bool__(self) -> bool:
        return bool(self._throttles)

    def mark(self, route: str | None, message: InboundMessage,
             decoded: DecodedPayload | EventRejected | None = None) -> ThrottleMark | None:
        """The throttle key of `message` on `route`, or None when the route has no throttle.

        `decoded` is the payload as the intake already decoded it (decoded here when None).
        Raises `EventRejected` when the key cannot be rendered from this payload.
        """
        throttle = self._throttles.get(route) if route is not None else None
        if throttle is None:
            return None
        match = throttle.filter.match(message.topic)
        if isinstance(decoded, EventRejected):
            raise decoded  # what decoding it here would raise
        payload = decoded or decode_payload(message.payload, max_bytes=self._max_payload_bytes)
        context: dict[str, Any] = {
            **(match.named if match is not None else {}),
            "payload": payload.value,
            "raw": payload.raw,
            "topic": message.topic,
            "wildcards": list(match.wildcards) if match is not None else [],
        }
        try:
            key = throttle.key.render(context)
        except EventRejected as exc:
            raise type(exc)(f"route {route!r}: the throttle key: {exc}") from None
        return ThrottleMark(route or "", key, throttle.period)

