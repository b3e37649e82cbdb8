import pytest

from bridge.chat import WeChatRoom
from bridge.config.rooms import RoomSettings
from bridge.errors import RoomNotAvailable
from bridge.wechat.rooms import RoomDirectory

ROOMS = [
    WeChatRoom("r1", "老家群", 5),
    WeChatRoom("r2", "Twins", 3),
    WeChatRoom("r3", "Twins", 4),
    WeChatRoom("r4", "Happy Family", 6),
]


def directory(**rooms: RoomSettings) -> RoomDirectory:
    d = RoomDirectory()
    d.update(ROOMS, rooms)
    return d


def test_exact_topic_and_id() -> None:
    d = directory(family=RoomSettings(topic="Happy Family"), by_id=RoomSettings(id="r1"))
    assert d.resolve("family") == ROOMS[3]
    assert d.resolve("by_id") == ROOMS[0]


def test_substring_is_not_a_match() -> None:
    d = directory(home=RoomSettings(topic="家"))
    with pytest.raises(RoomNotAvailable, match="the account is in no room named '家'"):
        d.resolve("home")


def test_two_rooms_with_one_name_is_an_error_naming_both() -> None:
    d = directory(twins=RoomSettings(topic="Twins"))
    with pytest.raises(RoomNotAvailable, match=r"2 rooms are named 'Twins' \(r2, r3\); configure it by id instead"):
        d.resolve("twins")


def test_resolution_follows_the_latest_room_list() -> None:
    d = directory(family=RoomSettings(topic="Happy Family"))
    d.update([WeChatRoom("r9", "Happy Family", 6)], {"family": RoomSettings(topic="Happy Family")})
    assert d.resolve("family").id == "r9"
