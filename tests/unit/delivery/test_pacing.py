from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from bridge.config.models import DigestSettings, PacingSettings
from bridge.delivery.pacing import Pacer, TokenBucket, digest_fit, format_digest, split_text, wechat_len


def pacer(**settings: object) -> Pacer:
    return Pacer(PacingSettings.model_validate({"jitter": 0, **settings}), rng=random.Random(7))


def test_bucket_allows_its_capacity_at_once_then_refills_evenly() -> None:
    bucket = TokenBucket(3, 0.5)
    for _ in range(3):
        assert bucket.wait(10.0) == 0
        bucket.take(10.0)
    assert bucket.wait(10.0) == pytest.approx(2.0)
    assert bucket.wait(11.0) == pytest.approx(1.0)
    assert bucket.wait(12.0) == 0


def test_min_gap_counts_from_the_end_of_the_previous_send() -> None:
    p = pacer(min_gap="1s", global_limit=100, room_limit=100)
    assert p.wait("a", 0.0) == 0
    p.sent("a", 0.5)
    assert p.wait("a", 0.5) == pytest.approx(1.0)
    assert p.wait("b", 1.0) == pytest.approx(0.5)  # the gap is global
    assert p.wait("b", 1.5) == 0


def test_jitter_adds_up_to_its_bound() -> None:
    p = Pacer(PacingSettings(min_gap=1.0, jitter=1.0, global_limit=100, room_limit=100), rng=random.Random(1))
    gaps = []
    for i in range(50):
        now = i * 10.0
        p.sent("a", now)
        gaps.append(p.global_wait(now))
    assert all(1.0 <= g <= 2.0 for g in gaps)
    assert max(gaps) - min(gaps) > 0.5


def test_room_limit_blocks_only_that_room() -> None:
    p = pacer(min_gap=0, global_limit=100, room_limit=2, period="60s")
    p.sent("a", 0.0)
    p.sent("a", 0.0)
    assert p.room_wait("a", 0.0) == pytest.approx(30.0)
    assert p.room_wait("b", 0.0) == 0
    assert p.blocked_rooms(["a", "b"], 0.0) == {"a": pytest.approx(30.0)}
    assert p.blocked_rooms(["a", "b"], 30.0) == {}


def test_global_limit_spreads_a_burst_over_the_period() -> None:
    p = pacer(min_gap=0, global_limit=20, room_limit=20, period="1m")
    now, starts = 0.0, []
    for _ in range(40):
        now += p.wait("a", now)
        starts.append(now)
        p.sent("a", now)
    assert starts[19] == 0.0  # the first 20 at once
    assert starts[39] == pytest.approx(60.0)  # then one every 3 s


def test_disabled_never_waits() -> None:
    p = pacer(enabled=False, min_gap="5s", global_limit=1, room_limit=1)
    for _ in range(10):
        p.sent("a", 0.0)
    assert p.wait("a", 0.0) == 0


def test_short_text_is_one_part() -> None:
    assert split_text("hello", 100) == ["hello"]


def test_long_text_splits_at_lines_then_words_with_numbered_parts() -> None:
    text = "\n".join(f"line {i:02d} " + "w" * 20 for i in range(10))  # 10 lines of 28 characters
    parts = split_text(text, 100)
    assert all(len(p) <= 100 for p in parts)
    assert parts[0] == "(1/4) " + "\n".join(text.splitlines()[0:3])
    assert [p.split(" ", 1)[0] for p in parts] == ["(1/4)", "(2/4)", "(3/4)", "(4/4)"]
    assert "\n".join(p.split(" ", 1)[1] for p in parts) == text


def test_one_long_line_splits_at_spaces_and_a_long_word_hard() -> None:
    words = " ".join(["abcdefghi"] * 30)  # 299 characters
    parts = split_text(words, 120)
    assert all(len(p) <= 120 for p in parts)
    assert " ".join(p.split(" ", 1)[1] for p in parts) == words
    blob = "x" * 250
    parts = split_text(blob, 120)
    assert "".join(p.split(" ", 1)[1] for p in parts) == blob
    assert all(len(p) <= 120 for p in parts)


def test_a_chinese_long_text_splits_at_the_sentence_end_not_mid_character() -> None:
    first = "今天下午三点，洗衣房地面检测到漏水，已经自动关闭进水阀。"  # 28 characters
    second = "请尽快回家查看，并擦干地面；如有需要，请联系物业维修。"  # 27
    text = (first + second) * 3  # 165 characters, no space anywhere
    parts = split_text(text, 100, "（{index}/{total}）")
    assert parts == ["（1/2）" + first + second + first, "（2/2）" + second + first + second]
    assert all(wechat_len(p) <= 100 for p in parts)


def test_without_a_sentence_end_in_reach_a_chinese_text_splits_at_a_clause_mark() -> None:
    clause = "传感器报告温度过高，"  # 10 characters, no 。 at all
    parts = split_text(clause * 12, 100)
    assert parts == ["(1/2) " + clause * 9, "(2/2) " + clause * 3]


def test_a_sentence_end_keeps_its_closing_quote() -> None:
    said = "妈妈说：“到家了。”"  # 10
    parts = split_text(said * 15, 100, "（{index}/{total}）")
    assert parts[0] == "（1/2）" + said * 9 and parts[1] == "（2/2）" + said * 6


def test_lengths_count_utf16_units_as_wechat_does() -> None:
    assert [wechat_len(t) for t in ("abc", "漏水", "💧", "👨‍👩‍👧", "e\u0301", "🇨🇳")] == [3, 2, 2, 8, 2, 4]
    parts = split_text("💧" * 60, 100)  # 60 code points, 120 units: too long for one message
    assert parts == ["(1/2) " + "💧" * 47, "(2/2) " + "💧" * 13]


@pytest.mark.parametrize("cluster", [
    "💧",                     # a surrogate pair in UTF-16
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # an emoji ZWJ sequence: man, ZWJ, woman, ZWJ, girl
    "🇨🇳",                    # a flag: two regional indicators
    "e\u0301",               # e + combining acute accent
    "👍🏽",                    # an emoji with a skin-tone modifier
])
def test_a_hard_cut_never_splits_a_grapheme_cluster(cluster: str) -> None:
    text = cluster * (300 // wechat_len(cluster))
    parts = split_text(text, 101)
    bodies = [p.split(" ", 1)[1] for p in parts]
    assert "".join(bodies) == text
    assert all(body == cluster * (len(body) // len(cluster)) for body in bodies), bodies
    assert all(wechat_len(p) <= 101 for p in parts)


def test_a_digest_is_the_header_with_its_count_then_one_item_per_text() -> None:
    settings = DigestSettings()
    expected = "2 notifications:\n\u2022 door open\n\u2022 lights {on}"
    assert format_digest(["door open", "lights {on}"], settings) == expected
    custom = DigestSettings(header="Backlog ({count}) of {count}", item="- {text} ({text})")
    assert format_digest(["a"], custom) == "Backlog (1) of 1\n- a (a)"
    # No header: the items alone, not an empty first line.
    assert format_digest(["a", "b"], DigestSettings(header="")) == "\u2022 a\n\u2022 b"


def test_a_digest_takes_what_fits_in_items_and_characters() -> None:
    settings = DigestSettings(max_items=3)
    assert digest_fit(["x"] * 5, settings, 4000) == 3
    assert digest_fit(["x"] * 2, settings, 4000) == 2
    # "3 notifications:" is 16 characters, each item 1 + 2 + 10.
    texts = ["0123456789"] * 3
    assert len(format_digest(texts[:2], settings)) == 16 + 2 * 13
    assert digest_fit(texts, settings, 16 + 2 * 13) == 2
    assert digest_fit(texts, settings, 16 + 2 * 13 - 1) == 1
    assert digest_fit(["y" * 200], settings, 100) == 0


def test_digest_settings_are_validated() -> None:
    assert PacingSettings().digest == DigestSettings(enabled=True, threshold=5, max_items=20,
                                                     header="{count} notifications:", item="\u2022 {text}")
    with pytest.raises(ValidationError, match="must contain"):
        DigestSettings(item="- item")
    with pytest.raises(ValidationError):
        DigestSettings(max_items=1)
    with pytest.raises(ValidationError):
        PacingSettings.model_validate({"digest": {"treshold": 3}})
