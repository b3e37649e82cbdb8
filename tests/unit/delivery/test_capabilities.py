"""What a transport cannot carry is left out, not failed (issue 25): the send's degradation, the
note on the row's report, the declared table and the warnings `check` and `doctor` print."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.chat import Capabilities, WeChatContact, WeChatRoom
from bridge.config.loader import load_config
from bridge.config.models import PacingSettings
from bridge.config.rooms import ContactSettings, RoomSettings
from bridge.delivery.pacing import Pacer
from bridge.delivery.ports import Batch, Refused, Sent, Store
from bridge.delivery.record import Record
from bridge.delivery.send import Send
from bridge.errors import Unsupported
from bridge.events import Attachment, RoomRef
from bridge.outbox.runner import OutboxRunner
from bridge.outbox.store import Outbox
from bridge.wechat.capabilities import ILINK, PUPPETS, capability_warnings
from bridge.wechat.rooms import RoomDirectory
from tests.unit.fakes import FakeClock, FakeWeChat, enqueue, open_outbox, rows

OPS = RoomRef("ops", "ops@chatroom", "Ops")
TEXT_ONLY = PUPPETS["wechat-skill"]
CONTACTS = {"alice": ContactSettings(name="Alice"), "bob": ContactSettings(id="wxid_bob")}


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[OutboxRunner]:
    opened = await open_outbox(tmp_path)
    yield opened
    await opened.close()


def sender(wechat: FakeWeChat, runner: OutboxRunner, downloads: list[str] | None = None) -> Send:
    directory = RoomDirectory()
    directory.update([WeChatRoom("ops@chatroom", "Ops", 3)], {"ops": RoomSettings(topic="Ops")})
    record = Record(store=Store(runner), clock=FakeClock(), on_finished=lambda: None)

    async def download(url: str, *, max_bytes: int, seconds: float) -> bytes:
        (downloads if downloads is not None else []).append(url)
        return b"\x89PNG\r\n\x1a\nimage"

    return Send(sender=wechat, rooms=directory, pacer=Pacer(PacingSettings(enabled=False)), clock=FakeClock(),
                on_text_sent=record.text_sent, contacts=lambda: CONTACTS, download=download)


async def test_a_declared_text_only_transport_gets_the_text_with_the_url_and_no_download(
        runner: OutboxRunner) -> None:
    wechat, downloads = FakeWeChat(can=TEXT_ONLY), []
    url = "http://cam.local/snap.png"
    await enqueue(runner, "Someone at the door", attachment=Attachment(kind="image", name="snap.png", url=url))
    outcome = await sender(wechat, runner, downloads)(Batch(tuple(await rows(runner))))
    assert outcome == Sent(OPS, "the image 'snap.png' was not sent: the wechat-skill gateway cannot send images or "
                                f"files; the text was sent; its URL is in the text ({url})")
    assert wechat.texts == [("ops@chatroom", f"Someone at the door\n{url}", [])]
    assert wechat.files == [] and downloads == []


async def test_an_image_without_url_and_text_goes_as_its_name(runner: OutboxRunner) -> None:
    wechat = FakeWeChat(can=TEXT_ONLY)
    await enqueue(runner, "", attachment=Attachment(kind="image", name="front.jpg", data=b"\xff\xd8\xffjpeg"))
    outcome = await sender(wechat, runner)(Batch(tuple(await rows(runner))))
    assert outcome == Sent(OPS, "the image 'front.jpg' was not sent: the wechat-skill gateway cannot send images or "
                                "files; the text was sent")
    assert wechat.texts == [("ops@chatroom", "[image: front.jpg]", [])]


async def test_a_file_send_answered_unimplemented_is_delivered_with_a_note_not_retried(
        runner: OutboxRunner) -> None:
    refused = Unsupported("WeChat refused the message: the gateway does not implement it (not implemented)",
                          capability="files")
    wechat = FakeWeChat(failures=[None, refused], can=PUPPETS["unknown"])
    url = "http://cam.local/snap.png"
    await enqueue(runner, "Snapshot", attachment=Attachment(kind="image", name="snap.png", url=url))
    outcome = await sender(wechat, runner)(Batch(tuple(await rows(runner))))
    assert outcome == Sent(OPS, "the image 'snap.png' was not sent: the gateway answered UNIMPLEMENTED to a file "
                                f"send; the text was sent; its URL is in the text ({url})")
    assert wechat.texts == [("ops@chatroom", "Snapshot", []), ("ops@chatroom", url, [])]
    assert wechat.tried == ["Snapshot", "snap.png", url]
    assert not isinstance(outcome, Refused)


async def test_mentions_a_transport_cannot_make_go_as_plain_names(runner: OutboxRunner) -> None:
    wechat = FakeWeChat(can=PUPPETS["wechat4u"], members={"ops@chatroom": [WeChatContact("wxid_bob", "Bob")]})
    await enqueue(runner, "Water leak", mentions=("alice", "bob"))
    outcome = await sender(wechat, runner)(Batch(tuple(await rows(runner))))
    assert outcome == Sent(OPS, "@Alice, @Bob sent as plain text: the wechat4u gateway cannot make real "
                                "@-mentions, so nobody was notified")
    assert wechat.texts == [("ops@chatroom", "@Alice @Bob Water leak", [])]


async def test_the_note_reaches_the_report_beside_a_note_already_there(runner: OutboxRunner) -> None:
    await enqueue(runner, "a")
    [row] = await rows(runner)
    record = Record(store=Store(runner), clock=FakeClock(), on_finished=lambda: None)
    delivered = await record(Batch((row,)), Sent(OPS, "the image was left out"))
    assert delivered is not None
    await runner.run(Outbox.finish, delivered.finish)
    [done] = await rows(runner)
    report = done.report()
    assert (report.status, report.note, report.error) == ("delivered", "the image was left out", None)


def test_the_declared_table() -> None:
    assert (ILINK.groups, ILINK.files, ILINK.mentions) == (False, True, False)
    assert (TEXT_ONLY.files, TEXT_ONLY.mentions) == (False, False)
    assert PUPPETS["mock"] == Capabilities("the mock gateway")
    assert (PUPPETS["wechat4u"].files, PUPPETS["wechat4u"].mentions) == (True, False)
    assert PUPPETS["unknown"] == Capabilities("the gateway")


def test_warnings_name_each_route_and_room_whose_transport_cannot_carry_it(tmp_path: Path) -> None:
    path = tmp_path / "bridge.yaml"
    path.write_text(f"""\
wechaty: {{puppet: wechaty-puppet-wechat4u, token: test-token-0123456789}}
outbox: {{path: {tmp_path}/outbox.sqlite3}}
contacts: {{alice: {{name: Alice}}}}
rooms:
  family: {{topic: Family}}
  mum: {{ilink: mum}}
routes:
  - {{name: door, topic: door, rooms: [family, mum], image: {{url: "http://cam/snap.jpg"}}, template: door}}
  - {{name: leak, topic: leak, rooms: [family, mum], mention: [alice], template: leak}}
""")
    config = load_config(path)
    assert config.wechaty.puppet == "wechat4u"
    assert capability_warnings(config) == [
        "route 'leak' @-mentions people in room 'family', but the wechat4u gateway cannot make real @-mentions: the "
        "names go as plain @Name text, with a note in the report",
        "route 'leak' @-mentions people in room 'mum', but the official bot cannot make real @-mentions: the names "
        "go as plain @Name text, with a note in the report",
    ]
    path.write_text(path.read_text().replace("wechaty-puppet-wechat4u", "wechat-skill"))
    assert capability_warnings(load_config(path))[0] == (
        "route 'door' sends an image to room 'family', but the wechat-skill gateway cannot send images or files: the "
        "text goes alone, with a note in the report")
