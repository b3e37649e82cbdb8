"""The composition root: builds every stage from the config and runs the bridge's lifecycle.

Start: open the outbox (deliveries left pending resume; reports not yet published go out),
then connect to the broker and to the WeChat gateway side by side; each reconnects on its own.
Data flow: MQTT -> intake -> outbox (commit, then PUBACK) -> delivery worker -> WeChat;
finished rows -> reporter -> <base>/bridge/delivery.
Broker connect: re-publish every retained status topic (state, login, rooms, info).
Login: resolve the configured rooms, then let queued deliveries go out (`bridge.wechat_events`).
WeChat away, a `priority: high` delivery late, one `failed`: the fallback (`bridge.fallback_service`).
Reload (a request, `bridge.requests`): a new runtime swapped in whole; a bad config leaves the
running one untouched.
Shutdown (SIGTERM/SIGINT): close the HTTP door, stop intake (store and acknowledge what was taken,
leave the rest to the broker), let the send in progress finish, publish the reports that are
ready, publish `offline`, close both connections, close the database.
Only this module starts tasks, and every task it starts is named.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bridge import homeassistant
from bridge.chat import WeChatEvent
from bridge.config.models import Config
from bridge.delivery.pacing import Pacer
from bridge.delivery.worker import DeliveryWorker
from bridge.errors import StartupError
from bridge.events import Acknowledge, DeliveryReport, InboundMessage
from bridge.fallback.apprise import AppriseNotifier
from bridge.fallback.service import FallbackService
from bridge.homeassistant import HomeAssistant
from bridge.http.door import HttpIngress
from bridge.http.download import download
from bridge.http.overview import Overview
from bridge.http.prometheus import PrometheusMetrics
from bridge.inbound.intake import Intake
from bridge.inbound.requests import Requests
from bridge.inbound.timers import Timers
from bridge.links import Link, LinkState
from bridge.metrics import Metrics
from bridge.mqtt.session import MqttSession
from bridge.outbox.housekeeping import Housekeeping
from bridge.outbox.runner import OutboxRunner
from bridge.pipeline.runtime import LiveRuntime, Runtime
from bridge.reactions.incoming import IncomingMessages
from bridge.reactions.wechat import WeChatEvents
from bridge.reporting import payloads as reports
from bridge.reporting.info import BridgeInfo
from bridge.reporting.reporter import Reporter
from bridge.reporting.status import BridgeStatus
from bridge.wechat.client import WeChatClient, link_tls
from bridge.wechat.rooms import RoomDirectory

log = logging.getLogger(__name__)

#: How long shutdown waits for the `offline` state to reach the broker.
SHUTDOWN_PUBLISH_SECONDS = 3.0
#: How long shutdown waits for the messages already taken in to be stored and acknowledged.
SHUTDOWN_INTAKE_SECONDS = 5.0
#: How long shutdown waits for finished deliveries' reports; the rest go out at the next start.
SHUTDOWN_REPORTS_SECONDS = 3.0


class Bridge:
    def __init__(self, config: Config, *, config_path: Path | None = None) -> None:
        self.config = config  # the restart-only sections in force; the rest is read from `live`
        self.live = LiveRuntime(Runtime.compile(config))
        self.topics = config.topics
        self.store = OutboxRunner(config.outbox.path, idempotency_window=config.outbox.idempotency_window,
                                  max_pending=config.limits.max_queued, fallback_on=config.fallback.enabled,
                                  forward_failed=config.fallback.also_on_failed)
        self.directory = RoomDirectory()
        self.rooms_ready = asyncio.Event()
        # Prometheus counters only where /metrics can be scraped: the HTTP door serves it.
        self.prometheus = PrometheusMetrics() if config.http.enabled else None
        self.metrics = self.prometheus or Metrics()
        links = {name: Link(name, on_change=self._link_changed) for name in ("broker", "gateway")}
        self.mqtt = MqttSession(config.mqtt, subscriptions=self._subscriptions(), on_message=self._on_message,
                                on_connect=self._on_mqtt_connect,
                                will=reports.state_publication(self.topics, "offline"), connection=links["broker"])
        self.incoming = IncomingMessages(live=self.live, directory=self.directory, publish=self.mqtt.publish)
        token = config.wechaty.token.get_secret_value() if config.wechaty.token else ""
        self.wechat = WeChatClient(endpoint=config.wechaty.endpoint, token=token,
                                   send_timeout=config.wechaty.send_timeout, on_event=self._on_wechat_event,
                                   listening=self.incoming.listening, tls=link_tls(config.wechaty.tls),
                                   connection=links["gateway"], metrics=self.metrics)
        self.info = BridgeInfo(store=self.store, broker=self.mqtt, wechat=self.wechat, directory=self.directory,
                               live=self.live, started=time.time())
        self.status = BridgeStatus(self.topics, self.mqtt.publish, self.info.info, metrics=self.metrics,
                                   on_change=lambda: self.overview.notify())  # noqa: PLW0108 - built below
        self.homeassistant = HomeAssistant(config, self.mqtt.publish)
        self.reporter = Reporter(store=self.store, publish=self._publish_report, metrics=self.metrics,
                                 observe=lambda r, t: self.overview.report(r, t))  # noqa: PLW0108 - built below
        self.worker = DeliveryWorker(store=self.store, wechat=self.wechat, directory=self.directory,
                                     rooms_ready=self.rooms_ready, on_finished=self.reporter.nudge,
                                     contacts=self.live.contacts, attachments=config.attachments,
                                     download=download, pacer=Pacer(config.pacing), metrics=self.metrics,
                                     quiet=lambda: self.live.current.quiet)
        self.intake = Intake(live=self.live, store=self.store, on_stored=self._on_stored, metrics=self.metrics)
        self.fallback = FallbackService(config.fallback, store=self.store, live=self.live, event=self.status.event,
                                        notifier=AppriseNotifier.of(config.fallback), on_finished=self.reporter.nudge)
        self.housekeeping = Housekeeping(store=self.store, keep_finished=config.outbox.keep_finished)
        self.timers = Timers(live=self.live, store=self.store, on_stored=self._on_stored)
        self.wechat_events = WeChatEvents(wechat=self.wechat, live=self.live, directory=self.directory,
                                          status=self.status, homeassistant=self.homeassistant,
                                          incoming=self.incoming, rooms_ready=self.rooms_ready,
                                          on_rooms=self.worker.nudge, on_login=self.fallback.on_login)
        self.requests = Requests(live=self.live, config_path=config_path, info=self.info, wechat=self.wechat,
                                 rooms=self.wechat_events, status=self.status, accept=self.intake.accept_direct,
                                 on_reload=self._reloaded)
        self.overview = Overview(status=self.status, links=links, directory=self.directory, live=self.live,
                                 queue=self.info.outbox_stats, debug=lambda: config.log_level == "debug")
        self.http = HttpIngress(config.http, live=self.live, accept=self.intake.accept_direct,
                                health=self.info.health, overview=self.overview,
                                metrics=self.prometheus) if config.http.enabled else None

    def _link_changed(self, name: str, state: LinkState) -> None:
        self.metrics.link(name, state)
        self.overview.notify()

    def _subscriptions(self) -> list[str]:
        runtime = self.live.current
        return [*runtime.route_subscriptions, self.topics.send_filter, self.topics.request_filter,
                *homeassistant.subscriptions(runtime.config)]

    # --- lifecycle -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then shut down in order."""
        await self.store.open()
        try:
            await self.housekeeping.recover()
            await self.housekeeping.log_stats("at start-up")
            if self.http is not None:
                await self.http.start()
            async with asyncio.TaskGroup() as group:
                tasks = {
                    name: group.create_task(coro, name=name) for name, coro in (
                        ("mqtt-session", self.mqtt.run()),
                        ("wechat-session", self.wechat.run()),
                        ("intake", self.intake.run()),
                        ("delivery-worker", self.worker.run()),
                        ("reporter", self.reporter.run()),
                        ("outbox-housekeeping", self.housekeeping.run()),
                        ("for-timers", self.timers.run()),
                        ("fallback", self.fallback.run()),
                        ("info-refresh", self.status.refresh_info()),
                    )
                }
                await stop.wait()
                await self._shutdown(tasks)
        finally:
            await self.store.close()
            log.info("outbox closed")

    async def _shutdown(self, tasks: dict[str, asyncio.Task[None]]) -> None:
        log.info("shutting down")
        if self.http is not None:
            await self.http.stop()
        steps: list[tuple[str, Callable[[], Awaitable[None]], float, tuple[str, ...]]] = [
            ("store the messages taken in", self.intake.close, SHUTDOWN_INTAKE_SECONDS, ("intake",)),
            ("finish the send in progress", self.worker.stop, self.config.wechaty.send_timeout + 1,
             ("delivery-worker",)),
            ("finish the fallback send", self.fallback.stop, self.config.fallback.timeout + 3, ("fallback",)),
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
        await self.mqtt.publish(reports.state_publication(self.topics, "offline"))
        await self.mqtt.flush()

    # --- MQTT side -------------------------------------------------------------------------

    async def _on_mqtt_connect(self) -> None:
        await self.status.replay()
        await self.homeassistant.on_connect()

    async def _on_message(self, message: InboundMessage, ack: Acknowledge) -> None:
        if await self.homeassistant.on_message(message):
            ack()
            return
        name = self.topics.request_name(message.topic)
        if name is None:
            await self.intake.submit(message, ack)
            return
        # Requests are answered, not stored: a redelivered request is simply answered again.
        response = await self.requests.answer(name, message.payload)
        await self.mqtt.publish(reports.response_publication(self.topics, name, response))
        ack()

    def _on_stored(self) -> None:
        self.worker.nudge()
        self.fallback.nudge()  # a `fallback: always` delivery goes out at once
        self.reporter.nudge()  # rejections are stored finished
        self.timers.nudge()  # an event may have armed a `for` timer

    async def _publish_report(self, report: DeliveryReport) -> asyncio.Future[None]:
        return await self.mqtt.publish(reports.delivery_publication(self.topics, report))

    async def _on_wechat_event(self, event: WeChatEvent) -> None:
        await self.wechat_events.on_event(event)

    async def _reloaded(self, runtime: Runtime) -> None:
        """A new runtime is in force: tell the broker, Home Assistant and the room resolution."""
        await self.mqtt.set_subscriptions(self._subscriptions())
        await self.homeassistant.reload(runtime.config)
        await self.wechat_events.reresolve()
        await self.status.publish_info()


async def run_until_signalled(config: Config, config_path: Path | None = None) -> None:
    """Run the bridge until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bridge = Bridge(config, config_path=config_path)
    try:
        await bridge.run(stop)
    except* asyncio.CancelledError:
        pass
    except* StartupError as group:
        raise group.exceptions[0] from None
