"""Apprise as a way in: the JSON body Apprise's own `json://` plugin posts, made a direct send (pure).

Home Assistant's Apprise notify, mqttwarn, Uptime Kuma and Apprise-API all speak Apprise; pointed
at `json://<bridge>:<port>/apprise/<room key>?+Authorization=Bearer%20<http.token>` they post

    {"version": "1.0", "title": "...", "message": "...", "type": "info|success|warning|failure",
     "attachments": [{"filename": "...", "base64": "...", "mimetype": "image/png"}]}

The title is kept: it becomes the first line, the message the rest (either may be empty, not
both). One attachment goes with the text, as an image when it is one WeChat shows inline, else
as a file. Apprise gives no id, so each post is a new event; `type` is not shown (WeChat has no
notion of it) but a `failure` or `warning` is not dropped for it either.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from bridge.events import Attachment, Planned, Rejected, new_event_id
from bridge.pipeline.attachments import image_extension
from bridge.pipeline.plan import direct_send
from bridge.pipeline.runtime import Runtime


def apprise_send(runtime: Runtime, body: dict[str, Any], *, room_key: str, topic: str, received_at: float) -> Planned:
    """The direct send of one Apprise notification to `room_key`; a `Rejected` says what is wrong."""
    event_id = new_event_id()

    def reject(error: str) -> Rejected:
        return Rejected(event_id=event_id, route=None, topic=topic, room_key=room_key, error=error)

    title, message = body.get("title") or "", body.get("message", body.get("body"))
    if not isinstance(title, str) or not isinstance(message, str | None):
        return reject('an Apprise notification\'s "title" and "message" must be strings')
    text = "\n".join(part for part in (title.strip(), (message or "").strip()) if part)
    attachments = body.get("attachments") or []
    if not isinstance(attachments, list) or len(attachments) > 1:
        return reject("an Apprise notification may carry one attachment here: WeChat gets one image or file "
                      "per message (send the others as notifications of their own)")
    attachment = None
    if attachments:
        found = _attachment(attachments[0], runtime.attachments.max_bytes)
        if isinstance(found, str):
            return reject(found)
        attachment = found
    if not text and attachment is None:
        return reject("the Apprise notification has neither a title, a message nor an attachment")
    return direct_send(runtime, topic=topic, room_key=room_key, text=text, event_id=event_id,
                       received_at=received_at, attachment=attachment)


def _attachment(given: Any, max_bytes: int) -> Attachment | str:
    """The attachment of an Apprise body, or the sentence saying why it cannot be sent."""
    if not isinstance(given, dict) or not isinstance(given.get("base64"), str):
        return 'an Apprise attachment needs "base64" data (Apprise\'s json:// plugin sends it so)'
    try:
        data = base64.b64decode(given["base64"], validate=True)
    except (binascii.Error, ValueError):
        return "the Apprise attachment's base64 data cannot be decoded"
    if not data:
        return "the Apprise attachment is empty"
    if len(data) > max_bytes:
        return f"the attachment is {len(data)} bytes, more than the {max_bytes} bytes allowed (attachments.max_bytes)"
    name = given.get("filename") if isinstance(given.get("filename"), str) and given.get("filename") else None
    extension = image_extension(data)
    if extension is not None:
        return Attachment(kind="image", name=name or f"apprise.{extension}", data=data)
    return Attachment(kind="file", name=name or "apprise.bin", data=data)
