"""Short-lived broker clients for the `health` and `doctor` commands: ask once, read what is retained."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import aiomqtt

from bridge.config.models import MqttSettings
from bridge.errors import BrokerUnavailable
from bridge.events import Publication
from bridge.mqtt.client import build_client, describe_error


async def request_once(settings: MqttSettings, *, client_id: str, request: Publication, response_topic: str,
                       accept: Callable[[bytes], bool], wait_seconds: float) -> bytes | None:
    """Publish `request` and return the first payload on `response_topic` that `accept` takes.

    For short-lived clients such as the `health` command: `client_id` must differ from the
    bridge's own, or the broker would disconnect the bridge. Returns None when no accepted
    answer came within `wait_seconds`; raises `BrokerUnavailable` when the broker cannot be
    reached (or does not answer the connect) in that time.
    """
    client = build_client(settings, client_id=client_id, timeout=wait_seconds)
    where = f"the MQTT broker at {settings.host}:{settings.port}"
    connected = False
    try:
        async with asyncio.timeout(wait_seconds), client:
            connected = True
            await client.subscribe(response_topic, qos=1)
            await client.publish(request.topic, request.payload, qos=request.qos, retain=request.retain)
            async for message in client.messages:
                payload = message.payload
                data = payload if isinstance(payload, bytes) else str(payload or "").encode()
                if accept(data):
                    return data
    except TimeoutError:
        if not connected:
            raise BrokerUnavailable(f"{where} did not accept a connection within {wait_seconds:g} s") from None
        return None
    except aiomqtt.MqttError as exc:
        raise BrokerUnavailable(f"cannot reach {where}: {exc}") from None
    return None


async def read_retained(settings: MqttSettings, *, client_id: str, topics: list[str],
                        wait_seconds: float, settle_seconds: float = 0.5) -> dict[str, bytes]:
    """Connect with the bridge's credentials and collect the retained messages of `topics`.

    For the `doctor` command: the connection itself proves the broker is reachable and takes our
    login; the retained topics say whether a bridge is running and what it last reported. A broker
    sends retained messages right after the subscription, so `settle_seconds` of silence ends the
    wait. Raises `BrokerUnavailable` with a sentence from `describe_error`.
    """
    client = build_client(settings, client_id=client_id, timeout=wait_seconds)
    found: dict[str, bytes] = {}
    connected = False
    try:
        async with asyncio.timeout(wait_seconds), client:
            connected = True
            for topic in topics:
                await client.subscribe(topic, qos=1)
            with contextlib.suppress(TimeoutError):
                while True:
                    async with asyncio.timeout(settle_seconds):
                        message = await anext(aiter(client.messages))
                    if message.retain:
                        payload = message.payload
                        found[message.topic.value] = payload if isinstance(payload, bytes) else str(payload).encode()
    except TimeoutError:
        if connected:  # retained messages kept coming until the deadline: what arrived is enough
            return found
        raise BrokerUnavailable(
            f"the MQTT broker at {settings.host}:{settings.port} did not accept a connection within "
            f"{wait_seconds:g} s") from None
    except aiomqtt.MqttError as exc:
        raise BrokerUnavailable(describe_error(exc)) from None
    except OSError as exc:
        raise BrokerUnavailable(describe_error(exc)) from None
    return found
