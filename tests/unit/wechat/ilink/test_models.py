"""iLink's JSON read into our values: what a caller can rely on whatever the server adds."""

from __future__ import annotations

import pytest

from bridge.wechat.ilink.errors import Answer, IlinkRefused, RateLimited, SessionExpired, WindowClosed, raise_for_answer
from bridge.wechat.ilink.models import InboundMessage, QrState, QrStatus


def test_a_status_we_do_not_know_yet_is_waited_on() -> None:
    status = QrStatus.from_json({"status": "something_new"})
    assert (status.state, status.raw_status) == (QrState.WAIT, "something_new")


def test_a_voice_message_gives_its_transcript_and_media_alone_gives_no_text() -> None:
    voice = InboundMessage.from_json({"from_user_id": "u", "context_token": "c", "message_type": 1,
                                      "item_list": [{"type": 3, "voice_item": {"text": "开门"}}]})
    assert (voice.text, voice.item_types) == ("开门", (3,))
    image = InboundMessage.from_json({"from_user_id": "u", "item_list": [{"type": 2, "image_item": {}}]})
    assert (image.text, image.item_types, image.context_token) == ("", (2,), None)


@pytest.mark.parametrize(("body", "error"), [
    ({"ret": -2}, WindowClosed),
    ({"ret": -2, "errmsg": "rate limited"}, RateLimited),
    ({"ret": -2, "errmsg": "Rate Limit exceeded"}, RateLimited),
    ({"ret": -14}, SessionExpired),
    ({"errcode": -14, "errmsg": "session timeout"}, SessionExpired),
    ({"ret": -1, "errmsg": "invalid"}, IlinkRefused),
    ({"ret": 0, "errcode": 5}, IlinkRefused),
])
def test_each_refusal_is_its_own_class_carrying_the_fields(body: dict[str, object], error: type[Exception]) -> None:
    answer = Answer(ret=body.get("ret"), errcode=body.get("errcode"), errmsg=body.get("errmsg"))  # type: ignore[arg-type]
    with pytest.raises(error) as raised:
        raise_for_answer("sendmessage", answer)
    assert (raised.value.ret, raised.value.errcode, raised.value.errmsg) == (  # type: ignore[attr-defined]
        body.get("ret"), body.get("errcode"), body.get("errmsg"))


@pytest.mark.parametrize("body", [{}, {"ret": 0}, {"ret": 0, "errcode": 0}])
def test_no_ret_or_zero_is_a_success(body: dict[str, int]) -> None:
    raise_for_answer("sendmessage", Answer(ret=body.get("ret"), errcode=body.get("errcode"), errmsg=None))
