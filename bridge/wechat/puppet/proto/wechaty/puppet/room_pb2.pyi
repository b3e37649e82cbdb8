from google.protobuf import wrappers_pb2 as _wrappers_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RoomListRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RoomListResponse(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ids: _Optional[_Iterable[str]] = ...) -> None: ...

class RoomPayloadRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RoomPayloadResponse(_message.Message):
    __slots__ = ("id", "topic", "avatar", "owner_id", "admin_ids", "member_ids", "handle")
    ID_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    AVATAR_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    ADMIN_IDS_FIELD_NUMBER: _ClassVar[int]
    MEMBER_IDS_FIELD_NUMBER: _ClassVar[int]
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    id: str
    topic: str
    avatar: str
    owner_id: str
    admin_ids: _containers.RepeatedScalarFieldContainer[str]
    member_ids: _containers.RepeatedScalarFieldContainer[str]
    handle: str
    def __init__(self, id: _Optional[str] = ..., topic: _Optional[str] = ..., avatar: _Optional[str] = ..., owner_id: _Optional[str] = ..., admin_ids: _Optional[_Iterable[str]] = ..., member_ids: _Optional[_Iterable[str]] = ..., handle: _Optional[str] = ...) -> None: ...

class RoomAddRequest(_message.Message):
    __slots__ = ("id", "contact_id", "invite_only")
    ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    INVITE_ONLY_FIELD_NUMBER: _ClassVar[int]
    id: str
    contact_id: str
    invite_only: bool
    def __init__(self, id: _Optional[str] = ..., contact_id: _Optional[str] = ..., invite_only: bool = ...) -> None: ...

class RoomAddResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RoomAvatarRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RoomAvatarResponse(_message.Message):
    __slots__ = ("file_box",)
    FILE_BOX_FIELD_NUMBER: _ClassVar[int]
    file_box: str
    def __init__(self, file_box: _Optional[str] = ...) -> None: ...

class RoomCreateRequest(_message.Message):
    __slots__ = ("contact_ids", "topic")
    CONTACT_IDS_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    contact_ids: _containers.RepeatedScalarFieldContainer[str]
    topic: str
    def __init__(self, contact_ids: _Optional[_Iterable[str]] = ..., topic: _Optional[str] = ...) -> None: ...

class RoomCreateResponse(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RoomDelRequest(_message.Message):
    __slots__ = ("id", "contact_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    contact_id: str
    def __init__(self, id: _Optional[str] = ..., contact_id: _Optional[str] = ...) -> None: ...

class RoomDelResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RoomQuitRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RoomQuitResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RoomTopicRequest(_message.Message):
    __slots__ = ("id", "topic_string_value_deprecated", "topic")
    ID_FIELD_NUMBER: _ClassVar[int]
    TOPIC_STRING_VALUE_DEPRECATED_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    id: str
    topic_string_value_deprecated: _wrappers_pb2.StringValue
    topic: str
    def __init__(self, id: _Optional[str] = ..., topic_string_value_deprecated: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ..., topic: _Optional[str] = ...) -> None: ...

class RoomTopicResponse(_message.Message):
    __slots__ = ("topic_string_value_deprecated", "topic")
    TOPIC_STRING_VALUE_DEPRECATED_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    topic_string_value_deprecated: _wrappers_pb2.StringValue
    topic: str
    def __init__(self, topic_string_value_deprecated: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ..., topic: _Optional[str] = ...) -> None: ...

class RoomQRCodeRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RoomQRCodeResponse(_message.Message):
    __slots__ = ("qrcode",)
    QRCODE_FIELD_NUMBER: _ClassVar[int]
    qrcode: str
    def __init__(self, qrcode: _Optional[str] = ...) -> None: ...

class RoomAnnounceRequest(_message.Message):
    __slots__ = ("id", "text_string_value_deprecated", "text")
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_STRING_VALUE_DEPRECATED_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    id: str
    text_string_value_deprecated: _wrappers_pb2.StringValue
    text: str
    def __init__(self, id: _Optional[str] = ..., text_string_value_deprecated: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ..., text: _Optional[str] = ...) -> None: ...

class RoomAnnounceResponse(_message.Message):
    __slots__ = ("text_string_value_deprecated", "text")
    TEXT_STRING_VALUE_DEPRECATED_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text_string_value_deprecated: _wrappers_pb2.StringValue
    text: str
    def __init__(self, text_string_value_deprecated: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ..., text: _Optional[str] = ...) -> None: ...
