"""Images and files for routes: built from the payload or from rendered URLs and paths (pure),
and read from the allowed directory at send time.

The bytes of an `image: payload` route (a Frigate snapshot) travel in the outbox with the
event; a URL is downloaded only when the message is sent, so a retry fetches it again. An
`image: {topic: ...}` is the latest message kept from that topic when the event is planned
(`bridge.inbound.kept`), and travels with the event too; none kept yet: `NotKeptYet`.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from bridge.errors import EventRejected, PayloadError
from bridge.events import Attachment
from bridge.pipeline.routing import AttachmentSpec

#: Magic numbers of the image formats WeChat shows inline, and the file name ending for each.
_IMAGE_SIGNATURES = (
    (b"\xff\xd8\xff", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)


def image_extension(data: bytes) -> str | None:
    for signature, extension in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            return extension
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


#: No topic kept (the `render` command, and tests of routes without a `topic` attachment).
NOTHING_KEPT: Mapping[str, bytes] = MappingProxyType({})


class NotKeptYet(Exception):
    """No message is kept yet on the topic a route attaches: the event is announced once there is one."""


def build_attachment(spec: AttachmentSpec, *, payload: bytes, context: dict[str, Any], max_bytes: int,
                     default_name: str, kept: Mapping[str, bytes] = NOTHING_KEPT) -> Attachment:
    """The attachment of one event; raises `EventRejected` with a sentence when it cannot be."""
    if spec.topic is not None:
        topic = spec.topic.render(context, what=f"the {spec.kind} topic").strip()
        if topic not in kept:
            raise NotKeptYet(f"no message kept on {topic} yet")
        data = kept[topic]
        name = spec.name.render(context).strip() if spec.name is not None else None
        return _bytes_attachment(spec, data, name or f"{_stem(topic)}.{image_extension(data) or 'bin'}",
                                 max_bytes, where=f"the message kept on {topic}")
    if spec.from_payload:
        if not payload:
            raise PayloadError(f"the payload is empty: no {spec.kind} to send")
        if len(payload) > max_bytes:
            raise PayloadError(f"the {spec.kind} is {len(payload)} bytes, more than the {max_bytes} bytes allowed "
                               "(attachments.max_bytes)")
        extension = image_extension(payload)
        if spec.kind == "image" and extension is None:
            raise PayloadError("the payload is not a JPEG, PNG, GIF or WebP image")
        return Attachment(kind=spec.kind, name=f"{default_name}.{extension or 'bin'}", data=payload)
    name = spec.name.render(context).strip() if spec.name is not None else None
    if spec.url is not None:
        url = spec.url.render(context).strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise EventRejected(f"the {spec.kind} URL {url!r} is not an http(s) URL")
        return Attachment(kind=spec.kind, name=name or posixpath.basename(parts.path) or f"{default_name}.jpg", url=url)
    assert spec.path is not None
    path = spec.path.render(context).strip()
    return Attachment(kind=spec.kind, name=name or posixpath.basename(path) or default_name, path=path)


def read_local(path: str, *, directory: Path | None, max_bytes: int) -> bytes:
    """A file from inside `directory` only: `..`, absolute paths and links out of it are refused."""
    if directory is None:
        raise EventRejected("local files are not allowed: set attachments.directory")
    root = directory.resolve()
    target = (root / path).resolve()
    if target != root and root not in target.parents:
        raise EventRejected(f"{path!r} is outside attachments.directory")
    try:
        size = os.path.getsize(target)
        if size > max_bytes:
            raise EventRejected(f"{path!r} is {size} bytes, more than the {max_bytes} allowed (attachments.max_bytes)")
        return target.read_bytes()
    except OSError as exc:
        raise EventRejected(f"cannot read {path!r}: {exc.strerror or exc}") from None


def _stem(topic: str) -> str:
    return topic.replace("/", "-")


def _bytes_attachment(spec: AttachmentSpec, data: bytes, name: str, max_bytes: int, *, where: str) -> Attachment:
    if not data:
        raise EventRejected(f"{where} is empty: no {spec.kind} to send")
    if len(data) > max_bytes:
        raise EventRejected(f"{where} is {len(data)} bytes, more than the {max_bytes} bytes allowed "
                            "(attachments.max_bytes)")
    if spec.kind == "image" and image_extension(data) is None:
        raise EventRejected(f"{where} is not a JPEG, PNG, GIF or WebP image")
    return Attachment(kind=spec.kind, name=name, data=data)
