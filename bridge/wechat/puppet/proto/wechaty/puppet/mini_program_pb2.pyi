from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class MiniProgramPayload(_message.Message):
    __slots__ = ("appid", "description", "page_path", "icon_url", "share_id", "thumb_url", "title", "username", "thumb_key")
    APPID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PAGE_PATH_FIELD_NUMBER: _ClassVar[int]
    ICON_URL_FIELD_NUMBER: _ClassVar[int]
    SHARE_ID_FIELD_NUMBER: _ClassVar[int]
    THUMB_URL_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    THUMB_KEY_FIELD_NUMBER: _ClassVar[int]
    appid: str
    description: str
    page_path: str
    icon_url: str
    share_id: str
    thumb_url: str
    title: str
    username: str
    thumb_key: str
    def __init__(self, appid: _Optional[str] = ..., description: _Optional[str] = ..., page_path: _Optional[str] = ..., icon_url: _Optional[str] = ..., share_id: _Optional[str] = ..., thumb_url: _Optional[str] = ..., title: _Optional[str] = ..., username: _Optional[str] = ..., thumb_key: _Optional[str] = ...) -> None: ...
