"""Credentials and cursors on disk: 0600 from the first byte, replaced whole, never a token in a repr."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bridge.wechat.ilink.credentials import Credentials, CredentialStore, Cursor

ALICE = Credentials(name="alice", token="secret-token-123", base_url="https://ilinkai.weixin.qq.com",
                    bot_id="b0f5@im.bot", user_id="o9x@im.wechat", bound_at=1700000000.0)


def test_saved_credentials_are_read_back_and_only_their_owner_may_read_them(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "ilink")
    store.save(ALICE)
    assert store.load("alice") == ALICE
    path = tmp_path / "ilink" / "alice.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ilink").stat().st_mode) == 0o700
    assert [p.name for p in (tmp_path / "ilink").iterdir()] == ["alice.json"]  # no temporary file left


def test_the_token_never_shows_in_a_repr() -> None:
    assert "secret-token-123" not in repr(ALICE)
    assert "ctx-secret" not in repr(Cursor(context_token="ctx-secret"))


def test_people_are_listed_and_forgotten_with_their_cursor(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    assert store.names() == []
    store.save(ALICE)
    store.save(Credentials(name="bob", token="t2", base_url="u", bot_id="b", user_id="u2", bound_at=1.0))
    store.save_cursor("alice", Cursor(get_updates_buf="abc"))
    assert store.names() == ["alice", "bob"]
    assert [c.name for c in store.all()] == ["alice", "bob"]
    assert store.local_tokens() == ["secret-token-123", "t2"]  # newest binding first
    assert store.forget("alice") is True
    assert store.forget("alice") is False
    assert store.names() == ["bob"]
    assert store.load_cursor("alice") == Cursor()


def test_a_cursor_survives_a_restart_and_an_inbound_message_renews_it(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    assert store.load_cursor("alice") == Cursor()
    cursor = Cursor(get_updates_buf="buf-1", context_token="ctx-1", last_inbound_at=10.0, spent=4)
    store.save_cursor("alice", cursor)
    assert CredentialStore(tmp_path).load_cursor("alice") == cursor
    assert stat.S_IMODE((tmp_path / "alice.cursor.json").stat().st_mode) == 0o600
    renewed = cursor.inbound("ctx-2", at=20.0)
    assert (renewed.context_token, renewed.last_inbound_at, renewed.spent, renewed.get_updates_buf) == (
        "ctx-2", 20.0, 0, "buf-1")


def test_a_file_left_world_readable_by_a_crash_is_not_reused(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    stale = tmp_path / f".alice.json.{__import__('os').getpid()}.tmp"
    stale.write_text("{}")
    stale.chmod(0o644)
    store.save(ALICE)
    assert stat.S_IMODE((tmp_path / "alice.json").stat().st_mode) == 0o600


@pytest.mark.parametrize("name", ["", "Alice", "../x", "a b", "a/b", "-x"])
def test_a_name_that_is_no_safe_file_name_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="cannot name a person"):
        CredentialStore(tmp_path).load(name)
