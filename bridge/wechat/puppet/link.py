"""One gRPC connection to a wechaty puppet-service gateway: the only module that imports `grpc`.

The protocol is wechaty's own (`bridge/wechaty/proto`, generated from wechaty-grpc 1.5.2). What
its .proto files do not say, and the server (wechaty-puppet-service 1.19.9) does:
- every call carries `authorization: Wechaty <token>` metadata; a wrong or missing token is
  UNAUTHENTICATED;
- event payloads are JSON strings with camelCase keys (`{"contactId": ...}`);
- the server takes one event stream at a time (a second is ALREADY_EXISTS); its first event is a
  heartbeat, after which `Start` may be called; it replays `login` to a new stream if logged in;
- errors of the puppet behind it come back as UNKNOWN, with the JS message as the details;
- a method the gateway does not implement is UNIMPLEMENTED (wechat-skill's file sends): that is
  `Unsupported`, naming the capability, for the client to remember per connection;
- a message over 4 MiB is RESOURCE_EXHAUSTED, so large files go up first in chunks (`Upload`,
  answered with a UUID) and are then sent as a small UUID FileBox.

Every unary call works on its own: a `doctor` can ask `version`, `ding` or `room_list` without
opening the event stream or calling `Start`, so it never disturbs a running bridge.

Errors leave this module as the bridge's own (bridge/errors.py): a read that cannot be made is
`GatewayUnavailable`; a send whose request may have reached the gateway (deadline passed, the
connection broke or was closed mid-call) is `SendInDoubt`; a refusal is `SendError`, permanent
when the request itself is wrong. A call on a connection that is not up is never made.

Liveness: HTTP/2 keepalive pings every `KEEPALIVE_SECONDS`, on streams and idle connections
alike, and an unanswered ping (`grpc.http2.ping_timeout_ms`) closes the connection: a frozen
gateway or a path that silently drops packets fails every call within a few seconds instead of
after TCP's minutes. grpc-js servers (PuppetServer) answer pings at any rate: no GOAWAY
`too_many_pings`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
from collections.abc import AsyncGenerator, Iterator, Sequence
from typing import Any

# grpc's C core logs to stderr on its own, bypassing Python logging (and so the bridge's token
# redaction); only errors, unless the user asks for more. Read once, when grpc is first imported.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import grpc
import grpc.aio

from bridge.errors import EventStreamTaken, GatewayUnavailable, SendError, SendInDoubt, TokenRefused, Unsupported
from bridge.wechat.puppet.payloads import ContactPayload, LinkTls, MessagePayload, PuppetEvent, RoomPayload
from bridge.wechat.puppet.proto.wechaty import puppet_pb2_grpc
from bridge.wechat.puppet.proto.wechaty.deprecated import file_box_pb2
from bridge.wechat.puppet.proto.wechaty.puppet import (
    base_pb2,
    contact_pb2,
    download_upload_pb2,
    event_pb2,
    message_pb2,
    room_member_pb2,
    room_pb2,
)

log = logging.getLogger(__name__)

#: A keepalive ping this often, and the connection is given up when one is not answered within
#: `PING_TIMEOUT_SECONDS`: a frozen gateway is noticed within about 5 s.
KEEPALIVE_SECONDS = 2.0
PING_TIMEOUT_SECONDS = 3.0
#: Files up to this size travel inline as base64 in the send itself; larger ones are uploaded first.
INLINE_FILE_BYTES = 1024 * 1024
#: Chunks of an upload: well under the 4 MiB message limit.
CHUNK_BYTES = 512 * 1024
#: The least rate assumed for an upload when sizing its deadline.
UPLOAD_BYTES_PER_SECOND = 256 * 1024

_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.keepalive_time_ms", int(KEEPALIVE_SECONDS * 1000)),
    ("grpc.keepalive_timeout_ms", int(PING_TIMEOUT_SECONDS * 1000)),
    # Without it, a ping that goes unanswered is only given up after a minute, keepalive or not.
    ("grpc.http2.ping_timeout_ms", int(PING_TIMEOUT_SECONDS * 1000)),
    ("grpc.keepalive_permit_without_calls", 1),
    # The event stream only receives; by default the client stops pinging after two pings with
    # no data sent, which would leave a quiet connection unwatched.
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    # Our own reconnect loop paces retries; a closed channel is never reused.
    ("grpc.enable_retries", 0),
)
#: Statuses that say the request itself is wrong: sending it again cannot help.
_PERMANENT = frozenset({
    grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.RESOURCE_EXHAUSTED,
})
#: Statuses of a call cut short by the connection or the clock, not answered by the gateway.
_CUT_OFF = frozenset({
    grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED,
    grpc.StatusCode.INTERNAL,
})
#: The server puts wechaty-puppet's own MessageType number on the wire (Text is 7), not the
#: .proto enum's (where 7 is VIDEO): read it with wechaty-puppet 1.x's table.
_MESSAGE_TYPES = dict(enumerate((
    "unknown", "attachment", "audio", "contact", "chat_history", "emoticon", "image", "text", "location",
    "mini_program", "group_note", "transfer", "red_envelope", "recalled", "url", "video", "post",
)))
_FILEBOX_UUID = 7  # file-box's FileBoxType.Uuid
_FILEBOX_BASE64 = 1


class PuppetLink:
    """A channel to one gateway, with a typed call per protocol method the bridge uses.

    Making the object opens nothing; the first call connects. `close()` ends the channel and
    every call on it (they end as cut off); a closed link is not reused: make a new one.
    """

    def __init__(self, endpoint: str, token: str, *, tls: LinkTls | None = None, timeout: float = 10.0) -> None:
        self.endpoint = endpoint
        self.tls = tls
        #: The deadline of a call that does not say otherwise.
        self.timeout = timeout
        self._metadata = (("authorization", f"Wechaty {token}"),)
        if tls is None:
            self._channel = grpc.aio.insecure_channel(endpoint, options=_OPTIONS)
        else:
            options = _OPTIONS if tls.server_name is None else (
                *_OPTIONS, ("grpc.ssl_target_name_override", tls.server_name))
            credentials = grpc.ssl_channel_credentials(root_certificates=tls.ca_pem)
            self._channel = grpc.aio.secure_channel(endpoint, credentials, options=options)
        self._stub: Any = puppet_pb2_grpc.PuppetStub(self._channel)  # type: ignore[no-untyped-call]  # generated
        self._closed = False
        #: Whether the gateway has answered on this channel: from then on a closed socket is a
        #: gateway that stopped or restarted, not a TLS mismatch.
        self._answered = False

    async def close(self) -> None:
        """End the connection; calls in progress end cut off (a send among them is in doubt)."""
        self._closed = True
        await self._channel.close(grace=None)

    @property
    def connected(self) -> bool:
        """Whether the connection is up right now (a send is only made on a connection that is)."""
        return not self._closed and self._channel.get_state() == grpc.ChannelConnectivity.READY

    # ------------------------------------------------------------------ base

    async def version(self) -> str:
        """The puppet's version as the gateway reports it (PuppetServer asks its puppet: "1.14.14<1.20.2>" is
        wechat4u 1.14.14 on wechaty-puppet 1.20.2); checks the token too."""
        response = await self._read("read the gateway's version", self._stub.Version, base_pb2.VersionRequest())
        return str(response.version)

    async def ding(self, data: str = "ding") -> None:
        """Ask the puppet to answer with a `dong` event; a plain call that checks the token and the puppet."""
        await self._read("ding the gateway", self._stub.Ding, base_pb2.DingRequest(data=data))

    async def start(self, deadline: float = 20.0) -> None:
        """Start the puppet; call it after the event stream's first heartbeat (the server's start takes up to 15 s)."""
        await self._read("start the puppet", self._stub.Start, base_pb2.StartRequest(), deadline=deadline)

    async def stop(self) -> None:
        """Stop the puppet and end the event stream: on most puppets this logs WeChat out. Not for reconnects."""
        await self._read("stop the puppet", self._stub.Stop, base_pb2.StopRequest())

    async def events(self) -> AsyncGenerator[PuppetEvent, None]:
        """The event stream, until the gateway ends it (returns) or the connection breaks (raises)."""
        if self._closed:
            raise GatewayUnavailable("the gateway connection is closed")
        call = self._stub.Event(event_pb2.EventRequest(), metadata=self._metadata)
        try:
            async for response in call:
                self._answered = True
                yield _event(response)
        except asyncio.CancelledError:
            if not self._closed_under_us():
                raise
            raise GatewayUnavailable("the gateway connection was closed") from None
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.ALREADY_EXISTS:
                raise EventStreamTaken(
                    "the gateway already has a client on its event stream (another bridge or bot with this "
                    "token?); it takes one at a time") from None
            details = exc.details() or ""
            if self._answered and exc.code() == grpc.StatusCode.UNAVAILABLE and (
                    "Socket closed" in details or "GOAWAY" in details):
                # The gateway stopped or restarted under an open stream; its grpc text varies with timing.
                raise GatewayUnavailable("the gateway ended the connection") from None
            raise self._unavailable("keep the event stream open", exc) from None
        finally:
            call.cancel()

    async def dirty_payload(self, kind: str, payload_id: str) -> None:
        """Make the gateway forget its cached payload of `kind` ("room", "contact", "message", "room_member")."""
        request = base_pb2.DirtyPayloadRequest(type=f"PAYLOAD_TYPE_{kind.upper()}", id=payload_id)
        await self._read("refresh a payload", self._stub.DirtyPayload, request)

    # ------------------------------------------------------------------ contacts, rooms, messages

    async def contact_payload(self, contact_id: str) -> ContactPayload:
        response = await self._read("read a contact", self._stub.ContactPayload,
                                    contact_pb2.ContactPayloadRequest(id=contact_id))
        return ContactPayload(response.id or contact_id, response.name)

    async def room_list(self) -> list[str]:
        """The ids of every room the account is in."""
        response = await self._read("list rooms", self._stub.RoomList, room_pb2.RoomListRequest())
        return list(response.ids)

    async def room_payload(self, room_id: str) -> RoomPayload:
        response = await self._read("read a room", self._stub.RoomPayload, room_pb2.RoomPayloadRequest(id=room_id))
        return RoomPayload(response.id or room_id, response.topic, tuple(response.member_ids))

    async def room_members(self, room_id: str) -> list[str]:
        response = await self._read("read a room's members", self._stub.RoomMemberList,
                                    room_member_pb2.RoomMemberListRequest(id=room_id))
        return list(response.member_ids)

    async def message_payload(self, message_id: str) -> MessagePayload:
        response = await self._read("read a message", self._stub.MessagePayload,
                                    message_pb2.MessagePayloadRequest(id=message_id))
        if response.HasField("receive_time"):
            ts = response.receive_time.seconds + response.receive_time.nanos / 1e9
        else:
            ts = float(response.timestamp_deprecated)
            ts = ts / 1000 if ts > 1e11 else ts  # puppets differ: seconds or milliseconds
        kind = _MESSAGE_TYPES.get(response.type, "unknown")
        return MessagePayload(id=response.id or message_id, room_id=response.room_id, talker_id=response.talker_id,
                              text=response.text, type=kind, mention_ids=tuple(response.mention_ids), timestamp=ts)

    # ------------------------------------------------------------------ sends

    async def send_text(self, conversation_id: str, text: str, mention_ids: Sequence[str] = (), *,
                        deadline: float | None = None) -> str:
        """Send a text; `mention_ids` are notified (the names must be in the text already). Returns the message id."""
        request = message_pb2.MessageSendTextRequest(conversation_id=conversation_id, text=text,
                                                     mentional_ids=list(mention_ids))
        response = await self._send(self._stub.MessageSendText, request, deadline)
        return _message_id(response)

    async def send_file(self, conversation_id: str, name: str, data: bytes, *, deadline: float | None = None) -> str:
        """Send bytes as a file (WeChat shows images inline); returns the message id.

        Up to `INLINE_FILE_BYTES` the file travels in the send as a base64 FileBox; larger ones
        are uploaded first (not a send: a failed upload sent nothing) and sent as a UUID FileBox.
        """
        if len(data) <= INLINE_FILE_BYTES:
            box = {"type": _FILEBOX_BASE64, "base64": base64.b64encode(data).decode("ascii"), "name": name}
        else:
            box = {"type": _FILEBOX_UUID, "uuid": await self.upload(data), "name": name, "size": len(data)}
        request = message_pb2.MessageSendFileRequest(conversation_id=conversation_id, file_box=json.dumps(box))
        return _message_id(await self._send(self._stub.MessageSendFile, request, deadline, capability="files"))

    async def upload(self, data: bytes) -> str:
        """Store bytes on the gateway in chunks; returns the UUID a FileBox names them by."""
        chunks = (download_upload_pb2.UploadRequest(chunk=data[i:i + CHUNK_BYTES])
                  for i in range(0, len(data), CHUNK_BYTES))
        response = await self._read("upload a file", self._stub.Upload, chunks,
                                    deadline=self.timeout + len(data) / UPLOAD_BYTES_PER_SECOND, capability="files")
        return str(response.id)

    async def send_file_stream(self, conversation_id: str, name: str, data: bytes, *,
                               deadline: float | None = None) -> str:
        """The protocol's older way to send a large file: one client stream of chunks (MessageSendFileStream).

        For gateways without `Upload`; the whole transfer is the send, so all of it is in doubt if cut off.
        """
        def requests() -> Iterator[file_box_pb2.MessageSendFileStreamRequest]:
            yield file_box_pb2.MessageSendFileStreamRequest(conversation_id=conversation_id)
            yield file_box_pb2.MessageSendFileStreamRequest(file_box_chunk=file_box_pb2.FileBoxChunk(name=name))
            for i in range(0, len(data), CHUNK_BYTES):
                chunk = file_box_pb2.FileBoxChunk(data=data[i:i + CHUNK_BYTES])
                yield file_box_pb2.MessageSendFileStreamRequest(file_box_chunk=chunk)

        budget = (self.timeout if deadline is None else deadline) + len(data) / UPLOAD_BYTES_PER_SECOND
        return _message_id(await self._send(self._stub.MessageSendFileStream, requests(), budget, capability="files"))

    # ------------------------------------------------------------------ plumbing

    async def _read(self, what: str, method: Any, request: Any, *, deadline: float | None = None,
                    capability: str | None = None) -> Any:
        """A call that changes nothing in WeChat: any failure only means it was not answered."""
        self._check_open()
        seconds = self.timeout if deadline is None else deadline
        try:
            response = await method(request, metadata=self._metadata, timeout=seconds)
        except asyncio.CancelledError:
            if not self._closed_under_us():
                raise
            raise GatewayUnavailable(f"cannot {what}: the gateway connection was closed",
                                     cause="the gateway connection was closed") from None
        except grpc.aio.AioRpcError as exc:
            if exc.code() in _CUT_OFF or exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                raise self._unavailable(what, exc) from None
            raise _refused(f"cannot {what}", exc, capability) from None
        self._answered = True
        return response

    async def _send(self, method: Any, request: Any, deadline: float | None, *, capability: str | None = None) -> Any:
        """A call that puts a message into WeChat: once made, a call that is not answered is in doubt."""
        self._check_open()
        if not self.connected:
            # Not made at all: the caller waits for the reconnect without counting an attempt.
            raise GatewayUnavailable(f"not connected to the gateway at {self.endpoint}")
        seconds = self.timeout if deadline is None else deadline
        try:
            return await method(request, metadata=self._metadata, timeout=seconds)
        except asyncio.CancelledError:
            if not self._closed_under_us():
                raise
            raise SendInDoubt("the gateway connection was closed during the send") from None
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise SendInDoubt(f"the gateway did not answer within {seconds:g} s") from None
            if code in _CUT_OFF:
                raise SendInDoubt(f"the connection broke during the send: {describe(exc)}") from None
            if code == grpc.StatusCode.UNAUTHENTICATED:
                raise self._unavailable("send", exc) from None
            raise _refused("WeChat refused the message", exc, capability) from None

    def _unavailable(self, what: str, exc: grpc.aio.AioRpcError) -> GatewayUnavailable:
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
            return TokenRefused(f"cannot {what}: {describe(exc)}", cause=describe(exc))
        why = self._tls_problem(exc) or describe(exc)
        return GatewayUnavailable(f"cannot {what}: {why}", cause=why)

    def _tls_problem(self, exc: grpc.aio.AioRpcError) -> str | None:
        """A connection failure that is a TLS mismatch, said as such (grpc's own text is a chain of codes)."""
        details = exc.details() or ""
        if self.tls is None and not self._answered and "Socket closed" in details:
            return ("the gateway closed the connection at once, as a gateway that speaks TLS does to plaintext: "
                    "set wechaty.tls?")
        if self.tls is not None and "CERTIFICATE_VERIFY_FAILED" in details:
            return ("the gateway's TLS certificate is not trusted: not signed by the CA of wechaty.tls (or the "
                    "system's), or not issued for this name (wechaty.tls.server_name)")
        if self.tls is not None and "WRONG_VERSION_NUMBER" in details:
            return "the gateway does not speak TLS (TLS handshake failed): remove wechaty.tls, or turn TLS on there"
        if self.tls is not None and "handshake failed" in details.lower():
            return f"the TLS handshake with the gateway failed ({_short(details)})"
        return None

    def _closed_under_us(self) -> bool:
        """A CancelledError that came from `close()` (grpc cancels the calls of a closed channel),
        not from our own task being cancelled."""
        task = asyncio.current_task()
        return self._closed and (task is None or task.cancelling() == 0)

    def _check_open(self) -> None:
        if self._closed:
            raise GatewayUnavailable("the gateway connection is closed")


def describe(exc: BaseException) -> str:
    """A gRPC error in a person's words: the gateway's own message when it gave one."""
    if isinstance(exc, grpc.aio.AioRpcError):
        details = (exc.details() or "").strip()
        code = exc.code()
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return "the gateway refused the token"
        if code == grpc.StatusCode.UNAVAILABLE:
            return f"unavailable ({_short(details)})" if details else "unavailable"
        return details or code.name
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _short(details: str) -> str:
    # grpc's connect failures carry the addresses tried and a nested cause: keep the cause.
    return details.rsplit("; last error: ", maxsplit=1)[-1].split(". ", maxsplit=1)[0][:200]


def _refused(what: str, exc: grpc.aio.AioRpcError, capability: str | None = None) -> SendError:
    """A call the gateway answered with a refusal; `capability`: what an UNIMPLEMENTED answer means it lacks."""
    code = exc.code()
    if code == grpc.StatusCode.UNIMPLEMENTED and capability is not None:
        why = f"the gateway does not implement it ({describe(exc)})"
        return Unsupported(f"{what}: {why}", capability=capability, cause=why)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        why = f"the gateway refused a message this large ({describe(exc)})"
        return SendError(f"{what}: {why}", transient=False, cause=why)
    return SendError(f"{what}: {describe(exc)}", transient=code not in _PERMANENT, cause=describe(exc))


def _event(response: Any) -> PuppetEvent:
    kind = event_pb2.EventType.Name(response.type).removeprefix("EVENT_TYPE_").lower()
    try:
        payload = json.loads(response.payload) if response.payload else {}
    except ValueError:
        payload = {"data": response.payload}
    return PuppetEvent(kind, payload if isinstance(payload, dict) else {"data": payload})


def _message_id(response: Any) -> str:
    if response.id:
        return str(response.id)
    if response.HasField("id_string_value_deprecated"):  # servers before late 2021
        return str(response.id_string_value_deprecated.value)
    return ""
