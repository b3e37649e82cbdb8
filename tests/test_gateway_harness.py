"""Self-test of the gateway test harness (gateway/ with tests/gateway/controls.mjs, driven by tests/support/gateway.py).

The integration tests trust this harness to behave like a real puppet-service
gateway and to record faithfully what the bridge sends; these tests check that
trust cheaply.  One gateway process serves the whole module (start-up is ~1 s);
each test uses its own rooms or clears the record, so order does not matter.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator

import pytest

from tests.support.gateway import (
    DEFAULT_FIXTURE,
    GatewayCommandError,
    GatewayError,
    MockGateway,
    free_port,
)


@pytest.fixture(scope="module")
def gateway() -> Iterator[MockGateway]:
    gw = MockGateway().start(DEFAULT_FIXTURE)
    yield gw
    gw.stop()


def test_fixture_rooms_keep_their_ids_and_include_the_bot(gateway: MockGateway) -> None:
    rooms = {r["id"]: r for r in gateway.rooms()}
    assert rooms["room-family@chatroom"]["topic"] == "Happy Family"
    assert set(rooms["room-family@chatroom"]["member_ids"]) == {"bot", "alice", "bob"}
    assert set(rooms["room-work@chatroom"]["member_ids"]) == {"bot", "bob"}
    assert gateway.status()["logged_in"] is True


def test_add_and_rename_room(gateway: MockGateway) -> None:
    info = gateway.add_room("room-added@chatroom", "Added", ["alice"])
    assert info["id"] == "room-added@chatroom"
    assert set(info["member_ids"]) == {"alice", "bot"}
    gateway.rename_room("room-added@chatroom", "Renamed")
    rooms = {r["id"]: r for r in gateway.rooms()}
    assert rooms["room-added@chatroom"]["topic"] == "Renamed"


def test_bad_commands_raise(gateway: MockGateway) -> None:
    with pytest.raises(GatewayCommandError, match="already exists"):
        gateway.add_room("room-family@chatroom", "Dup", [])
    with pytest.raises(GatewayCommandError, match="unknown contact"):
        gateway.add_room("room-x@chatroom", "X", ["nobody"])
    with pytest.raises(GatewayCommandError, match="unknown cmd"):
        gateway.command("no-such-command")


def test_logout_login_and_fail_room_flags(gateway: MockGateway) -> None:
    gateway.logout()
    assert gateway.status()["logged_in"] is False
    gateway.login()
    assert gateway.status()["logged_in"] is True
    gateway.fail_room("room-work@chatroom")
    assert gateway.status()["failing"] == ["room-work@chatroom"]
    gateway.fail_room("room-work@chatroom", fail=False)
    assert gateway.status()["failing"] == []


def test_restart_keeps_port_and_resets_state(gateway: MockGateway) -> None:
    port = gateway.port
    gateway.add_room("room-temp@chatroom", "Temp", [])
    gateway.restart()
    assert gateway.port == port
    assert "room-temp@chatroom" not in {r["id"] for r in gateway.rooms()}


def test_start_failure_reports_stderr() -> None:
    gw = MockGateway(startup_timeout=15)
    with pytest.raises(GatewayError, match="stderr"):
        gw.start({"user": {"id": "bot"}, "rooms": [{"id": "r@chatroom", "members": ["ghost"]}]})
    assert not gw.running


def test_kill_makes_commands_fail_fast() -> None:
    gw = MockGateway().start(DEFAULT_FIXTURE, port=free_port())
    gw.kill()
    with pytest.raises(GatewayError, match="not running"):
        gw.rooms()


async def test_link_round_trip(gateway: MockGateway) -> None:
    """The bridge's own client (bridge.wechaty) connects, sends text/mention/file, and receives a contact's message."""
    from bridge.errors import SendError
    from bridge.wechat.puppet import PuppetEvent, PuppetLink

    gateway.clear()
    received: list[PuppetEvent] = []
    link = PuppetLink(gateway.endpoint, gateway.token)
    events = link.events()
    try:
        assert (await asyncio.wait_for(anext(events), 15)).type == "heartbeat"
        await link.start()

        async def listen() -> None:
            async for event in events:
                received.append(event)

        task = asyncio.create_task(listen())
        await link.send_text("room-family@chatroom", "hello")
        await link.send_text("room-family@chatroom", "@Alice\u2005ping", ["alice"])
        data = b"\xff\xd8\xff\xe0 not really a jpeg"
        await link.send_file("room-family@chatroom", "x.jpg", data)

        records = await asyncio.to_thread(gateway.wait_for_messages, 3)
        assert [(r["room_id"], r["type"]) for r in records] == [("room-family@chatroom", "text")] * 2 + [
            ("room-family@chatroom", "file")
        ]
        assert records[0]["text"] == "hello"
        assert records[0]["room_topic"] == "Happy Family"
        assert records[1]["mention_ids"] == ["alice"]
        assert records[2]["file"]["name"] == "x.jpg"
        assert base64.b64decode(records[2]["file"]["base64"]) == data

        message_id = gateway.say("room-family@chatroom", "alice", "hi bot")
        deadline = time.monotonic() + 10
        while not any(e.type == "message" and e.payload.get("messageId") == message_id for e in received):
            assert time.monotonic() < deadline, "contact message never reached the event stream"
            await asyncio.sleep(0.05)
        message = await link.message_payload(message_id)
        assert (message.room_id, message.talker_id, message.text) == ("room-family@chatroom", "alice", "hi bot")

        gateway.fail_room("room-family@chatroom")
        try:
            with pytest.raises(SendError, match="fail_room"):
                await link.send_text("room-family@chatroom", "doomed")
        finally:
            gateway.fail_room("room-family@chatroom", fail=False)
        task.cancel()
    finally:
        await link.close()
