"""The `health` command: one `health_check` request over MQTT, answered in one line.

Docker's HEALTHCHECK runs it inside the container; it asks the running bridge rather than
guessing from a process list, so "healthy" means what the bridge itself reports: connected to
the broker and logged in to WeChat.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from bridge.config.models import Config
from bridge.errors import BrokerUnavailable
from bridge.events import Publication
from bridge.mqtt.oneshot import request_once

REQUEST = "health_check"


async def check_health(config: Config, *, wait_seconds: float) -> tuple[bool, str]:
    """(healthy, the line to print)."""
    topics = config.topics
    transaction = uuid.uuid4().hex

    def ours(payload: bytes) -> bool:
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return False
        return isinstance(body, dict) and body.get("transaction") == transaction

    request = Publication(topics.request(REQUEST), orjson.dumps({"transaction": transaction}), qos=1)
    try:
        answer = await request_once(
            config.mqtt, client_id=f"{config.mqtt.client_id}-health-{transaction[:8]}", request=request,
            response_topic=topics.response(REQUEST), accept=ours, wait_seconds=wait_seconds)
    except BrokerUnavailable as exc:
        return False, f"unhealthy: {exc}"
    if answer is None:
        return False, f"unhealthy: no answer from the bridge on {topics.response(REQUEST)} within {wait_seconds:g} s"
    return describe(orjson.loads(answer))


def describe(response: dict[str, Any]) -> tuple[bool, str]:
    """A `health_check` response envelope as (healthy, one line)."""
    if response.get("status") != "ok" or not isinstance(response.get("data"), dict):
        return False, f"unhealthy: the bridge answered with an error: {response.get('error')}"
    data = response["data"]
    wechat = data.get("wechat") or {}
    state = wechat.get("state")
    if state == "logged_in":
        login = f"WeChat logged in as {wechat.get('user')}"
    else:
        login = f"WeChat {state}" + (f" ({wechat['reason']})" if wechat.get("reason") else "")
    broker = "broker connected" if (data.get("broker") or {}).get("connected") else "broker disconnected"
    queued = (data.get("queue") or {}).get("depth")
    healthy = data.get("healthy") is True
    return healthy, f"{'healthy' if healthy else 'unhealthy'}: {login}, {broker}, {queued} queued"
