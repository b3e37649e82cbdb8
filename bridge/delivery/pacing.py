"""How fast the bridge speaks to WeChat, and how long one message may be (pure, injected clock).

A WeChat account that sends faster than a person would gets restricted or banned, while MQTT
producers may publish hundreds of events a minute. The outbox swallows any burst; this module
decides when the next send may start:

    global bucket   `global_limit` sends per `period` over all rooms
    room buckets    `room_limit` sends per `period` into each room
    gap             at least `min_gap` + a random 0..`jitter` after the end of the previous send

Each bucket holds up to its limit and refills evenly over the period, so a quiet bridge can
send a handful at once and a busy one settles at limit/period. Pacing delays; it never drops.
Times are seconds on whatever clock the caller passes; the worker passes a monotonic one
(`time.monotonic()`), so a wall clock set back or forward neither stalls nor bursts the sends.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bridge.config.models import DigestSettings, PacingSettings


@dataclass(frozen=True, slots=True)
class Pace:
    """What pacing allows at one moment (`Pacer.pace`)."""

    #: False: the gap or the global bucket holds every send back; claim nothing.
    claim: bool
    #: Rooms whose own bucket is empty: their rows stay in the outbox while other rooms' go out.
    blocked: tuple[str, ...] = ()
    #: When (on the pacer's clock) the hold ends: all of it (`claim` False), or the first blocked room's.
    until: float | None = None


#: Claim nothing, with no pacing deadline: WeChat is not ready, so nothing would be sent anyway.
CLOSED = Pace(claim=False)


@dataclass(slots=True)
class TokenBucket:
    """`capacity` tokens at most, refilled at `rate` per second; a send takes one."""

    capacity: float
    rate: float
    tokens: float = field(default=-1.0)
    updated: float | None = None

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    def _refill(self, now: float) -> None:
        if self.updated is not None and now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        if self.updated is None or now > self.updated:
            self.updated = now

    def wait(self, now: float) -> float:
        """Seconds until a token is there (0: now)."""
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1  # may go below zero when a caller sends anyway; the debt is paid by waiting


class Pacer:
    """When the next send may start: `wait(room, now)`; after each send: `sent(room, now)`."""

    def __init__(self, settings: PacingSettings, *, rng: random.Random | None = None) -> None:
        self.settings = settings
        self._rng = rng or random.Random()
        rate = settings.global_limit / settings.period
        self._global = TokenBucket(settings.global_limit, rate)
        self._rooms: dict[str, TokenBucket] = {}
        self._not_before = float("-inf")

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def _room(self, room: str) -> TokenBucket:
        bucket = self._rooms.get(room)
        if bucket is None:
            s = self.settings
            bucket = self._rooms[room] = TokenBucket(s.room_limit, s.room_limit / s.period)
        return bucket

    def global_wait(self, now: float) -> float:
        """Seconds before any send may start (the gap and the global bucket)."""
        if not self.enabled:
            return 0.0
        return max(self._not_before - now, self._global.wait(now), 0.0)

    def room_wait(self, room: str, now: float) -> float:
        """Seconds before a send into `room` may start, its own bucket only."""
        if not self.enabled:
            return 0.0
        return self._room(room).wait(now)

    def wait(self, room: str, now: float) -> float:
        return max(self.global_wait(now), self.room_wait(room, now))

    def blocked_rooms(self, rooms: Iterable[str], now: float) -> Mapping[str, float]:
        """Of `rooms`, those whose bucket is empty now, with the seconds until it is not."""
        waits = {room: self.room_wait(room, now) for room in rooms}
        return {room: w for room, w in waits.items() if w > 0}

    def pace(self, now: float) -> Pace:
        """What may be claimed at `now`: nothing while the gap or the global bucket says wait,
        else everything but the rooms whose bucket is empty."""
        pause = self.global_wait(now)
        if pause > 0:
            return Pace(claim=False, until=now + pause)
        waits = self.blocked_rooms(self._rooms, now)
        return Pace(claim=True, blocked=tuple(waits), until=now + min(waits.values()) if waits else None)

    def sent(self, room: str, now: float) -> None:
        """A send into `room` ended at `now`: take the tokens, start the gap."""
        if not self.enabled:
            return
        self._global.take(now)
        self._room(room).take(now)
        s = self.settings
        self._not_before = now + s.min_gap + (self._rng.uniform(0, s.jitter) if s.jitter else 0.0)


# --------------------------------------------------------------------------- length
#
# Lengths are counted as WeChat's apps and the gateway (JavaScript) count them: UTF-16 code units.
# A Chinese character or a Latin letter is 1, most emoji 2, a family emoji such as 👨‍👩‍👧 8. That is
# never less than Python's count of code points, so a part within the limit here is within it there.
# Cuts fall between grapheme clusters only (`\X`): a surrogate pair, a letter with its combining
# marks, a flag or an emoji ZWJ sequence is never cut in two.

_LINE_BREAKS = frozenset({"\n", "\r\n"})
#: Where a part may end, best first: a line break; the end of a Chinese sentence; a space or a
#: Chinese clause mark. Breaks (line, space) are dropped, punctuation stays with its sentence.
_SENTENCE_ENDS = frozenset("。！？")
_CLAUSE_MARKS = frozenset("；，")
#: Closing quotes and brackets that belong with the sentence end before them (。” stays together).
_CLOSERS = frozenset("”’」』）》】〕")


def _graphemes(text: str) -> list[str]:
    # `regex` (the one engine with `\X`) is loaded at the first text too long for one message: ~2 MB
    # that most bridges never need.
    import regex

    found: list[str] = regex.findall(r"\X", text)
    return found


def wechat_len(text: str) -> int:
    """The length of `text` in UTF-16 code units, the unit of `pacing.max_text_chars`."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int, marker: str = "({index}/{total}) ") -> list[str]:
    """`text` as parts WeChat accepts: itself when it fits, else numbered parts of <= `limit`.

    Each part ends at the best place within the limit: a line break, else a Chinese sentence end
    (。！？), else a space or a Chinese clause mark (；，); a better kind of place wins when it
    leaves the part at least half full. One long word is cut hard, between grapheme clusters.
    The marker (`(i/n) `, `（i/n）` in zh-CN) counts toward the limit. Lengths: `wechat_len`.
    """
    if wechat_len(text) <= limit:
        return [text]
    # The marker's width depends on the number of parts; grow the estimate until it is stable.
    digits = 1
    while True:
        widest = int("9" * digits)
        pieces = _cut(text, max(limit - wechat_len(marker.format(index=widest, total=widest)), 1))
        if len(str(len(pieces))) <= digits:
            break
        digits += 1
    total = len(pieces)
    return [marker.format(index=index, total=total) + piece for index, piece in enumerate(pieces, 1)]


def _cut(text: str, size: int) -> list[str]:
    clusters: list[str] = _graphemes(text)
    widths = [wechat_len(c) for c in clusters]
    pieces: list[str] = []
    start = 0
    while start < len(clusters):
        end, width = start, 0
        while end < len(clusters) and width + widths[end] <= size:
            width += widths[end]
            end += 1
        end = max(end, start + 1)  # a cluster wider than a whole part (a tiny limit) still goes
        if end == len(clusters):
            rest = "".join(clusters[start:])
            if rest.strip() or not pieces:
                pieces.append(rest)
            break
        stop, resume = _best_cut(clusters, start, end)
        piece = "".join(clusters[start:stop])
        pieces.append(piece.rstrip() if resume > stop else piece)
        start = resume
        if resume > stop and clusters[stop] in _LINE_BREAKS:  # one line break dropped: blank lines too
            while start < len(clusters) and clusters[start] in _LINE_BREAKS:
                start += 1
        else:
            while start < len(clusters) and clusters[start].isspace() and clusters[start] not in _LINE_BREAKS:
                start += 1
    return [p for p in pieces if p] or [text]


def _best_cut(clusters: list[str], start: int, end: int) -> tuple[int, int]:
    """(where the part stops, where the next one starts) for clusters[start:end], which fit.

    A break (line, space) may sit just past the window, at `end`: it is dropped, so the part fits.
    """
    lines: list[tuple[int, int]] = []
    sentences: list[tuple[int, int]] = []
    spaces: list[tuple[int, int]] = []
    for index in range(start + 1, min(end + 1, len(clusters))):
        cluster = clusters[index]
        if cluster in _LINE_BREAKS:
            lines.append((index, index + 1))
        elif cluster.isspace():
            spaces.append((index, index + 1))
        elif index < end and (cluster in _SENTENCE_ENDS or cluster in _CLAUSE_MARKS):
            after = index + 1
            while cluster in _SENTENCE_ENDS and after < end and clusters[after] in _CLOSERS:
                after += 1
            (sentences if cluster in _SENTENCE_ENDS else spaces).append((after, after))
    half = start + (end - start) // 2
    for kind in (lines, sentences, spaces):
        if kind and kind[-1][0] >= half:
            return kind[-1]
    found = max((kind[-1] for kind in (lines, sentences, spaces) if kind), default=None)
    return found if found is not None else (end, end)  # one long word: cut hard at the limit


# --------------------------------------------------------------------------- digest


def format_digest(texts: Sequence[str], settings: DigestSettings) -> str:
    """One message for `texts`: the header with `{count}` (none when empty), then one item line per text."""
    header = [settings.header.replace("{count}", str(len(texts)))] if settings.header else []
    return "\n".join([*header, *(settings.item.replace("{text}", text) for text in texts)])


def digest_fit(texts: Sequence[str], settings: DigestSettings, max_chars: int) -> int:
    """How many of `texts`, from the first, make one digest of at most `max_items` items and
    `max_chars` characters, counted by `wechat_len` (0: not even the first fits)."""
    fit = 0
    for count in range(1, min(len(texts), settings.max_items) + 1):
        if wechat_len(format_digest(texts[:count], settings)) > max_chars:
            break
        fit = count
    return fit
