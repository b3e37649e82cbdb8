"""The composition root: builds every stage from the config and runs the bridge's lifecycle.

Start: connect to the broker and to the WeChat gateway side by side; each reconnects on its own.
Login: resolve the configured rooms, then let queued deliveries go out.
Shutdown (SIGTERM/SIGINT): stop intake, publish `offline`, close both connections.
Only this module starts tasks, and every task it starts is named.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from bridge.config import Config
from bridge.delivery import DeliveryWorker
from bridge.errors import SendError
from bridge.events import Delivery, DeliveryReport, InboundMessage
from bridge.mqtt import MqttSession
from bridge.pipeline import Pipeline
from bridge.reports import delivery_publication, state_publication
from bridge.rooms import RoomDirectory
from bridge.routing import Router, compile_routes
from bridge.templates import TemplateEngine
from bridge.wechat import LoginState, RoomChange, WeChatClient, WeChatEvent

log = logging.getLogger(__name__)

#: How long shutdown waits for the `offline` state to reach the broker.
SHUTDOWN_PUBLISH_SECONDS = 3.0
ROOM_REFRESH_RETRY_SECONDS = 2.0


class Bridge:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.topics = config.topics
        router = Router(compile_routes(config, TemplateEngine()))
        self.pipeline = Pipeline(router=router, topics=self.topics, room_keys=config.rooms.keys(),
                                 max_payload_bytes=config.limits.max_payload_bytes)
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue(maxsize=config.limits.max_queued)
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
        self.worker = DeliveryWorker(queue=self.queue, wechat=self.wechat, directory=self.directory,
                                     rooms_ready=self.rooms_ready, report=self._report)
        self._refresh_lock = asyncio.Lock()

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then shut down in order."""
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(self.mqtt.run(), name="mqtt-session"),
                group.create_task(self.wechat.run(), name="wechat-session"),
                group.create_task(self.worker.run(), name="delivery-worker"),
            ]
            await stop.wait()
            log.info("shutting down")
            await self._publish_offline()
            for task in tasks:
                task.cancel()

    async def _publish_offline(self) -> None:
        if not self.mqtt.connected.is_set():
            return
        await self.mqtt.publish(state_publication(self.topics, "offline"))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SHUTDOWN_PUBLISH_SECONDS):
                await self.mqtt.flush()

    async def _on_mqtt_connect(self) -> None:
        await self.mqtt.publish(state_publication(self.topics, "online"))

    async def _on_message(self, message: InboundMessage) -> None:
        for outcome in self.pipeline.plan(message):
            if isinstance(outcome, DeliveryReport):
                log.info("rejected %s from %s: %s", outcome.id, outcome.topic, outcome.error)
                await self._report(outcome)
                continue
            try:
                self.queue.put_nowait(outcome)
            except asyncio.QueueFull:
                await self._report(DeliveryReport.rejected(
                    event_id=outcome.event_id, route=outcome.route, topic=outcome.source_topic,
                    room_key=outcome.room_key,
                    error=f"the bridge already holds {self.queue.maxsize} undelivered messages (limits.max_queued)",
                ))

    async def _report(self, report: DeliveryReport) -> None:
        await self.mqtt.publish(delivery_publication(self.topics, report))

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
