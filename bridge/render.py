"""What the `render` command prints for one message: matching routes, `when`, the text per room, rejections.

The status page's route tester shows the same lines, from the same running runtime: one wording,
so what a user tries on the page and at the command line can never disagree.
"""

from __future__ import annotations

import textwrap
import time

from bridge import pipeline
from bridge.events import InboundMessage, Planned, Queued
from bridge.runtime import Runtime


def render_lines(runtime: Runtime, *, topic: str, payload: str, retained: bool = False) -> list[str]:
    """The lines `render` prints for `payload` on `topic`, without a broker or WeChat."""
    message = InboundMessage(topic, payload.encode(), retained, time.time())

    def show(outcome: Planned) -> str:
        room_key = outcome.delivery.room_key if isinstance(outcome, Queued) else outcome.room_key
        room = runtime.rooms.get(room_key)
        where = f" (room {room.describe()})" if room else ""
        if isinstance(outcome, Queued):
            return f"  -> {room_key}{where}:\n{textwrap.indent(outcome.delivery.text, '       ')}"
        return f"  -> {room_key}{where}: rejected: {outcome.error}"

    key = runtime.topics.direct_send_key(topic)
    if key is not None:
        return [f"direct send to room key {key!r}",
                *(show(outcome) for outcome in pipeline.plan(runtime, message).outcomes)]
    traces = pipeline.trace(runtime, message)
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
        lines.extend(show(outcome) for outcome in trace.outcomes)
    return lines
