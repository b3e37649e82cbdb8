"""The worker's claim: what to send next, taken from the outbox in one trip to its thread.

Each step: commit the last delivered outcome, if one waits (`finish`); expire what is past its
`expire_after`; then, when pacing allows (`Pace.claim`), take a digest or one row, leaving the
rows of the rooms pacing holds (`Pace.blocked`) where they are. A taken row is marked as being
sent, and that mark is committed before the send starts: a row found marked at start-up was being
sent when the bridge stopped, and is in doubt.

One commit per send: without digests the outcome is committed in the transaction that claims the
next row (`Outbox.claim(finish=...)`), or, with nothing to claim, on its own. With digests on, the
outcome is committed on its own first, then a digest is looked for: a digest claim marks several
rows and must not carry another row's outcome into that choice. Either way the outcome is on disk
when `take` returns, before anything more is sent, and before the caller announces it.

A digest is taken when more than `digest.threshold` plain normal-priority texts of one room are
due and the oldest due row is one of them (`Outbox.claim_digest`), as many as fit one message
(`bridge.pacing.digest_fit`); digests are folded only while pacing is on, as only pacing makes a
backlog.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bridge.config import DigestSettings
from bridge.delivery_types import Batch, Store
from bridge.outbox import Outbox
from bridge.outbox_records import Finish, OutboxRow
from bridge.pacing import Pace, digest_fit


@dataclass(frozen=True, slots=True)
class Taken:
    """What one claim found: the rows it expired (finished, to report), and what to send, if anything."""

    expired: list[OutboxRow]
    batch: Batch | None


@dataclass(frozen=True, slots=True)
class DigestPlan:
    """How backlogs fold; None when they do not (digest or pacing off)."""

    settings: DigestSettings
    max_chars: int

    def fit(self, texts: Sequence[str]) -> int:
        return digest_fit(texts, settings=self.settings, max_chars=self.max_chars)


class Claim:
    """`await claim(now, pace, finish)`: see the module docstring."""

    def __init__(self, store: Store, *, digest: DigestPlan | None) -> None:
        self._store = store
        self._digest = digest

    async def __call__(self, now: float, pace: Pace, finish: Finish | None) -> Taken:
        # One trip to the outbox thread. Retried whole after an outbox error: every step in it is
        # safe to repeat (an outcome is committed only onto a row still pending, expiry and claims
        # only touch rows that are due and not marked).
        return await self._store.call(take, now, pace=pace, finish=finish, digest=self._digest)


def take(box: Outbox, now: float, *, pace: Pace, finish: Finish | None, digest: DigestPlan | None) -> Taken:
    """The claim on the outbox's thread (`Claim` runs it there; tests may call it on an `Outbox`)."""
    if pace.claim and digest is None:
        expired, row = box.expire_and_claim(now, skip_rooms=pace.blocked, finish=finish)
        return Taken(expired, Batch((row,)) if row is not None else None)
    if finish is not None:
        box.finish(finish)
    expired = box.expire_due(now)
    if not pace.claim:
        return Taken(expired, None)
    assert digest is not None
    folded = box.claim_digest(now, skip_rooms=pace.blocked, threshold=digest.settings.threshold,
                              limit=digest.settings.max_items, fit=digest.fit)
    if folded:
        return Taken(expired, Batch(tuple(folded), digest=True))
    row = box.claim(now, skip_rooms=pace.blocked)
    return Taken(expired, Batch((row,)) if row is not None else None)
