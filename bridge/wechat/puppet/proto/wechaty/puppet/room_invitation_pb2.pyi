import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import wrappers_pb2 as _wrappers_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RoomInvitationPayloadRequest(_message.Message):
    __slots__ = ("id", "payload_string_value_deprecated", "payload")
    ID_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_STRING_VALUE_DEPRECATED_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    id: str
    payload_string_value_deprecated: _wrappers_pb2.StringValue
    payload: str
    def __init__(self, id: _Optional[str] = ..., payload_string_value_deprecated: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ..., payload: _Optional[str] = ...) -> None: ...

class RoomInvitationPayloadResponse(_message.Message):
    __slots__ = ("id", "inviter_id", "topic", "member_count", "member_ids", "timestamp_uint64_deprecated", "avatar", "invitation", "receiver_id", "receive_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    INVITER_ID_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    MEMBER_COUNT_FIELD_NUMBER: _ClassVar[int]
    MEMBER_IDS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_UINT64_DEPRECATED_FIELD_NUMBER: _ClassVar[int]
    AVATAR_FIELD_NUMBER: _ClassVar[int]
    INVITATION_FIELD_NUMBER: _ClassVar[int]
    RECEIVER_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    inviter_id: str
    topic: str
    member_count: int
    member_ids: _containers.RepeatedScalarFieldContainer[str]
    timestamp_uint64_deprecated: int
    avatar: str
    invitation: str
    receiver_id: str
    receive_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., inviter_id: _Optional[str] = ..., topic: _Optional[str] = ..., member_count: _Optional[int] = ..., member_ids: _Optional[_Iterable[str]] = ..., timestamp_uint64_deprecated: _Optional[int] = ..., avatar: _Optional[str] = ..., invitation: _Optional[str] = ..., receiver_id: _Optional[str] = ..., receive_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RoomInvitationAcceptRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RoomInvitationAcceptResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
