"""Whether a planned delivery joins the queue, and the sentence a person reads when it does not (pure).

The outbox makes these decisions in the transaction that stores the event, so they survive a
restart and a burst is decided in arrival order; it hands what it found as a typed value
(`ThrottlePass`, the pending count, `Duplicate`) and this module says what that means:

- a route throttle: a scope another event passed less than its period ago drops the event
  (`dropped`); the other rooms of the event that passed pass too;
- the queue cap: at `limits.max_queued` undelivered deliveries a new one ends `rejected`
  (`queue_full`: the HTTP door answers 503);
- a duplicate: the log line saying why an event was not stored again;
- a route's `changed`: an event whose value is the one last seen for its key ends `dropped`
  (`unchanged: contact is still false`);
- a route's `for`: an event for a key whose condition already holds ends `dropped`; the event
  that armed a timer ends `dropped` when a `when`-false event cancels it.

Kept out of the outbox so storage stores and queries, and the words live beside the rule.
"""

from __future__ import annotations

from bridge.config.fields import format_duration
from bridge.events import DeliveryReport, Queued, RoomRef, StateMark, ThrottleMark
from bridge.outbox import endings
from bridge.outbox.records import Duplicate, Holding, LastValue, QueueFull, Throttled, ThrottlePass, Timer, Unchanged


def throttled(mark: ThrottleMark, last: ThrottlePass | None, event_id: str, now: float) -> Throttled | None:
    """Whether the scope of `mark` is closed to `event_id`: another event passed it and it is not over."""
    if last is not None and last.until > now and last.event_id != event_id:
        return Throttled(mark, last.passed_at)
    return None


def queue_full(pending: int, limit: int) -> QueueFull | None:
    return QueueFull(limit) if pending >= limit else None


def refusal(queued: Queued, verdict: Throttled | QueueFull, now: float) -> DeliveryReport:
    """The finished report of a delivery the outbox did not queue."""
    d = queued.delivery
    room = RoomRef(d.room_key)
    if isinstance(verdict, Throttled):
        error = (f"throttled: an event with key {verdict.mark.key!r} was let through {now - verdict.passed_at:.0f} s "
                 f"ago (route throttle {format_duration(verdict.mark.period)})")
        return DeliveryReport(id=d.event_id, status="dropped", route=d.route, topic=d.source_topic, room=room,
                              error=error, ts=now)
    error = f"the bridge already holds {verdict.limit} undelivered messages (limits.max_queued)"
    return DeliveryReport(id=d.event_id, status="rejected", route=d.route, topic=d.source_topic, room=room,
                          error=error, ts=now, reason="queue_full")


def duplicate_reason(duplicate: Duplicate, now: float) -> str:
    """Why a message was recognised as an event already stored."""
    ago = now - duplicate.accepted_at
    if duplicate.redelivered:
        return (f"the broker redelivered it (DUP) and an identical message stored {ago:.1f} s ago was never "
                "acknowledged")
    return f"its payload id was already accepted {ago:.1f} s ago"


def unchanged(mark: StateMark, last: LastValue | None) -> Unchanged | None:
    """Whether the event's `changed` value is no change for its key (None: it is one, or there is no value)."""
    if mark.value is None:
        return None
    if last is None:
        return None if mark.initial else Unchanged(mark, None)
    return Unchanged(mark, last) if last.value == mark.value else None


def state_refusal(queued: Queued, verdict: Unchanged | Holding, now: float) -> DeliveryReport:
    """The finished report of a delivery its route's `changed` or `for` held back."""
    d = queued.delivery
    since = None
    if isinstance(verdict, Unchanged):
        mark = verdict.mark
        if verdict.last is not None:
            error = f"unchanged: {mark.label} is still {mark.value}"
        else:
            error = (f"unchanged: {mark.label} is {mark.value}, the first value seen for {mark.key!r} "
                     "(changed_initial: false)")
    else:
        timer = verdict.timer
        since = timer.since
        hold = format_duration(timer.hold)
        if timer.fired_at is not None:
            error = (f"the condition holds since {endings.span(now - timer.since)} and was sent for already "
                     f"(for: {hold})")
        else:
            error = (f"the condition holds since {endings.span(now - timer.since)}: its timer (for: {hold}) "
                     f"was armed by event {timer.event_id}")
    return DeliveryReport(id=d.event_id, status="dropped", route=d.route, topic=d.source_topic,
                          room=RoomRef(d.room_key), error=error, ts=now,
                          condition_since=since)


def cancelled(timer: Timer, now: float) -> list[DeliveryReport]:
    """The reports of the event that armed `timer`, one per room, when `when` stopped holding first."""
    error = endings.condition_ended(held=now - timer.since, hold=timer.hold)
    return [DeliveryReport(id=timer.event_id, status="dropped", route=timer.route, topic=timer.message.topic,
                           room=RoomRef(key), error=error, ts=now,
                           condition_since=timer.since) for key in timer.rooms]
