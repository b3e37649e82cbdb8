"""The texts the bridge itself composes for people, in the configured `locale` (gettext catalogs).

The message ids are the English texts, so `en` needs no catalog: a missing translation shows
the English one, never an empty line. Each other language has one catalog,
`bridge/locales/<ll_CC>/LC_MESSAGES/bridge.po`, edited with any gettext tool (Poedit, Weblate).

The `.po` is compiled into gettext's binary form in memory when a locale is first asked for
(babel reads it, the standard library's `gettext` looks messages up). The package ships only
the file translators edit, so no compiled `.mo` can go stale beside it, and an editable install
and a wheel behave alike. Parsing it takes a few milliseconds, once per process and locale.

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
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with path.open("rb") as po:
        catalog = read_po(po, abort_invalid=True)
    mo = io.BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    return gettext.GNUTranslations(mo)


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
