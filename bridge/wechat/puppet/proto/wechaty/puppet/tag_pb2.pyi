from google.protobuf import wrappers_pb2 as _wrappers_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TagContactAddRequest(_message.Message):
    __slots__ = ("id", "contact_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    contact_id: str
    def __init__(self, id: _Optional[str] = ..., contact_id: _Optional[str] = ...) -> None: ...

class TagContactAddResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TagContactRemoveRequest(_message.Message):
    __slots__ = ("id", "contact_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    contact_id: str
    def __init__(self, id: _Optional[str] = ..., contact_id: _Optional[str] = ...) -> None: ...

class TagContactRemoveResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TagContactDeleteRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class TagContactDeleteResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TagContactListRequest(_message.Message):
    __slots__ = ("contact_id_string_value_deprecated", "contact_id")
    CONTACT_ID_STRING_VALUE_DEPRECATED_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    contact_id_string_value_deprecated: _wrappers_pb2.StringValue
    contact_id: str
    def __init__(self, contact_id_string_value_deprecated: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ..., contact_id: _Optional[str] = ...) -> None: ...

class TagContactListResponse(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ids: _Optional[_Iterable[str]] = ...) -> None: ...
