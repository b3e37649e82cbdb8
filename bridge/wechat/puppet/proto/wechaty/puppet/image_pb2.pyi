from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class ImageType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMAGE_TYPE_UNSPECIFIED: _ClassVar[ImageType]
    IMAGE_TYPE_THUMBNAIL: _ClassVar[ImageType]
    IMAGE_TYPE_HD: _ClassVar[ImageType]
    IMAGE_TYPE_ARTWORK: _ClassVar[ImageType]
IMAGE_TYPE_UNSPECIFIED: ImageType
IMAGE_TYPE_THUMBNAIL: ImageType
IMAGE_TYPE_HD: ImageType
IMAGE_TYPE_ARTWORK: ImageType
