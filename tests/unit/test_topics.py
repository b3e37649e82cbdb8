import paho.mqtt.client as paho
import pytest

from bridge.errors import TopicFilterError
from bridge.topics import TopicFilter, Topics


@pytest.mark.parametrize(
    ("filter_text", "topic", "expected"),
    [
        ("home/+/door", "home/front/door", ("front",)),
        ("home/+/door", "home/front/window", None),
        ("home/#", "home", ("",)),
        ("home/#", "home/a/b", ("a/b",)),
        ("#", "$SYS/broker/uptime", None),
        ("+/x", "$SYS/x", None),
        ("$SYS/#", "$SYS/x", ("x",)),
        ("a/+", "a/", ("",)),
        ("a/+", "a", None),
    ],
)
def test_filter_matches_like_mqtt(filter_text: str, topic: str, expected: tuple[str, ...] | None) -> None:
    match = TopicFilter.parse(filter_text).match(topic)
    assert (match.wildcards if match else None) == expected
    assert (match is not None) == paho.topic_matches_sub(filter_text, topic)


def test_named_levels_capture_by_name_and_subscribe_as_plus() -> None:
    parsed = TopicFilter.parse("home/{area}/{device}/state")
    assert parsed.mqtt == "home/+/+/state"
    match = parsed.match("home/kitchen/fridge/state")
    assert match is not None
    assert dict(match.named) == {"area": "kitchen", "device": "fridge"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "cannot be empty"),
        ("a/#/b", "'#' must be the last level"),
        ("a/b+", "must fill a whole level"),
        ("a/{1x}", "named level"),
        ("{a}/{a}", "used twice"),
    ],
)
def test_bad_filters_are_refused_with_a_reason(text: str, fragment: str) -> None:
    with pytest.raises(TopicFilterError, match=fragment):
        TopicFilter.parse(text)


def test_contract_topics_and_direct_send_keys() -> None:
    topics = Topics("wechat")
    assert topics.delivery == "wechat/bridge/delivery"
    assert topics.state == "wechat/bridge/state"
    assert topics.send_filter == "wechat/send/#"
    assert topics.send("family") == "wechat/send/family"
    assert topics.direct_send_key("wechat/send/family") == "family"
    assert topics.direct_send_key("wechat/send/a/b") == "a/b"  # reaches the bridge, to be rejected
    assert topics.direct_send_key("wechat/send") == ""
    assert topics.direct_send_key("other/send/family") is None
    with pytest.raises(TopicFilterError):
        topics.send("a/b")
    with pytest.raises(TopicFilterError):
        Topics("wechat/#")
