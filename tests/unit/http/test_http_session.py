"""The status page's session cookie and CSRF token: signed, expiring, tied to the HTTP token."""

from __future__ import annotations

from bridge.http.session import SESSION_SECONDS, Sessions

TOKEN = b"the-http-token-0123456789"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_new_session_is_valid_until_it_expires() -> None:
    clock = Clock()
    sessions = Sessions(TOKEN, clock=clock)
    cookie = sessions.new()
    assert sessions.valid(cookie)
    clock.now += SESSION_SECONDS - 1
    assert sessions.valid(cookie)
    clock.now += 2
    assert not sessions.valid(cookie)


def test_a_forged_or_foreign_cookie_is_not_a_session() -> None:
    sessions = Sessions(TOKEN)
    cookie = sessions.new()
    issued, nonce, mac = cookie.split(".")
    assert not sessions.valid(f"{issued}.{nonce}x.{mac}")
    assert not sessions.valid(f"{int(issued, 16) + 1:x}.{nonce}.{mac}")  # a later expiry is not ours to give
    assert not sessions.valid(None) and not sessions.valid("") and not sessions.valid("a.b")
    assert not Sessions(b"another-token-0123456789").valid(cookie)  # a changed token ends every session


def test_the_csrf_token_belongs_to_one_session() -> None:
    sessions = Sessions(TOKEN)
    one, two = sessions.new(), sessions.new()
    assert sessions.csrf_matches(one, sessions.csrf(one))
    assert not sessions.csrf_matches(one, sessions.csrf(two))
    assert not sessions.csrf_matches(one, None) and not sessions.csrf_matches(one, "")


def test_only_the_token_itself_logs_in() -> None:
    sessions = Sessions(TOKEN)
    assert sessions.token_matches(TOKEN.decode()) and sessions.token_matches(f" {TOKEN.decode()}\n")
    assert not sessions.token_matches(TOKEN.decode()[:-1]) and not sessions.token_matches("")
    assert not Sessions(b"").token_matches("")
