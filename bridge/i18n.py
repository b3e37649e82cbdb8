"""The texts the bridge itself composes for people, in the configured `locale` (gettext catalogs).

The message ids are the English texts, so `en` needs no catalog: a missing translation shows
the English one, never an empty line. Each other language has one catalog,
`bridge/locales/<ll_CC>/LC_MESSAGES/bridge.po`, edited with any gettext tool (Poedit, Weblate).

The `.po` is compiled into gettext's binary form in memory when a locale is first asked for
(`read_catalog` reads it, the standard library's `gettext` looks messages up). The package ships
only the file translators edit, so no compiled `.mo` can go stale beside it, and an editable
install and a wheel behave alike. Reading it takes a few milliseconds, once per process and
locale. The reader is ours, not babel's: babel cost a Chinese bridge ~7 MB and ~0.1 s at start-up
(issue 28) for one small file; the tests check both read the catalogs alike.

What goes through here: the digest header and the long-text part marker (config defaults),
the `duration` and `localtime` filters, the login picture's captions and the Home Assistant
names. What does not: delivery report `error` sentences, which automations match on (README,
"Delivery reports"), and log lines, which are for whoever reads the logs with a search engine.

Placeholders are `str.format` fields (`{count}`); a translation must keep the same field names,
which tests/unit/test_i18n.py checks together with "every message the code asks for is there".
"""

from __future__ import annotations

import functools
import gettext
import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

#: Every locale the bridge speaks; `en` is the default and the source language.
Locale = Literal["en", "zh-CN"]
LOCALES: tuple[str, ...] = get_args(Locale)
DEFAULT_LOCALE: Locale = "en"
CATALOG_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "bridge"

#: Spellings people write for a locale (any case; `_` or `-`) -> the one the bridge uses.
_ALIASES = {"en": "en", "en-us": "en", "en-gb": "en", "zh": "zh-CN", "zh-cn": "zh-CN", "zh-hans": "zh-CN",
            "zh-hans-cn": "zh-CN"}


def normalize_locale(value: object) -> object:
    """`zh_CN`, `zh-cn`, `zh` -> `zh-CN`; anything else is left for the validator to refuse."""
    if isinstance(value, str):
        return _ALIASES.get(value.strip().lower().replace("_", "-"), value)
    return value


def catalog_path(locale: str) -> Path:
    """Where the catalog of `locale` lives: gettext's own layout (`zh-CN` -> `zh_CN`)."""
    return CATALOG_DIR / locale.replace("-", "_") / "LC_MESSAGES" / f"{DOMAIN}.po"


@dataclass(frozen=True, slots=True)
class Texts:
    """The bridge's texts in one locale; `gettext`/`pgettext` as the standard library names them."""

    locale: str
    translations: gettext.NullTranslations

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def pgettext(self, context: str, message: str) -> str:
        """`message` where the same English text could mean something else elsewhere (`context`)."""
        return self.translations.pgettext(context, message)


def compile_catalog(path: Path) -> gettext.GNUTranslations:
    """A `.po` file as gettext translations, compiled in memory."""
    return gettext.GNUTranslations(io.BytesIO(mo_bytes(read_catalog(path))))


class CatalogError(ValueError):
    """A `.po` file the bridge cannot read; the message names the file and line."""


#: The escapes a PO string may use (those of C, as GNU gettext writes them).
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v", '"': '"', "\\": "\\"}
_KEYWORDS = ("msgctxt", "msgid_plural", "msgid", "msgstr")


def read_catalog(path: Path) -> dict[str, str]:
    """The translated messages of a `.po` file, keyed as gettext keys them (`context\x04id`; a plural's
    id and translations joined by NUL), the header under "". Untranslated, fuzzy and obsolete
    entries are left out, as msgfmt and babel leave them out."""
    found: dict[str, str] = {}
    entry: dict[str, str] = {}
    fuzzy = False
    last = ""

    def finish() -> None:
        nonlocal entry, fuzzy
        if "msgid" in entry:
            key = entry["msgid"] + (f"\0{entry['msgid_plural']}" if "msgid_plural" in entry else "")
            if "msgctxt" in entry:
                key = f"{entry['msgctxt']}\x04{key}"
            strings = [entry[k] for k in sorted(k for k in entry if k.startswith("msgstr"))]
            if any(strings) and (not fuzzy or key == ""):
                found[key] = "\0".join(strings)
        entry, fuzzy = {}, False

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        where = f"{path}:{number}"
        if not line:
            finish()
        elif line.startswith("#"):
            fuzzy = fuzzy or (line.startswith("#,") and "fuzzy" in line)
        elif line.startswith('"'):
            if not last:
                raise CatalogError(f"{where}: a string that continues nothing")
            entry[last] += _unquote(line, where)
        else:
            keyword, _, rest = line.partition(" ")
            name = keyword.split("[", 1)[0]
            if name not in _KEYWORDS:
                raise CatalogError(f"{where}: {keyword!r} is not a PO keyword")
            if name in ("msgctxt", "msgid") and any(k.startswith("msgstr") for k in entry):
                finish()
            last = keyword if name != "msgstr" or "[" in keyword else "msgstr[0]"
            entry[last] = _unquote(rest.strip(), where)
    finish()
    header = found.get("", "")
    if "charset=" in header and "charset=utf-8" not in header.lower():
        raise CatalogError(f"{path}: the catalog must be UTF-8 (its header says otherwise)")
    return found


def _unquote(text: str, where: str) -> str:
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise CatalogError(f"{where}: not a quoted string: {text[:40]}")
    body, out, i = text[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            i += 1
            if body[i:i + 1] not in _ESCAPES:
                raise CatalogError(f"{where}: an unknown escape \\{body[i:i + 1]}")
            char = _ESCAPES[body[i]]
        elif char == '"':
            raise CatalogError(f"{where}: a quote inside a string must be written \\\"")
        out.append(char)
        i += 1
    return "".join(out)


def mo_bytes(messages: dict[str, str]) -> bytes:
    """The messages in gettext's binary `.mo` layout (as CPython's Tools/i18n/msgfmt.py writes it)."""
    keys = sorted(messages)
    ids, strs, table = b"", b"", []
    for key in keys:
        key_bytes, value_bytes = key.encode(), messages[key].encode()
        table.append((len(ids), len(key_bytes), len(strs), len(value_bytes)))
        ids += key_bytes + b"\0"
        strs += value_bytes + b"\0"
    key_start = 7 * 4 + 16 * len(keys)
    value_start = key_start + len(ids)
    key_offsets = [n for id_at, id_len, _, _ in table for n in (id_len, id_at + key_start)]
    value_offsets = [n for _, _, str_at, str_len in table for n in (str_len, str_at + value_start)]
    head = struct.pack("<7I", 0x950412DE, 0, len(keys), 7 * 4, 7 * 4 + 8 * len(keys), 0, 0)
    return head + struct.pack(f"<{len(key_offsets) + len(value_offsets)}I", *key_offsets, *value_offsets) + ids + strs


#: The source language: every message id as it is.
ENGLISH = Texts(DEFAULT_LOCALE, gettext.NullTranslations())


def N_(message: str) -> str:
    """`message` marked for the catalog, translated later where the locale is known.

    gettext's own name for `gettext_noop`, which babel extracts by default.
    """
    return message


# A cache of immutable values keyed by locale, not state: a reload asks again and gets the same catalog.
@functools.cache
def texts_for(locale: str) -> Texts:
    """The texts of `locale` (one of `LOCALES`)."""
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r}: the bridge speaks {', '.join(LOCALES)}")
    if locale == DEFAULT_LOCALE:
        return ENGLISH
    return Texts(locale, compile_catalog(catalog_path(locale)))
