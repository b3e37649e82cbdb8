"""The catalogs of bridge/i18n.py: every text the code asks for is translated, with its fields kept."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bridge.i18n import (
    CATALOG_DIR,
    LOCALES,
    CatalogError,
    catalog_path,
    compile_catalog,
    normalize_locale,
    read_catalog,
    texts_for,
)

BRIDGE = Path(__file__).resolve().parents[2] / "bridge"
TRANSLATED = [locale for locale in LOCALES if locale != "en"]


#: The status page's templates, read by Jinja's own extractor (its i18n extension, as bridge/http/page.py loads it).
TEMPLATES = "http/templates/**.html"


def extracted() -> list[tuple[str, str | None, str]]:
    """(file, context, message id) of every `gettext`/`pgettext`/`_`/`N_` call in bridge/'s code and page
    templates, as babel extracts them."""
    return [(file, context, message) for file, _line, message, _comments, context in extract_from_dir(
            str(BRIDGE), method_map=[("wechaty/**.py", "ignore"), ("**.py", "python"),
                                     (TEMPLATES, "jinja2.ext:babel_extract")],
            options_map={TEMPLATES: {"extensions": "jinja2.ext.i18n"}},
            keywords={"_": None, "N_": None, "gettext": None, "pgettext": ((1, "c"), 2)})]


def used_in_code() -> set[tuple[str | None, str]]:
    return {(context, message) for _file, context, message in extracted()}


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_the_code_asks_for_the_texts_it_composes() -> None:
    used = used_in_code()
    assert (None, "{count} notifications:") in used and ("duration", "{n} min") in used
    assert ("Home Assistant", "WeChat login") in used and (None, "Scan with WeChat to log in") in used
    assert len(used) >= 25


def test_the_status_page_asks_for_its_words_in_every_template_and_its_own_errors() -> None:
    files = {file for file, _context, _message in extracted()}
    assert {"http/templates/login.html", "http/templates/page.html", "http/templates/sections.html",
            "http/page.py"} <= files
    used = used_in_code()
    assert {(None, "Log in"), (None, "Recent deliveries"), ("login state", "scan the QR code"),
            ("delivery status", "delivered"), (None, "queued as {id}: its report appears under Recent deliveries"),
            (None, "That is not the HTTP token (http.token).")} <= used
    # Jinja's new-style gettext always applies `%` to a template's message: a literal one would break it.
    assert [m for f, _c, m in extracted() if f.endswith(".html") and "%" in m] == []


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


def test_the_page_script_writes_only_words_the_page_hands_it() -> None:
    script = (BRIDGE / "http" / "static" / "page.js").read_text()
    page = (BRIDGE / "http" / "templates" / "page.html").read_text()
    block = page.split('<script type="application/json" id="page-texts">', 1)[1].split("</script>", 1)[0]
    handed = set(re.findall(r'^\s*"(\w+)": _\(', block, re.MULTILINE))
    asked = set(re.findall(r"\bt\('(\w+)'", script))
    assert asked and asked == handed
    # No word of its own: the only string literals it writes into the page are ids, names and the ellipsis.
    assert re.findall(r"textContent = '([^']*)'", script) == ["…", "…"]


@pytest.mark.parametrize("locale", TRANSLATED)
def test_the_bridges_own_reader_reads_each_catalog_as_babel_does(locale: str) -> None:
    with catalog_path(locale).open("rb") as po:
        catalog = read_po(po, abort_invalid=True)
    babel = {(f"{m.context}\x04" if m.context else "") + m.id: m.string for m in catalog if m.id and m.string}
    ours = read_catalog(catalog_path(locale))
    assert {k: v for k, v in ours.items() if k} == babel
    assert "charset=UTF-8" in ours[""]


def test_fuzzy_obsolete_untranslated_plural_and_escaped_entries(tmp_path: Path) -> None:
    po = tmp_path / "x.po"
    po.write_text('msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n'
                  '"Plural-Forms: nplurals=1; plural=0;\\n"\n\n'
                  '#, fuzzy\nmsgid "guess"\nmsgstr "猜"\n\n'
                  '#~ msgid "gone"\n#~ msgstr "走了"\n\n'
                  'msgid "empty"\nmsgstr ""\n\n'
                  'msgid "one file"\nmsgid_plural "{n} files"\nmsgstr[0] "{n} 个文件"\n\n'
                  'msgctxt "tab"\nmsgid "a\\tb"\nmsgstr ""\n"第一行\\n"\n"第二行 \\"引号\\""\n', encoding="utf-8")
    assert {k: v for k, v in read_catalog(po).items() if k} == {
        "one file\0{n} files": "{n} 个文件", "tab\x04a\tb": '第一行\n第二行 "引号"'}
    texts = compile_catalog(po)
    assert texts.ngettext("one file", "{n} files", 3) == "{n} 个文件"
    assert texts.pgettext("tab", "a\tb") == '第一行\n第二行 "引号"'
    assert (texts.gettext("guess"), texts.gettext("empty")) == ("guess", "empty")  # English where not translated


@pytest.mark.parametrize(("text", "error"), [
    ('msgid "a"\nmsgstr "b\n', r"x\.po:2: not a quoted string"),
    ('msgid "a"\nmsgstr "b \\q"\n', r"x\.po:2: an unknown escape \\q"),
    ('msgid "a"\nmsgtext "b"\n', r"x\.po:2: 'msgtext' is not a PO keyword"),
    ('"stray"\n', r"x\.po:1: a string that continues nothing"),
])
def test_a_broken_catalog_names_the_file_and_line(tmp_path: Path, text: str, error: str) -> None:
    po = tmp_path / "x.po"
    po.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError, match=error):
        read_catalog(po)
