"""Queued deliveries -> WeChat -> one report each.

Sends wait while WeChat is not logged in (the queue holds them); a room that cannot be
resolved after login ends `rejected`, a send WeChat refuses ends `failed` with its reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from bridge.errors import RoomNotAvailable, SendError
from bridge.events import Delivery, DeliveryReport, DeliveryStatus, RoomRef
from bridge.rooms import RoomDirectory
from bridge.wechat import WeChatClient

log = logging.getLogger(__name__)

ReportSink = Callable[[DeliveryReport], Awaitable[None]]


class DeliveryWorker:
    def __init__(self, *, queue: asyncio.Queue[Delivery], wechat: WeChatClient, directory: RoomDirectory,
                 rooms_ready: asyncio.Event, report: ReportSink) -> None:
        self._queue = queue
        self._wechat = wechat
        self._directory = directory
        self._rooms_ready = rooms_ready
        self._report = report

    async def run(self) -> None:
        while True:
            delivery = await self._queue.get()
            try:
                await self._report(await self._deliver(delivery))
            finally:
                self._queue.task_done()

    async def _deliver(self, delivery: Delivery) -> DeliveryReport:
        # Rooms are resolved after each login; sending before that would reject rooms that exist.
        await self._rooms_ready.wait()
        try:
            room = self._directory.resolve(delivery.room_key)
        except RoomNotAvailable as exc:
            return _report(delivery, "rejected", RoomRef(delivery.room_key), str(exc))
        ref = RoomRef(delivery.room_key, room.id, room.topic)
        try:
            await self._wechat.send_text(room.id, delivery.text)
        except SendError as exc:
            log.warning("delivery %s to room %r failed: %s", delivery.event_id, delivery.room_key, exc)
            return _report(delivery, "failed", ref, str(exc))
        log.info("delivered %s to room %r", delivery.event_id, delivery.room_key)
        log.debug("text sent to room %r: %s", delivery.room_key, delivery.text)
        return _report(delivery, "delivered", ref, None)


def _report(delivery: Delivery, status: DeliveryStatus, room: RoomRef, error: str | None) -> DeliveryReport:
    return DeliveryReport(
        id=delivery.event_id, status=status,
        route=delivery.route, topic=delivery.source_topic, room=room, error=error, ts=time.time(),
    )
