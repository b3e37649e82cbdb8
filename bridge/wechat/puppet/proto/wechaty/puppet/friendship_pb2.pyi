from google.protobuf import wrappers_pb2 as _wrappers_pb2
from bridge.wechat.puppet.proto.wechaty.puppet import referrer_pb2 as _referrer_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FriendshipType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FRIENDSHIP_TYPE_UNSPECIFIED: _ClassVar[FriendshipType]
    FRIENDSHIP_TYPE_CONFIRM: _ClassVar[FriendshipType]
    FRIENDSHIP_TYPE_RECEIVE: _ClassVar[FriendshipType]
    FRIENDSHIP_TYPE_VERIFY: _ClassVar[FriendshipType]

class FriendshipSceneType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FRIENDSHIP_SCENE_TYPE_UNSPECIFIED: _ClassVar[FriendshipSceneType]
    FRIENDSHIP_SCENE_TYPE_QQ: _ClassVar[FriendshipSceneType]
    FRIENDSHIP_SCENE_TYPE_EMAIL: _ClassVar[FriendshipSceneType]
    FRIENDSHIP_SCENE_TYPE_WEIXIN: _ClassVar[FriendshipSceneType]
    FRIENDSHIP_SCENE_TYPE_QQTBD: _ClassVar[FriendshipSceneType]
    FRIENDSHIP_SCENE_TYPE_ROOM: _ClassVar[FriendshipSceneType]
    FRIENDSHIP_SCENE_TYPE_PHONE: _ClassVar[FriendshipSceneType]
    FRIENDSHIP_SCENE_TYPE_CARD: _ClassVar[FriendshipSceneType]
    FRIENDSHIP_SCENE_TYPE_LOCATION: _ClassVar[FriendshipSceneType]
    FRIENDSHIP_SCENE_TYPE_BOTTLE: _ClassVar[FriendshipSceneType]
    FRIENDSHIP_SCENE_TYPE_SHAKING: _ClassVar[FriendshipSceneType]
    FRIENDSHIP_SCENE_TYPE_QRCODE: _ClassVar[FriendshipSceneType]
FRIENDSHIP_TYPE_UNSPECIFIED: FriendshipType
FRIENDSHIP_TYPE_CONFIRM: FriendshipType
FRIENDSHIP_TYPE_RECEIVE: FriendshipType
FRIENDSHIP_TYPE_VERIFY: FriendshipType
FRIENDSHIP_SCENE_TYPE_UNSPECIFIED: FriendshipSceneType
FRIENDSHIP_SCENE_TYPE_QQ: FriendshipSceneType
FRIENDSHIP_SCENE_TYPE_EMAIL: FriendshipSceneType
FRIENDSHIP_SCENE_TYPE_WEIXIN: FriendshipSceneType
FRIENDSHIP_SCENE_TYPE_QQTBD: FriendshipSceneType
FRIENDSHIP_SCENE_TYPE_ROOM: FriendshipSceneType
FRIENDSHIP_SCENE_TYPE_PHONE: FriendshipSceneType
FRIENDSHIP_SCENE_TYPE_CARD: FriendshipSceneType
FRIENDSHIP_SCENE_TYPE_LOCATION: FriendshipSceneType
FRIENDSHIP_SCENE_TYPE_BOTTLE: FriendshipSceneType
FRIENDSHIP_SCENE_TYPE_SHAKING: FriendshipSceneType
FRIENDSHIP_SCENE_TYPE_QRCODE: FriendshipSceneType

class FriendshipPayloadRequest(_message.Message):
    __slots__ = ("id", "payload_string_value_deprecated", "payload")
    ID_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_STRING_VALUE_DEPRECATED_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    id: str
    payload_string_value_deprecated: _wrappers_pb2.StringValue
    payload: str
    def __init__(self, id: _Optional[str] = ..., payload_string_value_deprecated: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ..., payload: _Optional[str] = ...) -> None: ...

class FriendshipPayloadResponse(_message.Message):
    __slots__ = ("id", "contact_id", "hello", "type", "stranger", "ticket", "scene")
    ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    HELLO_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STRANGER_FIELD_NUMBER: _ClassVar[int]
    TICKET_FIELD_NUMBER: _ClassVar[int]
    SCENE_FIELD_NUMBER: _ClassVar[int]
    id: str
    contact_id: str
    hello: str
    type: FriendshipType
    stranger: str
    ticket: str
    scene: FriendshipSceneType
    def __init__(self, id: _Optional[str] = ..., contact_id: _Optional[str] = ..., hello: _Optional[str] = ..., type: _Optional[_Union[FriendshipType, str]] = ..., stranger: _Optional[str] = ..., ticket: _Optional[str] = ..., scene: _Optional[_Union[FriendshipSceneType, str]] = ...) -> None: ...

class FriendshipSearchPhoneRequest(_message.Message):
    __slots__ = ("phone",)
    PHONE_FIELD_NUMBER: _ClassVar[int]
    phone: str
    def __init__(self, phone: _Optional[str] = ...) -> None: ...

class FriendshipSearchPhoneResponse(_message.Message):
    __slots__ = ("contact_id_string_value_deprecated", "contact_id")
    CONTACT_ID_STRING_VALUE_DEPRECATED_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    contact_id_string_value_deprecated: _wrappers_pb2.StringValue
    contact_id: str
    def __init__(self, contact_id_string_value_deprecated: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ..., contact_id: _Optional[str] = ...) -> None: ...

class FriendshipSearchHandleRequest(_message.Message):
    __slots__ = ("weixin",)
    WEIXIN_FIELD_NUMBER: _ClassVar[int]
    weixin: str
    def __init__(self, weixin: _Optional[str] = ...) -> None: ...

class FriendshipSearchHandleResponse(_message.Message):
    __slots__ = ("contact_id_string_value_deprecated", "contact_id")
    CONTACT_ID_STRING_VALUE_DEPRECATED_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    contact_id_string_value_deprecated: _wrappers_pb2.StringValue
    contact_id: str
    def __init__(self, contact_id_string_value_deprecated: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ..., contact_id: _Optional[str] = ...) -> None: ...

class FriendshipAddRequest(_message.Message):
    __slots__ = ("contact_id", "hello", "source_room_id_string_value_deprecated", "source_contact_id_string_value_deprecated", "referrer")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    HELLO_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ROOM_ID_STRING_VALUE_DEPRECATED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_CONTACT_ID_STRING_VALUE_DEPRECATED_FIELD_NUMBER: _ClassVar[int]
    REFERRER_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    hello: str
    source_room_id_string_value_deprecated: _wrappers_pb2.StringValue
    source_contact_id_string_value_deprecated: _wrappers_pb2.StringValue
    referrer: _referrer_pb2.Referrer
    def __init__(self, contact_id: _Optional[str] = ..., hello: _Optional[str] = ..., source_room_id_string_value_deprecated: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ..., source_contact_id_string_value_deprecated: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ..., referrer: _Optional[_Union[_referrer_pb2.Referrer, _Mapping]] = ...) -> None: ...

class FriendshipAddResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FriendshipAcceptRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class FriendshipAcceptResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
