"""What the `render` command prints for one message: matching routes, `when`, the text per room, rejections.

A route with state says what it would do with the event: whether its `changed` value is a change
against the value it is told was last seen (`last`, the `--last TEXT` of `render`) or against
nothing (the first event for its key), and whether `for` would arm a timer rather than send now.
A `silence` route shows the two messages it would send for the key (silent for the window, and
back after it); a `batch` route says that the event is gathered, and how the batch names it.

The status page's route tester shows the same lines, from the same running runtime: one wording,
so what a user tries on the page and at the command line can never disagree.
"""

from __future__ import annotations

import dataclasses
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping

from bridge.config.fields import format_duration
from bridge.events import HeldMessage, InboundMessage, Planned, Queued, StateMark
from bridge.outbox import admission
from bridge.outbox.records import LastValue
from bridge.pipeline import plan as pipeline
from bridge.pipeline.plan import RouteTrace
from bridge.pipeline.runtime import Runtime
from bridge.pipeline.watch import SilenceFiring, silence_message


def render_lines(runtime: Runtime, *, topic: str, payload: str, retained: bool = False,
                 last: str | None = None) -> list[str]:
    """The lines `render` prints for `payload` on `topic`, without a broker or WeChat.

    `last`: the `changed` value as last seen for the event's key (None: none seen yet)."""
    message = InboundMessage(topic=topic, payload=payload.encode(), retain=retained, received_at=time.time())

    def show(outcome: Planned) -> str:
        room_key = outcome.delivery.room_key if isinstance(outcome, Queued) else outcome.room_key
        room = runtime.rooms.get(room_key)
        where = f" (room {room.describe()})" if room else ""
        if isinstance(outcome, Queued):
            attachment = outcome.delivery.attachment
            shown = outcome.delivery.text
            if attachment is not None:
                source = attachment.url or attachment.path or f"{attachment.name}, the latest message kept on its topic"
                shown += f"\n[{attachment.kind}: {source}]"
            return f"  -> {room_key}{where}:\n{textwrap.indent(shown, '       ')}"
        return f"  -> {room_key}{where}: rejected: {outcome.error}"

    kind = runtime.topics.classify(topic)
    if kind.room_key is not None:
        return [f"direct send to room key {kind.room_key!r}",
                *(show(outcome) for outcome in pipeline.plan(runtime, message, kind).outcomes)]
    # Shown as if a message were kept on every topic a route attaches from (a Frigate snapshot).
    traces = pipeline.trace(runtime, message, _AnyImageKept())
    if not traces:
        hint = " (retained: only routes with `retained: true` act on it)" if retained else ""
        return [f"no route matches topic {topic!r}{hint}"]
    lines = []
    for trace in traces:
        route = trace.route
        lines.append(f"route {route.name!r} ({route.filter.text}) matches")
        if route.when is not None:
            verdict = {True: "true", False: "false: nothing is sent", None: "could not be evaluated"}[trace.when]
            lines.append(f"  when {route.when.source!r}: {verdict}")
        if trace.silence is not None:
            lines.extend(_silence_lines(runtime, trace, message, show))
            continue
        state = _state_lines(trace, last)
        lines.extend(state)
        if not state or not state[-1].endswith("nothing is sent"):
            if route.batch is not None and any(isinstance(o, Queued) for o in trace.outcomes):
                lines.extend(_batch_lines(trace))
            lines.extend(show(outcome) for outcome in trace.outcomes)
    return lines


class _AnyImageKept(Mapping[str, bytes]):
    """Every topic holds a (tiny) JPEG: `render` shows the message a kept snapshot would carry."""

    def __getitem__(self, topic: str) -> bytes:
        return b"\xff\xd8\xff\xe0"

    def __contains__(self, topic: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _silence_lines(runtime: Runtime, trace: RouteTrace, message: InboundMessage,
                   show: Callable[[Planned], str]) -> list[str]:
    """The key heard, and the silence and "back" messages it would send, rendered from this payload."""
    mark = trace.silence
    assert mark is not None
    window = format_duration(mark.silence)
    lines = [f"  key: {mark.key!r}",
             f"  silence {window}: heard: nothing is sent now; if nothing more comes for {window}, one message:"]
    held = HeldMessage(message.topic, message.payload, message.received_at)
    firing = SilenceFiring(route=mark.route, rooms=mark.rooms, message=held, silent=True,
                           silent_since=message.received_at, silent_for=mark.silence)
    lines.extend(show(o) for o in silence_message(runtime, firing, now=message.received_at + mark.silence) or ())
    if mark.back:
        lines.append(f"  back: when the key is heard again after a silence (here: after {window}), one message:")
        back = dataclasses.replace(firing, silent=False)
        lines.extend(show(o) for o in silence_message(runtime, back, now=message.received_at + mark.silence) or ())
    return lines


def _batch_lines(trace: RouteTrace) -> list[str]:
    batch = next(o.batch for o in trace.outcomes if isinstance(o, Queued) and o.batch is not None)
    early = f" (or as soon as {batch.count} events are in it)" if batch.count is not None else ""
    return [f"  batch {format_duration(batch.window)}{early}: gathered with the route's other events into one "
            f"message, as {batch.item!r}; alone in its batch it is sent as:"]


def _state_lines(trace: RouteTrace, last: str | None) -> list[str]:
    """What the route's `changed` and `for` make of the event; the last line ends "nothing is sent"
    when they hold it back."""
    mark, spec = trace.state, trace.route.state
    if spec is None or mark is None:
        return []
    lines = [f"  key: {mark.key!r}"]
    held_back = False
    if spec.changed is not None:
        lines.append(f"  changed {spec.changed.source!r}: {mark.value!r}" if mark.value is not None
                     else f"  changed {spec.changed.source!r}: cannot be rendered: nothing is remembered")
        if mark.value is not None:
            lines.append(_change_line(mark, last))
            held_back = admission.unchanged(mark, LastValue(last, 0.0) if last is not None else None) is not None
    if spec.hold is not None and trace.when is not None:
        hold = format_duration(spec.hold)
        if not trace.when:
            lines.append(f"  for {hold}: 'when' is false: a timer armed for key {mark.key!r} would be cancelled")
        elif not held_back:
            lines.append(f"  for {hold}: a timer would be armed for key {mark.key!r} (unless one is already): "
                         f"sent only if 'when' still holds {hold} later, rendered from the latest payload then")
    if held_back and trace.when is not False:
        lines[-1] += ": nothing is sent"
    return lines


def _change_line(mark: StateMark, last: str | None) -> str:
    verdict = admission.unchanged(mark, LastValue(last, 0.0) if last is not None else None)
    if last is None:
        against = "against nothing (no value seen yet for this key)"
        return f"    {against}: not a change (changed_initial: false)" if verdict else f"    {against}: a change"
    if verdict is not None:
        return f"    against the last value {last!r}: unchanged ({mark.label} is still {mark.value})"
    return f"    against the last value {last!r}: a change"
