"""Texts cut to the length iLink's clients send (pure).

Tencent's channel declares `textChunkLimit: 4000` (src/channel.ts); the OpenClaw host cuts replies
there before sendmessage. That is a JavaScript string length, so UTF-16 code units: an emoji
outside the BMP counts 2. No limit of the server itself is documented; 4000 is the size known to go.
"""

from __future__ import annotations

#: `textChunkLimit` of src/channel.ts, in UTF-16 code units.
TEXT_LIMIT = 4000


def utf16_length(text: str) -> int:
    """The length JavaScript (and so Tencent's client) gives `text`."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """`text` in parts of at most `limit` UTF-16 units, cut after a newline or a space when one is near.

    A code point is never cut in two. Each part is one sendmessage, so each costs one of the budget.
    """
    if limit < 2:
        raise ValueError("limit must leave room for one character outside the BMP")
    parts: list[str] = []
    rest = text
    while utf16_length(rest) > limit:
        cut = _fit(rest, limit)
        # Prefer a line, then a word boundary in the last quarter of the part, so a cut reads well.
        floor = cut * 3 // 4
        for sep in ("\n", " "):
            at = rest.rfind(sep, floor, cut)
            if at > 0:
                cut = at + 1
                break
        parts.append(rest[:cut])
        rest = rest[cut:]
    if rest or not parts:
        parts.append(rest)
    return parts


def _fit(text: str, limit: int) -> int:
    """How many code points of `text` fit in `limit` UTF-16 units."""
    units = 0
    for index, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)
