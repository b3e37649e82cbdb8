"""The reply window and the budget of one person, with times as plain numbers (window.py is pure)."""

from __future__ import annotations

from bridge.wechat.ilink.errors import (
    Answer,
    IlinkInDoubt,
    IlinkRefused,
    RateLimited,
    SessionExpired,
    WindowClosed,
)
from bridge.wechat.ilink.window import Gate, Window, WindowPolicy

HOUR = 3600.0
POLICY = WindowPolicy(window_seconds=24 * HOUR, per_message=10, stale_pause_seconds=HOUR,
                      rate_limit_first_seconds=30.0, rate_limit_max_seconds=120.0)


def test_nothing_may_be_sent_before_the_person_ever_wrote() -> None:
    window = Window(policy=POLICY)
    left = window.remaining(now=1000.0)
    assert (left.gate, left.budget, left.window_until, left.context_token) == (Gate.NEVER, 0, None, None)


def test_a_message_opens_the_window_for_24_hours_and_ten_sends() -> None:
    window = Window(policy=POLICY)
    window.record_inbound("ctx-1", at=1000.0)
    left = window.remaining(now=1000.0)
    assert (left.gate, left.budget, left.window_until, left.context_token) == (Gate.OPEN, 10, 1000.0 + 24 * HOUR,
                                                                               "ctx-1")
    assert window.remaining(now=1000.0 + 24 * HOUR - 1).open
    assert window.remaining(now=1000.0 + 24 * HOUR).gate is Gate.WINDOW_CLOSED


def test_each_send_spends_budget_until_none_is_left() -> None:
    window = Window(policy=POLICY)
    window.record_inbound("ctx-1", at=0.0)
    window.spend(8)
    assert window.remaining(now=1.0).budget == 2
    window.spend(2)
    left = window.remaining(now=1.0)
    assert (left.gate, left.budget) == (Gate.BUDGET_SPENT, 0)


def test_a_new_message_renews_window_and_budget_and_keeps_its_token() -> None:
    window = Window(policy=POLICY)
    window.record_inbound("ctx-1", at=0.0)
    window.spend(10)
    window.record_inbound("ctx-2", at=30 * HOUR)
    left = window.remaining(now=30 * HOUR + 1)
    assert (left.gate, left.budget, left.context_token, left.window_until) == (Gate.OPEN, 10, "ctx-2", 54 * HOUR)


def test_the_server_refusing_closes_the_window_before_the_estimate_does() -> None:
    window = Window(policy=POLICY)
    window.record_inbound("ctx-1", at=0.0)
    window.spend(3)
    window.refused()
    left = window.remaining(now=HOUR)
    assert (left.gate, left.budget) == (Gate.REFUSED, 0)
    window.record_inbound("ctx-2", at=2 * HOUR)
    assert window.remaining(now=2 * HOUR).open


def test_rate_limits_wait_longer_each_time_up_to_the_cap_and_an_accepted_send_resets_them() -> None:
    window = Window(policy=POLICY)
    window.record_inbound("ctx-1", at=0.0)
    assert window.rate_limited(now=100.0) == 130.0
    left = window.remaining(now=129.0)
    assert (left.gate, left.retry_at, left.budget) == (Gate.RATE_LIMITED, 130.0, 10)
    assert window.remaining(now=130.0).open
    assert [window.rate_limited(now=200.0) - 200.0 for _ in range(4)] == [60.0, 120.0, 120.0, 120.0]
    window.spend(1)
    assert window.remaining(now=200.0).open  # the send went: the limit is over
    assert window.rate_limited(now=300.0) == 330.0


def test_an_expired_session_pauses_everything_for_the_stale_pause() -> None:
    window = Window(policy=POLICY)
    window.record_inbound("ctx-1", at=0.0)
    assert window.session_expired(now=10.0) == 10.0 + HOUR
    left = window.remaining(now=10.0 + HOUR - 1)
    assert (left.gate, left.retry_at, left.budget) == (Gate.PAUSED, 10.0 + HOUR, 0)
    assert window.remaining(now=10.0 + HOUR).open  # after the pause: one try tells
    window.session_expired(now=20.0)
    window.session_restored()
    assert window.remaining(now=21.0).open


def test_state_restored_from_a_cursor_keeps_what_was_spent() -> None:
    window = Window(policy=POLICY, context_token="ctx-1", last_inbound_at=0.0, spent=9)
    assert window.remaining(now=5.0).budget == 1


def test_a_refused_send_teaches_the_window_what_the_server_knows() -> None:
    answer = Answer(ret=-2, errcode=None, errmsg=None)
    cases = [
        (WindowClosed(endpoint="sendmessage", answer=answer), Gate.REFUSED),
        (RateLimited(endpoint="sendmessage", answer=Answer(ret=-2, errcode=None, errmsg="rate limited")),
         Gate.RATE_LIMITED),
        (SessionExpired(endpoint="sendmessage", answer=Answer(ret=None, errcode=-14, errmsg=None)), Gate.PAUSED),
        (IlinkInDoubt("no answer", endpoint="sendmessage"), Gate.OPEN),  # says nothing about the window
        (IlinkRefused("bad", endpoint="sendmessage", answer=Answer(ret=-1, errcode=None, errmsg=None)), Gate.OPEN),
    ]
    for error, gate in cases:
        window = Window(policy=POLICY)
        window.record_inbound("ctx-1", at=0.0)
        window.learn(error, now=10.0)
        assert window.remaining(now=11.0).gate is gate, error
