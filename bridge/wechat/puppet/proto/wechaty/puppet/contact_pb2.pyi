from google.protobuf import wrappers_pb2 as _wrappers_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ContactGender(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONTACT_GENDER_UNSPECIFIED: _ClassVar[ContactGender]
    CONTACT_GENDER_MALE: _ClassVar[ContactGender]
    CONTACT_GENDER_FEMALE: _ClassVar[ContactGender]

class ContactType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONTACT_TYPE_UNSPECIFIED: _ClassVar[ContactType]
    CONTACT_TYPE_PERSONAL: _ClassVar[ContactType]
    CONTACT_TYPE_OFFICIAL: _ClassVar[ContactType]
    CONTACT_TYPE_CORPORATION: _ClassVar[ContactType]
CONTACT_GENDER_UNSPECIFIED: ContactGender
CONTACT_GENDER_MALE: ContactGender
CONTACT_GENDER_FEMALE: ContactGender
CONTACT_TYPE_UNSPECIFIED: ContactType
CONTACT_TYPE_PERSONAL: ContactType
CONTACT_TYPE_OFFICIAL: ContactType
CONTACT_TYPE_CORPORATION: ContactType

class ContactListRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ContactListResponse(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ContactPayloadRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ContactPayloadResponse(_message.Message):
    __slots__ = ("id", "gender", "type", "name", "avatar", "address", "alias", "city", "friend", "province", "signature", "star", "weixin", "corporation", "title", "description", "coworker", "phones")
    ID_FIELD_NUMBER: _ClassVar[int]
    GENDER_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    AVATAR_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    FRIEND_FIELD_NUMBER: _ClassVar[int]
    PROVINCE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    STAR_FIELD_NUMBER: _ClassVar[int]
    WEIXIN_FIELD_NUMBER: _ClassVar[int]
    CORPORATION_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    COWORKER_FIELD_NUMBER: _ClassVar[int]
    PHONES_FIELD_NUMBER: _ClassVar[int]
    id: str
    gender: ContactGender
    type: ContactType
    name: str
    avatar: str
    address: str
    alias: str
    city: str
    friend: bool
    province: str
    signature: str
    star: bool
    weixin: str
    corporation: str
    title: str
    description: str
    coworker: bool
    phones: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., gender: _Optional[_Union[ContactGender, str]] = ..., type: _Optional[_Union[ContactType, str]] = ..., name: _Optional[str] = ..., avatar: _Optional[str] = ..., address: _Optional[str] = ..., alias: _Optional[str] = ..., city: _Optional[str] = ..., friend: bool = ..., province: _Optional[str] = ..., signature: _Optional[str] = ..., star: bool = ..., weixin: _Optional[str] = ..., corporation: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., coworker: bool = ..., phones: _Optional[_Iterable[str]] = ...) -> None: ...

class ContactSelfQRCodeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ContactSelfQRCodeResponse(_message.Message):
    __slots__ = ("qrcode",)
    QRCODE_FIELD_NUMBER: _ClassVar[int]
    qrcode: str
    def __init__(self, qrcode: _Optional[str] = ...) -> None: ...

class ContactSelfNameRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ContactSelfNameResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ContactSelfSignatureRequest(_message.Message):
    __slots__ = ("signature",)
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    signature: str
    def __init__(self, signature: _Optional[str] = ...) -> None: ...

class ContactSelfSignatureResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ContactAliasRequest(_message.Message):
    __slots__ = ("id", "alias_string_value_deprecated", "alias")
    ID_FIELD_NUMBER: _ClassVar[int]
    ALIAS_STRING_VALUE_DEPRECATED_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    id: str
    alias_string_value_deprecated: _wrappers_pb2.StringValue
    alias: str
    def __init__(self, id: _Optional[str] = ..., alias_string_value_deprecated: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ..., alias: _Optional[str] = ...) -> None: ...

class ContactAliasResponse(_message.Message):
    __slots__ = ("alias_string_value_deprecated", "alias")
    ALIAS_STRING_VALUE_DEPRECATED_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    alias_string_value_deprecated: _wrappers_pb2.StringValue
    alias: str
    def __init__(self, alias_string_value_deprecated: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ..., alias: _Optional[str] = ...) -> None: ...

class ContactAvatarRequest(_message.Message):
    __slots__ = ("id", "filebox_string_value_deprecated", "file_box")
    ID_FIELD_NUMBER: _ClassVar[int]
    FILEBOX_STRING_VALUE_DEPRECATED_FIELD_NUMBER: _ClassVar[int]
    FILE_BOX_FIELD_NUMBER: _ClassVar[int]
    id: str
    filebox_string_value_deprecated: _wrappers_pb2.StringValue
    file_box: str
    def __init__(self, id: _Optional[str] = ..., filebox_string_value_deprecated: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ..., file_box: _Optional[str] = ...) -> None: ...

class ContactAvatarResponse(_message.Message):
    __slots__ = ("filebox_string_value_deprecated", "file_box")
    FILEBOX_STRING_VALUE_DEPRECATED_FIELD_NUMBER: _ClassVar[int]
    FILE_BOX_FIELD_NUMBER: _ClassVar[int]
    filebox_string_value_deprecated: _wrappers_pb2.StringValue
    file_box: str
    def __init__(self, filebox_string_value_deprecated: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ..., file_box: _Optional[str] = ...) -> None: ...

class ContactPhoneRequest(_message.Message):
    __slots__ = ("contact_id", "phones")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    PHONES_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    phones: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, contact_id: _Optional[str] = ..., phones: _Optional[_Iterable[str]] = ...) -> None: ...

class ContactPhoneResponse(_message.Message):
    __slots__ = ("phones",)
    PHONES_FIELD_NUMBER: _ClassVar[int]
    phones: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, phones: _Optional[_Iterable[str]] = ...) -> None: ...

class ContactCorporationRemarkRequest(_message.Message):
    __slots__ = ("contact_id", "corporation_remark_string_value_deprecated", "corporation_remark")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    CORPORATION_REMARK_STRING_VALUE_DEPRECATED_FIELD_NUMBER: _ClassVar[int]
    CORPORATION_REMARK_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    corporation_remark_string_value_deprecated: _wrappers_pb2.StringValue
    corporation_remark: str
    def __init__(self, contact_id: _Optional[str] = ..., corporation_remark_string_value_deprecated: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ..., corporation_remark: _Optional[str] = ...) -> None: ...

class ContactCorporationRemarkResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ContactDescriptionRequest(_message.Message):
    __slots__ = ("contact_id", "description_string_value_deprecated", "description")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_STRING_VALUE_DEPRECATED_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    description_string_value_deprecated: _wrappers_pb2.StringValue
    description: str
    def __init__(self, contact_id: _Optional[str] = ..., description_string_value_deprecated: _Optional[_Union[_wrappers_pb2.StringValue, _Mapping]] = ..., description: _Optional[str] = ...) -> None: ...

class ContactDescriptionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
