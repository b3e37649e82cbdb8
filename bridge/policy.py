"""How hard and how long the bridge tries to deliver: one policy per route, from the config (pure).

The policy is stored with each outbox row when the event is accepted, so a config change or a
restart does not change the promise made to an event already accepted.
"""

from __future__ import annotations

from bridge.config import Config, DeliverySettings, RetrySettings
from bridge.events import DeliveryPolicy
from bridge.routing import Route


def _policy(retry: RetrySettings, expire_after: float | None, priority: int = 0) -> DeliveryPolicy:
    return DeliveryPolicy(retry.attempts, retry.backoff, retry.max_backoff, expire_after, priority)


def delivery_policies(config: Config, routes: list[Route]) -> dict[str | None, DeliveryPolicy]:
    """Route name -> policy; the key None is for direct sends on <base>/send/<room key>.

    `routes` are the compiled `config.routes`, in the same order (compile_routes keeps it).
    """
    defaults: DeliverySettings = config.delivery
    policies: dict[str | None, DeliveryPolicy] = {None: _policy(defaults.retry, defaults.expire_after)}
    for settings, route in zip(config.routes, routes, strict=True):
        policies[route.name] = _policy(
            settings.retry or defaults.retry,
            settings.expire_after if settings.expire_after is not None else defaults.expire_after,
            1 if settings.priority == "high" else 0,
        )
    return policies
