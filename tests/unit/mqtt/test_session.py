"""The session's reconnect loop on a fake clock, and the broker's errors in a user's words."""

from __future__ import annotations

import asyncio
import socket
import ssl

import aiomqtt
import pytest
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from bridge.config.models import MqttSettings
from bridge.mqtt.client import describe_error
from bridge.mqtt.session import MqttSession
from bridge.tasks import Backoff


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_refused_broker_is_retried_with_growing_delays_and_the_link_says_why() -> None:
    slept: list[float] = []
    stop = asyncio.Event()

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 4:
            stop.set()
            await asyncio.Event().wait()  # the test cancels the session here

    session = MqttSession(MqttSettings(host="127.0.0.1", port=closed_port()), subscriptions=[],
                          backoff=Backoff(first=0.5, cap=30.0, sleep=sleep, uniform=lambda low, high: 1.0))

    async def on_message(*_: object) -> None:
        raise AssertionError("no broker, no message")

    task = asyncio.create_task(session.run(on_message=on_message))
    await asyncio.wait_for(stop.wait(), 20)
    task.cancel()
    assert slept == [0.5, 1.0, 2.0, 4.0]
    state = session.connection.state
    assert not state.up
    assert state.error == "connection refused: is the broker running and listening on that port?"


def connect_failure(cause: OSError) -> aiomqtt.MqttError:
    """What aiomqtt raises when the socket fails: `MqttError(str(exc)) from None`."""
    try:
        try:
            raise cause
        except OSError as exc:
            raise aiomqtt.MqttError(str(exc)) from None
    except aiomqtt.MqttError as error:
        return error


@pytest.mark.parametrize(("error", "said"), [
    (MqttConnectError(4), "the broker refused the login ([code:4] The client is not currently "
                                  "connected.); check mqtt.username and mqtt.password"),
    (MqttConnectError(ReasonCode(PacketTypes.CONNACK, identifier=135)), "the broker refused the login ([code:135] Not "
                                                               "authorized); check mqtt.username and mqtt.password"),
    (connect_failure(ConnectionRefusedError(111, "Connection refused")),
     "connection refused: is the broker running and listening on that port?"),
    (connect_failure(ssl.SSLCertVerificationError(1, "certificate verify failed: unable to get local issuer")),
     "the broker's TLS certificate is not trusted (certificate verify failed: unable to get local issuer); "
     "check mqtt.tls.ca_file"),
    (aiomqtt.MqttError("the broker closed the connection"), "the broker closed the connection"),
])
def test_broker_errors_are_told_by_type_and_code_not_by_wording(error: BaseException, said: str) -> None:
    assert describe_error(error) == said
