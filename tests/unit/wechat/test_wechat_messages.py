"""The WeChat client's own logic, on a fake link: message reads, error events, in-doubt sends, TLS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.chat import IncomingMessage, LoginState, WeChatUser
from bridge.config.models import GatewayTlsSettings
from bridge.errors import GatewayUnavailable, SendInDoubt
from bridge.http.prometheus import PrometheusMetrics
from bridge.wechat.client import WeChatClient, _private, link_tls, puppet_error_reason
from bridge.wechat.puppet import ContactPayload, LinkTls, MessagePayload, PuppetEvent


class Link:
    def __init__(self) -> None:
        self.reads: list[str] = []
        self.closed = False
        self.sends = 0

    async def message_payload(self, message_id: str) -> MessagePayload:
        self.reads.append(message_id)
        return MessagePayload(id=message_id, room_id="room@chatroom", talker_id="alice", text="hi", type="text",
                              mention_ids=(), timestamp=1_700_000_000)

    async def contact_payload(self, contact_id: str) -> ContactPayload:
        return ContactPayload(contact_id, "Alice")

    async def send_text(self, *args: Any, **kwargs: Any) -> str:
        self.sends += 1
        raise SendInDoubt("the gateway did not answer within 1 s")

    async def close(self) -> None:
        self.closed = True


def logged_in_client(events: list[object], listening: bool = True) -> tuple[WeChatClient, Link]:
    async def on_event(event: object) -> None:
        events.append(event)

    client = WeChatClient(endpoint="127.0.0.1:1", token="t", send_timeout=1.0, on_event=on_event,
                          listening=lambda: listening)
    link = Link()
    client._link = link  # type: ignore[assignment]
    client._state = LoginState("logged_in", user=WeChatUser("bot", "Bot"))
    client._logged_in.set()
    return client, link


async def test_messages_are_read_only_while_a_room_listens() -> None:
    events: list[object] = []
    client, link = logged_in_client(events, listening=False)
    await client._handle_message({"messageId": "m1"})
    assert link.reads == [] and events == []  # e.g. the echo of our own send: not even fetched

    client._listening = lambda: True
    await client._handle_message({"messageId": "m2"})
    assert link.reads == ["m2"]
    [message] = events
    assert isinstance(message, IncomingMessage) and (message.from_name, message.text) == ("Alice", "hi")


async def test_a_send_in_doubt_drops_the_connection_and_the_next_send_is_not_made() -> None:
    client, link = logged_in_client([])
    with pytest.raises(SendInDoubt):
        await client.send_text("room@chatroom", "hello")
    assert link.closed and client._drop_reason == "dropped the connection: the gateway did not answer within 1 s"
    with pytest.raises(GatewayUnavailable):
        await client.send_text("room@chatroom", "hello")
    assert link.sends == 1


def test_the_offline_wechat4u_error_becomes_a_reason_a_person_understands() -> None:
    gerror = ('{"code":2,"details":"","message":"getaddrinfo ENOTFOUND login.wx.qq.com","name":"Error",'
              '"stack":"Error: getaddrinfo ENOTFOUND login.wx.qq.com\\n    at ..."}')
    assert puppet_error_reason({"gerror": gerror}) == (
        "the gateway cannot reach WeChat's servers (getaddrinfo ENOTFOUND login.wx.qq.com): check the internet "
        "connection and DNS of the machine the gateway runs on")
    assert puppet_error_reason({"gerror": "Error: no such room"}) == (
        "the gateway's WeChat puppet reports an error: Error: no such room")
    assert puppet_error_reason({}) == "the gateway's WeChat puppet reports an error: an error without a message"


async def test_an_error_event_while_connecting_gives_the_login_state_its_reason() -> None:
    events: list[object] = []

    async def on_event(event: object) -> None:
        events.append(event)

    client = WeChatClient(endpoint="127.0.0.1:1", token="t", send_timeout=1.0, on_event=on_event)
    assert client.state.reason == "connecting to the gateway at 127.0.0.1:1"
    await client._dispatch(PuppetEvent("error", {"gerror": "getaddrinfo EAI_AGAIN login.wx.qq.com"}))
    [state] = events
    assert isinstance(state, LoginState) and state.state == "connecting"
    assert state.reason is not None and state.reason.startswith("the gateway cannot reach WeChat's servers")


async def test_a_repeated_puppet_error_counts_every_time_but_changes_the_login_state_once() -> None:
    events: list[object] = []

    async def on_event(event: object) -> None:
        events.append(event)

    metrics = PrometheusMetrics()
    client = WeChatClient(endpoint="127.0.0.1:1", token="t", send_timeout=1.0, on_event=on_event, metrics=metrics)
    for _ in range(3):
        await client._dispatch(PuppetEvent("error", {"gerror": "getaddrinfo ENOTFOUND login.wx.qq.com"}))
    assert metrics.registry.get_sample_value("wechat_bridge_puppet_errors_total") == 3
    assert len(events) == 1, events  # wechat4u offline repeats its error; the state says it once


@pytest.mark.parametrize(("endpoint", "private"), [
    ("127.0.0.1:8788", True), ("localhost:8788", True), ("192.168.1.20:8788", True), ("10.0.0.5:1", True),
    ("[::1]:8788", True), ("gateway:8788", True), ("gateway.lan:8788", True), ("nas.local:8788", True),
    ("fd00::5", True), ("8.8.8.8:8788", False), ("gateway.example.com:8788", False), ("[2606:4700::1111]:1", False),
])
def test_plaintext_is_only_quiet_on_loopback_private_addresses_and_local_names(endpoint: str, private: bool) -> None:
    assert _private(endpoint) is private


def test_tls_settings_become_the_links_tls(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    assert link_tls(None) is None
    assert link_tls(GatewayTlsSettings()) == LinkTls(None, None)
    assert link_tls(GatewayTlsSettings(ca_file=ca, server_name="gw")) == LinkTls(ca.read_bytes(), "gw")
    wechaty = link_tls(GatewayTlsSettings(wechaty_ca=True))
    assert wechaty is not None and wechaty.server_name == "insecure"
    assert wechaty.ca_pem is not None and b"BEGIN CERTIFICATE" in wechaty.ca_pem
