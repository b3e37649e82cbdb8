"""The catalogs of bridge/i18n.py: every text the code asks for is translated, with its fields kept."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bridge.i18n import CATALOG_DIR, LOCALES, catalog_path, normalize_locale, texts_for

BRIDGE = Path(__file__).resolve().parents[2] / "bridge"
TRANSLATED = [locale for locale in LOCALES if locale != "en"]


def used_in_code() -> set[tuple[str | None, str]]:
    """(context, message id) of every `gettext`/`pgettext` call in bridge/, as babel extracts them."""
    found = set()
    for _file, _line, message, _comments, context in extract_from_dir(
            str(BRIDGE), method_map=[("wechaty/**.py", "ignore"), ("**.py", "python")],
            keywords={"gettext": None, "pgettext": ((1, "c"), 2)}):
        found.add((context, message))
    return found


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_the_code_asks_for_the_texts_it_composes() -> None:
    used = used_in_code()
    assert (None, "{count} notifications:") in used and ("duration", "{n} min") in used
    assert ("Home Assistant", "WeChat login") in used and (None, "Scan with WeChat to log in") in used
    assert len(used) >= 25


@pytest.mark.parametrize("locale", TRANSLATED)
def test_each_catalog_has_every_message_translated_with_its_fields(locale: str) -> None:
    with catalog_path(locale).open("rb") as po:
        catalog = read_po(po)
    have = {(m.context, m.id): m.string for m in catalog if m.id}
    used = used_in_code()
    assert sorted(used - have.keys(), key=str) == []  # asked for, not in the catalog
    assert sorted(have.keys() - used, key=str) == []  # left over in the catalog
    for (context, message), translation in have.items():
        assert translation, f"{context}/{message!r} is not translated"
        assert fields(translation) == fields(message), f"{message!r} -> {translation!r} changes the fields"


def test_one_catalog_per_language_and_nothing_compiled_beside_it() -> None:
    assert sorted(p.relative_to(CATALOG_DIR).as_posix() for p in CATALOG_DIR.rglob("*") if p.is_file()) == [
        "zh_CN/LC_MESSAGES/bridge.po"]


def test_texts_in_chinese_and_english() -> None:
    zh, en = texts_for("zh-CN"), texts_for("en")
    assert zh.gettext("{count} notifications:").format(count=7) == "7 条通知："
    assert en.gettext("{count} notifications:").format(count=7) == "7 notifications:"
    assert zh.pgettext("Home Assistant", "WeChat login") == "登录状态"
    assert zh.gettext("a text nobody translated") == "a text nobody translated"  # English, not empty


def test_locale_spellings() -> None:
    assert [normalize_locale(v) for v in ("zh_CN", "zh-cn", "ZH", " zh-Hans ", "en-US", "en")] == [
        "zh-CN", "zh-CN", "zh-CN", "zh-CN", "en", "en"]
    assert normalize_locale("fr") == "fr"  # left for the config to refuse, by name
    with pytest.raises(ValueError, match=re.escape("unknown locale 'fr': the bridge speaks en, zh-CN")):
        texts_for("fr")
