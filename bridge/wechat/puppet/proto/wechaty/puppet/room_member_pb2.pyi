from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class RoomMemberPayloadRequest(_message.Message):
    __slots__ = ("id", "member_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    MEMBER_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    member_id: str
    def __init__(self, id: _Optional[str] = ..., member_id: _Optional[str] = ...) -> None: ...

class RoomMemberPayloadResponse(_message.Message):
    __slots__ = ("id", "room_alias", "inviter_id", "avatar", "name")
    ID_FIELD_NUMBER: _ClassVar[int]
    ROOM_ALIAS_FIELD_NUMBER: _ClassVar[int]
    INVITER_ID_FIELD_NUMBER: _ClassVar[int]
    AVATAR_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    id: str
    room_alias: str
    inviter_id: str
    avatar: str
    name: str
    def __init__(self, id: _Optional[str] = ..., room_alias: _Optional[str] = ..., inviter_id: _Optional[str] = ..., avatar: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class RoomMemberListRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RoomMemberListResponse(_message.Message):
    __slots__ = ("member_ids",)
    MEMBER_IDS_FIELD_NUMBER: _ClassVar[int]
    member_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, member_ids: _Optional[_Iterable[str]] = ...) -> None: ...
