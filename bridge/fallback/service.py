"""The fallback as one extension: `run()` (the app's task "fallback"), `stop()`, and `on_login`.

The loop: raise the outage alert or reminder that is due (`bridge.fallback.OutageWatch`), plan
the sends of deliveries that need one (`priority: high` not delivered within `priority_after`,
`failed` ones with `also_on_failed`; `fallback: always` ones were planned as they were stored),
then claim the oldest send due and send it through every URL (`bridge.fallback.apprise`). One
send at a time, its claim committed before it starts and its outcome after, as for WeChat: a
restart resumes what was pending and sends what was under way again at most once.

`on_login` is called by the WeChat side for every login state, before the rooms are resolved and
the waiting deliveries go out, so the "back" message counts what was waiting. The loop never
blocks the WeChat deliveries: it has its own task, and the outbox thread serves both.
A finished send of a delivery nudges the reporter: that delivery's report was waiting for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from bridge.chat import LoginState
from bridge.config.models import FallbackSettings
from bridge.delivery.ports import Clock, OutboxThread, Store, SystemClock
from bridge.fallback.rules import (
    IN_DOUBT_TWICE,
    STOPPED_DURING_SEND,
    OutageChange,
    OutageWatch,
    alert,
    delivery_message,
    gave_up,
    retry_at,
)
from bridge.i18n import Texts, texts_for
from bridge.outbox.fallback_records import FallbackSend, Notified
from bridge.outbox.sending import MAX_DOUBTS
from bridge.outbox.store import Outbox
from bridge.pipeline.runtime import LiveRuntime
from bridge.tasks import wake_loop

log = logging.getLogger(__name__)

#: The longest sleep: escalations are planned from the outbox, which other tasks fill.
PLAN_SECONDS = 1.0
#: How long before an alert, escalation or retry is due the notifier loads what it sends with
#: (Apprise, a second or more on a small machine), so that the send itself is not late by that.
PREPARE_AHEAD_SECONDS = 60.0
#: The shortest: a wake-up computed a hair early must not spin.
MIN_SLEEP_SECONDS = 0.01

#: Publishes a `<base>/bridge/event` (`bridge.status.BridgeStatus.event`).
EventSink = Callable[[str, dict[str, Any]], Awaitable[None]]


class Notifier(Protocol):
    """Every fallback URL (`bridge.fallback.apprise.AppriseNotifier`); never raises for a failed service."""

    @property
    def schemes(self) -> tuple[str, ...]: ...

    async def prepare(self) -> None:
        """Load what sending needs, ahead of a send that is due soon; never raises."""

    async def send(self, title: str, body: str, *, picture: bytes | None = None) -> Notified: ...


class FallbackService:
    def __init__(self, settings: FallbackSettings, *, store: OutboxThread, live: LiveRuntime,
                 notifier: Notifier | None, on_finished: Callable[[], None], event: EventSink | None = None,
                 clock: Clock | None = None) -> None:
        self._settings = settings
        self._store = Store(store)
        self._live = live
        self._notifier = notifier
        self._on_finished = on_finished
        self._event = event
        self._clock = clock or SystemClock()
        self._texts: Texts = texts_for(live.current.config.locale)
        self._watch: OutageWatch | None = None
        self._preparing: asyncio.Task[None] | None = None
        self._state: LoginState | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stopping = False
        self._stopped = asyncio.Event()

    @property
    def enabled(self) -> bool:
        return self._notifier is not None

    def nudge(self) -> None:
        """Deliveries were stored or finished: plan and send now rather than at the next tick."""
        self._wake.set()

    async def stop(self) -> None:
        """Finish the send under way, if any, and start no other."""
        self._stopping = True
        self._wake.set()
        if self._preparing is not None:
            self._preparing.cancel()
        if self.enabled:
            await self._stopped.wait()

    async def on_login(self, state: LoginState) -> None:
        """The account's login state, each time it changes; never raises into the WeChat side."""
        self._state = state
        if self._watch is None:
            return  # `start` applies the latest state once the stored outage is read
        try:
            await self._apply(lambda watch, now: watch.login(state, now))
        except Exception:  # a bug here must not stop the WeChat side from resolving rooms
            log.exception("fallback: the login state %s could not be applied", state.state)

    async def run(self) -> None:
        if self._notifier is None:
            return
        try:
            await self.start()
            notifier = self._notifier

            async def step() -> float | None:
                return 0 if await self.step(notifier) else await self._sleep()

            # One broken extension is logged (`unexpected`); it must not stop the bridge.
            await wake_loop(step, wake=self._wake, what="fallback", log=log, retry_after=PLAN_SECONDS,
                            unexpected=True, wait=self._clock.wait, running=lambda: not self._stopping)
        finally:
            self._stopped.set()

    async def start(self) -> None:
        """Resume: the sends under way at the last stop (one doubt more each), the stored outage."""
        now = self._clock.now()
        for send in await self._store.call(Outbox.recover_fallback, now, max_doubts=MAX_DOUBTS,
                                           given_up=IN_DOUBT_TWICE, stopped=STOPPED_DURING_SEND):
            log.warning("fallback: %s was being sent when the bridge stopped: %s", _name(send),
                        "not sent again, it ends failed" if send.status == "failed" else "sending it again once")
            if send.status == "failed" and send.seq is not None:
                self._on_finished()
        settings = self._settings
        self._watch = OutageWatch(logout_after=settings.logout_after, remind_every=settings.remind_every,
                                  record=await self._store.call(Outbox.outage))
        # The state may have come before the stored outage was read; with none yet WeChat is away
        # too (still connecting), and that counts towards `logout_after` from now.
        state = self._state or LoginState("connecting")
        await self._apply(lambda watch, at: watch.login(state, at))
        log.info("fallback: ready, through %s", ", ".join(self._notifier.schemes if self._notifier else ()))

    async def step(self, notifier: Notifier) -> bool:
        """Raise what is due, plan, and send one; True when something was sent (look again at once)."""
        await self._apply(lambda watch, now: watch.due(now))
        settings = self._settings
        await self._store.call(Outbox.plan_fallback, self._clock.now(), priority_after=settings.priority_after,
                               forward_failed=settings.also_on_failed)
        send = await self._store.call(Outbox.claim_fallback, self._clock.now())
        if send is None:
            return False
        await self._send(notifier, send)
        return True

    async def _sleep(self) -> float:
        """Until the next alert, escalation or retry is due, at most `PLAN_SECONDS`."""
        now = self._clock.now()
        times = [await self._store.call(Outbox.next_fallback_attempt),
                 await self._store.call(Outbox.next_escalation, priority_after=self._settings.priority_after),
                 self._watch.next_due() if self._watch is not None else None]
        due = [t - now for t in times if t is not None]
        if due and min(due) <= PREPARE_AHEAD_SECONDS and self._preparing is None and self._notifier is not None:
            self._preparing = asyncio.create_task(self._notifier.prepare(), name="fallback-prepare")
        return max(min([PLAN_SECONDS, *due]), MIN_SLEEP_SECONDS)

    async def _apply(self, decide: Callable[[OutageWatch, float], OutageChange | None]) -> None:
        """Decide on the outage and store the decision with its alert, one decision at a time."""
        async with self._lock:
            watch = self._watch
            assert watch is not None
            now = self._clock.now()
            change = decide(watch, now)
            if change is None:
                return
            raised = None
            if change.alert is not None and change.about is not None:
                waiting = await self._store.call(Outbox.waiting_deliveries)
                raised = alert(change.alert, record=change.about, state=self._state or LoginState("connecting"),
                               waiting=waiting, now=now, texts=self._texts)
                log.warning("fallback: %s (%d deliveries waiting)", raised.title, waiting)
            await self._store.call(Outbox.save_outage, change.record, alert=raised)
        if raised is not None:
            self._wake.set()

    async def _send(self, notifier: Notifier, send: FallbackSend) -> None:
        title, body = (send.title or "", send.body) if send.seq is None else delivery_message(
            send, self._room_name(send.room_key), self._texts)
        notified = await notifier.send(title, body, picture=send.attachment)
        now = self._clock.now()
        finished = True
        if notified.via:
            await self._store.call(Outbox.fallback_sent, send.id, now=now, via=notified.via)
            log.info("fallback: %s sent through %s%s", _name(send), ", ".join(notified.via),
                     f" (not through {', '.join(notified.failed)})" if notified.failed else "")
        else:
            error = f"every fallback URL failed ({', '.join(notified.failed)})"
            if notified.in_doubt:
                error += "; a time-out: it may have arrived"
            at = retry_at(send, in_doubt=notified.in_doubt, retry=self._settings.retry, now=now)
            finished = at is None
            final = error if at is not None else gave_up(send.tries + 1, error)
            await self._store.call(Outbox.fallback_not_sent, send.id, now=now, error=final,
                                   in_doubt=notified.in_doubt, retry_at=at)
            if at is not None:
                log.warning("fallback: %s: try %d: %s; trying again in %.1f s", _name(send), send.tries + 1, error,
                            at - now)
            else:
                log.error("fallback: %s failed: %s", _name(send), final)
        if finished:
            if send.seq is not None:
                self._on_finished()
            await self._announce(send, notified.via)

    async def _announce(self, send: FallbackSend, via: Sequence[str]) -> None:
        """The `fallback` event on `<base>/bridge/event`: Home Assistant and automations see it too."""
        if self._event is None:
            return
        data: dict[str, Any] = {"kind": send.kind, "status": "sent" if via else "failed", "via": list(via)}
        if send.event_id is not None:
            data |= {"id": send.event_id, "route": send.route, "room": send.room_key}
        await self._event("fallback", data)

    def _room_name(self, key: str | None) -> str:
        room = self._live.current.rooms.get(key or "")
        return room.topic if room is not None and room.topic else (key or "?")


def _name(send: FallbackSend) -> str:
    """How log lines name a send: never its text (logs at info are not the place for it)."""
    if send.event_id is not None:
        return f"{send.kind} send of delivery {send.event_id} to room {send.room_key!r}"
    return f"the {send.kind} alert"
