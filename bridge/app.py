"""The composition root: builds every stage from the config and runs the bridge's lifecycle.

Start: open the outbox (deliveries left pending resume; reports not yet published go out),
then connect to the broker and to the WeChat gateway side by side; each reconnects on its own.
Data flow: MQTT -> intake -> outbox (commit, then PUBACK) -> delivery worker -> WeChat;
finished rows -> reporter -> <base>/bridge/delivery.
Login: resolve the configured rooms, then let queued deliveries go out.
Shutdown (SIGTERM/SIGINT): stop intake (store and acknowledge what was taken, leave the rest to
the broker), let the send in progress finish, publish the reports that are ready, publish
`offline`, close both connections, close the database.
Only this module starts tasks, and every task it starts is named.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable

from bridge.config import Config
from bridge.delivery import DeliveryWorker
from bridge.errors import SendError
from bridge.events import DeliveryReport, InboundMessage
from bridge.housekeeping import Housekeeping
from bridge.intake import Intake
from bridge.mqtt import Acknowledge, MqttSession
from bridge.outbox import Outbox, OutboxRunner, OutboxStats
from bridge.pipeline import Pipeline
from bridge.policy import delivery_policies
from bridge.reporter import Reporter
from bridge.reports import delivery_publication, state_publication
from bridge.rooms import RoomDirectory
from bridge.routing import Router, compile_routes
from bridge.templates import TemplateEngine
from bridge.wechat import LoginState, RoomChange, WeChatClient, WeChatEvent

log = logging.getLogger(__name__)

#: How long shutdown waits for the `offline` state to reach the broker.
SHUTDOWN_PUBLISH_SECONDS = 3.0
#: How long shutdown waits for the messages already taken in to be stored and acknowledged.
SHUTDOWN_INTAKE_SECONDS = 5.0
#: How long shutdown waits for finished deliveries' reports; the rest go out at the next start.
SHUTDOWN_REPORTS_SECONDS = 3.0
ROOM_REFRESH_RETRY_SECONDS = 2.0


class Bridge:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.topics = config.topics
        routes = compile_routes(config, TemplateEngine())
        router = Router(routes)
        self.pipeline = Pipeline(router=router, topics=self.topics, room_keys=config.rooms.keys(),
                                 max_payload_bytes=config.limits.max_payload_bytes)
        self.store = OutboxRunner(config.outbox.path, idempotency_window=config.outbox.idempotency_window,
                                  max_pending=config.limits.max_queued)
        self.directory = RoomDirectory(config.rooms)
        self.rooms_ready = asyncio.Event()
        token = config.wechaty.token.get_secret_value() if config.wechaty.token else ""
        self.wechat = WeChatClient(endpoint=config.wechaty.endpoint, token=token,
                                   send_timeout=config.wechaty.send_timeout, on_event=self._on_wechat_event)
        self.mqtt = MqttSession(
            config.mqtt,
            subscriptions=[*router.subscriptions, self.topics.send_filter],
            on_message=self._on_message,
            on_connect=self._on_mqtt_connect,
            will=state_publication(self.topics, "offline"),
        )
        self.reporter = Reporter(store=self.store, publish=self._publish_report)
        self.worker = DeliveryWorker(store=self.store, wechat=self.wechat, directory=self.directory,
                                     rooms_ready=self.rooms_ready, on_finished=self.reporter.nudge)
        self.intake = Intake(pipeline=self.pipeline, store=self.store,
                             policies=delivery_policies(config, routes),
                             max_payload_bytes=config.limits.max_payload_bytes, on_stored=self._on_stored)
        self.housekeeping = Housekeeping(store=self.store, keep_finished=config.outbox.keep_finished)
        self._refresh_lock = asyncio.Lock()

    async def outbox_stats(self) -> OutboxStats:
        """Depth, oldest age and counts per status of the outbox (for `bridge/info`, `health_check`)."""
        return await self.store.run(Outbox.stats, time.time())

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then shut down in order."""
        await self.store.open()
        try:
            for row in await self.store.run(Outbox.recover):
                log.warning("delivery %s to room %r was being sent when the bridge stopped: sending it again "
                            "(WeChat may show it twice)", row.event_id, row.room_key)
            await self.housekeeping.log_stats("at start-up")
            async with asyncio.TaskGroup() as group:
                tasks = {
                    name: group.create_task(coro, name=name) for name, coro in (
                        ("mqtt-session", self.mqtt.run()),
                        ("wechat-session", self.wechat.run()),
                        ("intake", self.intake.run()),
                        ("delivery-worker", self.worker.run()),
                        ("reporter", self.reporter.run()),
                        ("outbox-housekeeping", self.housekeeping.run()),
                    )
                }
                await stop.wait()
                await self._shutdown(tasks)
        finally:
            await self.store.close()
            log.info("outbox closed")

    async def _shutdown(self, tasks: dict[str, asyncio.Task[None]]) -> None:
        log.info("shutting down")
        steps: list[tuple[str, Callable[[], Awaitable[None]], float, tuple[str, ...]]] = [
            ("store the messages taken in", self.intake.close, SHUTDOWN_INTAKE_SECONDS, ("intake",)),
            ("finish the send in progress", self.worker.stop, self.config.wechaty.send_timeout + 1,
             ("delivery-worker",)),
            ("publish the reports", self._drain_reports, SHUTDOWN_REPORTS_SECONDS, ("reporter",)),
            ("publish offline", self._publish_offline, SHUTDOWN_PUBLISH_SECONDS, ()),
        ]
        for what, step, seconds, stopped_after in steps:
            try:
                async with asyncio.timeout(seconds):
                    await step()
            except TimeoutError:
                log.warning("shutdown: could not %s within %.0f s", what, seconds)
            for name in stopped_after:
                tasks[name].cancel()
        with contextlib.suppress(Exception):
            await self.housekeeping.log_stats("at shutdown")
        for task in tasks.values():
            task.cancel()

    async def _drain_reports(self) -> None:
        if self.mqtt.connected.is_set():
            await self.reporter.drain()

    async def _publish_offline(self) -> None:
        if not self.mqtt.connected.is_set():
            return
        await self.mqtt.publish(state_publication(self.topics, "offline"))
        await self.mqtt.flush()

    async def _on_mqtt_connect(self) -> None:
        await self.mqtt.publish(state_publication(self.topics, "online"))

    async def _on_message(self, message: InboundMessage, ack: Acknowledge) -> None:
        await self.intake.submit(message, ack)

    def _on_stored(self) -> None:
        self.worker.nudge()
        self.reporter.nudge()  # rejections are stored finished

    async def _publish_report(self, report: DeliveryReport) -> asyncio.Future[None]:
        return await self.mqtt.publish(delivery_publication(self.topics, report))

    async def _on_wechat_event(self, event: WeChatEvent) -> None:
        if isinstance(event, LoginState):
            if event.state == "logged_in":
                user = event.user.name if event.user else "?"
                log.info("WeChat logged in as %s", user)
                await self._refresh_rooms()
            else:
                self.rooms_ready.clear()
                log.info("WeChat %s%s", event.state, f": {event.reason}" if event.reason else "")
        elif isinstance(event, RoomChange):
            log.info("WeChat %s in room %s", event.kind, event.room_id)
            await self._refresh_rooms()

    async def _refresh_rooms(self) -> None:
        """Re-read the account's rooms and re-resolve every room key; retried until it works."""
        async with self._refresh_lock:
            while self.wechat.state.state == "logged_in":
                try:
                    rooms = await self.wechat.rooms()
                except SendError as exc:
                    log.warning("cannot read the room list: %s; retrying", exc)
                    await asyncio.sleep(ROOM_REFRESH_RETRY_SECONDS)
                    continue
                resolutions = self.directory.update(rooms)
                found = [key for key, r in resolutions.items() if r.room is not None]
                log.info("%d of %d configured rooms resolved (%d rooms in the account)",
                         len(found), len(resolutions), len(rooms))
                for resolution in resolutions.values():
                    if resolution.problem:
                        log.warning("%s", resolution.problem)
                self.rooms_ready.set()
                self.worker.nudge()
                return


async def run_until_signalled(config: Config) -> None:
    """Run the bridge until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bridge = Bridge(config)
    try:
        await bridge.run(stop)
    except* asyncio.CancelledError:
        pass
