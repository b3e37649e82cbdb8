"""What the `render` command prints for one message: matching routes, `when`, the text per room, rejections.

The status page's route tester shows the same lines, from the same running pipeline: one wording,
so what a user tries on the page and at the command line can never disagree.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Mapping

from bridge.config import RoomSettings
from bridge.events import Delivery, DeliveryReport, InboundMessage
from bridge.pipeline import Pipeline
from bridge.topics import Topics


def render_lines(pipeline: Pipeline, *, topics: Topics, rooms: Mapping[str, RoomSettings], topic: str,
                 payload: str, retained: bool = False) -> list[str]:
    """The lines `render` prints for `payload` on `topic`, without a broker or WeChat."""
    message = InboundMessage(topic, payload.encode(), retained, time.time())

    def show(outcome: Delivery | DeliveryReport) -> str:
        room = rooms.get(outcome.room.key if isinstance(outcome, DeliveryReport) else outcome.room_key)
        where = f" (room {room.describe()})" if room else ""
        if isinstance(outcome, Delivery):
            return f"  -> {outcome.room_key}{where}:\n{textwrap.indent(outcome.text, '       ')}"
        return f"  -> {outcome.room.key}{where}: rejected: {outcome.error}"

    key = topics.direct_send_key(topic)
    if key is not None:
        return [f"direct send to room key {key!r}", *(show(outcome) for outcome in pipeline.plan(message))]
    traces = pipeline.trace(message)
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
