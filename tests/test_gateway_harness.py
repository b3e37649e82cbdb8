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
from typing import Any

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


async def test_sdk_round_trip(gateway: MockGateway) -> None:
    """The real Python SDK connects, sends text/mention/file, and receives a contact's message."""
    from bridge.wechaty_compat import FileBox, Wechaty, new_options

    gateway.clear()
    received: list[Any] = []
    logged_in = asyncio.Event()

    class Bot(Wechaty):  # type: ignore[misc]
        async def on_login(self, contact: Any) -> None:
            logged_in.set()

        async def on_message(self, msg: Any) -> None:
            received.append(msg)

    bot = Bot(new_options(gateway.endpoint, gateway.token))
    task = asyncio.create_task(bot.start())  # start() returns only when the event stream ends
    try:
        await asyncio.wait_for(logged_in.wait(), 15)
        room = bot.Room.load("room-family@chatroom")
        await room.ready()
        await room.say("hello")
        await room.say("ping", mention_ids=["alice"])
        b64 = base64.b64encode(b"\xff\xd8\xff\xe0 not really a jpeg").decode()
        await room.say(FileBox.from_base64(b64, name="x.jpg"))

        records = await asyncio.to_thread(gateway.wait_for_messages, 3)
        assert [(r["room_id"], r["type"]) for r in records] == [("room-family@chatroom", "text")] * 2 + [
            ("room-family@chatroom", "file")
        ]
        assert records[0]["text"] == "hello"
        assert records[0]["room_topic"] == "Happy Family"
        assert records[1]["mention_ids"] == ["alice"]
        assert records[1]["text"].endswith("ping")  # the SDK prefixes "@Alice" itself
        assert records[2]["file"]["name"] == "x.jpg"
        assert records[2]["file"]["base64"] == b64

        message_id = gateway.say("room-family@chatroom", "alice", "hi bot")
        deadline = time.monotonic() + 10
        while not any(m.message_id == message_id for m in received):
            assert time.monotonic() < deadline, "contact message never reached on_message"
            await asyncio.sleep(0.05)

        gateway.fail_room("room-family@chatroom")
        try:
            with pytest.raises(Exception, match="fail_room"):
                await asyncio.wait_for(room.say("doomed"), 10)
        finally:
            gateway.fail_room("room-family@chatroom", fail=False)
    finally:
        await bot.stop()
        # Wechaty.start() may turn the cancellation into StreamTerminatedError and then
        # sleep 60 s before "restarting": cancel until the task is really gone.
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.1)
