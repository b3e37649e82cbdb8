"""Texts cut at iLink's 4000 (UTF-16 units, as Tencent's client counts them)."""

from __future__ import annotations

import pytest

from bridge.wechat.ilink.text import TEXT_LIMIT, split_text, utf16_length


def test_a_short_text_is_one_part() -> None:
    assert split_text("门铃响了") == ["门铃响了"]
    assert split_text("") == [""]


def test_a_long_text_is_cut_into_parts_that_join_back_to_it() -> None:
    text = "\n".join(f"line {i}: " + "x" * 90 for i in range(200))
    parts = split_text(text)
    assert "".join(parts) == text
    assert all(utf16_length(p) <= TEXT_LIMIT for p in parts)
    assert all(utf16_length(p) > TEXT_LIMIT * 3 // 4 for p in parts[:-1])  # no needlessly small part
    assert all(p.endswith("\n") for p in parts[:-1])  # cut after a line, not inside one


def test_an_emoji_counts_two_and_is_never_cut_in_two() -> None:
    text = "😀" * 2500  # 5000 UTF-16 units
    parts = split_text(text)
    assert [utf16_length(p) for p in parts] == [4000, 1000]
    assert "".join(parts) == text


def test_a_text_without_spaces_is_cut_at_the_limit() -> None:
    assert [len(p) for p in split_text("字" * 9000)] == [4000, 4000, 1000]


def test_a_limit_too_small_for_one_character_is_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        split_text("abc", limit=1)
