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

A route's batch whose window ran out goes before anything else, as the one text it was composed
as (`Outbox.claim_batch`, `bridge.outbox.watches`), its rows delivered together like a digest's.

Quiet hours (`bridge.quiet_hours.QuietNow`): the normal rows of rooms inside their window are
not claimed (under `then: drop` they end `dropped` here, returned with the expired ones); once a
window has ended, what was due inside it goes first, as one digest whatever the threshold and
whether pacing is on or not, in the digest format (`pacing.digest`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bridge.config.models import DigestSettings
from bridge.delivery.pacing import Pace, digest_fit
from bridge.delivery.ports import Batch, Store
from bridge.outbox.records import Finish, OutboxRow
from bridge.outbox.store import Outbox
from bridge.pipeline.quiet_hours import QuietNow


@dataclass(frozen=True, slots=True)
class Taken:
    """What one claim found: the rows it finished (expired, or dropped by quiet hours: to report), and
    what to send, if anything."""

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

    def __init__(self, store: Store, *, digest: DigestPlan | None, release: DigestPlan | None = None) -> None:
        self._store = store
        self._digest = digest
        self._release = release

    async def __call__(self, now: float, pace: Pace, finish: Finish | None, quiet: QuietNow | None = None) -> Taken:
        # One trip to the outbox thread. Retried whole after an outbox error: every step in it is
        # safe to repeat (an outcome is committed only onto a row still pending, expiry and claims
        # only touch rows that are due and not marked).
        return await self._store.call(take, now, pace=pace, finish=finish, digest=self._digest,
                                      quiet=quiet or QuietNow(), release=self._release)


def take(box: Outbox, now: float, *, pace: Pace, finish: Finish | None, digest: DigestPlan | None,
         quiet: QuietNow | None = None, release: DigestPlan | None = None) -> Taken:
    """The claim on the outbox's thread (`Claim` runs it there; tests may call it on an `Outbox`)."""
    quiet = quiet or QuietNow()
    held = quiet.held
    if pace.claim:  # a route's flushed batch goes first, as the one message it was composed as
        gathered = box.claim_batch(now, skip_rooms=pace.blocked, held=held, finish=finish)
        if gathered is not None:
            finish = None  # committed with the claim
            if gathered.rows:
                return Taken(box.expire_due(now), Batch(gathered.rows, digest=True, text=gathered.text))
    if pace.claim and digest is None and not quiet.held and not quiet.released:
        expired, row = box.expire_and_claim(now, skip_rooms=pace.blocked, finish=finish)
        return Taken(expired, Batch((row,)) if row is not None else None)
    if finish is not None:
        box.finish(finish)
    expired = box.expire_due(now) + box.drop_quiet(now, quiet.dropping)
    if not pace.claim:
        return Taken(expired, None)
    plan = release or digest
    for room, ended in quiet.released.items():
        if plan is None or room in pace.blocked:
            continue
        folded = box.claim_digest(now, skip_rooms=pace.blocked, held=held, threshold=1,
                                  limit=plan.settings.max_items, fit=plan.fit, room=room, due_before=ended)
        if folded:
            return Taken(expired, Batch(tuple(folded), digest=True))
    if digest is not None:
        folded = box.claim_digest(now, skip_rooms=pace.blocked, held=held, threshold=digest.settings.threshold,
                                  limit=digest.settings.max_items, fit=digest.fit)
        if folded:
            return Taken(expired, Batch(tuple(folded), digest=True))
    row = box.claim(now, skip_rooms=pace.blocked, held=held)
    return Taken(expired, Batch((row,)) if row is not None else None)
