"""Property-based and fuzz tests: our code against paho's, and bad input never escaping our error types.

The budgets are fixed (`max_examples`, no deadline flakiness) so CI time stays predictable.
"""

from __future__ import annotations

import string
from pathlib import Path

import paho.mqtt.client as paho
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.config.loader import load_config
from bridge.config.models import ENV_TOKEN
from bridge.errors import BridgeError, ConfigError, EventRejected, TopicFilterError
from bridge.events import InboundMessage, Queued, Rejected
from bridge.pipeline import plan as pipelines
from bridge.pipeline.payloads import decode_payload
from bridge.pipeline.runtime import Runtime
from bridge.pipeline.templates import TemplateEngine
from bridge.topics import TopicFilter

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

level_text = st.text(alphabet=string.ascii_lowercase[:3] + "$ é/", min_size=0, max_size=3).filter(
    lambda s: "/" not in s)
topics = st.lists(level_text, min_size=1, max_size=5).map("/".join)
filter_levels = st.one_of(level_text, st.just("+"), st.just("#"))
filters = st.lists(filter_levels, min_size=1, max_size=5).map("/".join)


@FUZZ
@given(filters, topics)
def test_topic_matching_agrees_with_paho(filter_text: str, topic: str) -> None:
    try:
        parsed = TopicFilter.parse(filter_text)
    except TopicFilterError:
        # Only filters MQTT forbids are refused: empty, or '#' not last.
        assert filter_text == "" or "#" in filter_text.split("/")[:-1]
        return
    assert (parsed.match(topic) is not None) == paho.topic_matches_sub(filter_text, topic), (filter_text, topic)


@FUZZ
@given(st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_decoding_raises_only_our_error(payload: bytes) -> None:
    try:
        decoded = decode_payload(payload, max_bytes=256)
    except EventRejected:
        return
    assert decoded.raw == payload.decode("utf-8")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)
TEMPLATES = [
    "{{ payload.state }} at {{ payload.ENERGY.Total | round(1) }}",
    "{% for k, v in payload.items() %}{{ k }}={{ v }} {% endfor %}",
    "{{ payload[0] * 3 }}{{ payload | length }}",
    "{{ '%5.1f' % payload.value }} {{ payload.value / 3 }}",
    "{{ (payload ~ '') * 2 }} {{ raw | upper }}",
]


@FUZZ
@given(st.sampled_from(TEMPLATES), json_values)
def test_rendering_raises_only_our_error(source: str, value: object) -> None:
    template = TemplateEngine().compile(source)
    try:
        text = template.render({"payload": value, "raw": str(value), "topic": "t", "wildcards": []})
    except EventRejected:
        return
    assert isinstance(text, str) and text.strip()


CONFIG_KEYS = st.sampled_from(["mqtt", "wechaty", "rooms", "routes", "include", "limits", "log_level", "bogus"])
yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 70000) | st.text(alphabet="ab{}#+/ $%:", max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["topic", "id", "rooms", "template", "when", "name", "port", "host", "a"]), children,
        max_size=4),
    max_leaves=20,
)


@FUZZ
@given(st.dictionaries(CONFIG_KEYS, yaml_values, max_size=6) | yaml_values | st.text(max_size=80))
def test_the_config_loader_answers_every_document_with_config_errors(
        tmp_path_factory: object, document: object) -> None:
    directory = Path(tmp_path_factory.mktemp("fuzz"))  # type: ignore[attr-defined]
    path = directory / "config.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    try:
        config = load_config(path, {ENV_TOKEN: "t"})
        Runtime.compile(config)
    except ConfigError as exc:
        assert exc.problems and all(Path(p.file).parent == directory for p in exc.problems), exc.problems


FUZZ_CONFIG = """\
rooms: {a: {topic: A}, b: {id: "b@chatroom", allow_direct: false}}
routes:
  - {topic: "x/{dev}/state", rooms: [a, b], when: "payload.on is defined", template: "{{ dev }}: {{ payload.on }}"}
  - {topic: "x/#", rooms: [a], template: "{{ raw }} {{ wildcards }}"}
"""


@FUZZ
@given(st.sampled_from(["x/d1/state", "x/y", "wechat/send/a", "wechat/send/b", "wechat/send/a/b", "wechat/send"]),
       st.binary(max_size=120) | json_values.map(lambda v: __import__("json").dumps(v).encode()), st.booleans())
def test_the_payload_path_never_raises_and_answers_every_target(tmp_path_factory: object, topic: str, payload: bytes,
                                                                retain: bool) -> None:
    directory = Path(tmp_path_factory.mktemp("fuzz"))  # type: ignore[attr-defined]
    (directory / "c.yaml").write_text(FUZZ_CONFIG)
    runtime = Runtime.compile(load_config(directory / "c.yaml", {ENV_TOKEN: "t"}))
    try:
        outcomes = pipelines.plan(runtime, InboundMessage(topic=topic, payload=payload, retain=retain,
                                                          received_at=0.0)).outcomes
    except BridgeError as exc:  # pragma: no cover - the point is that this never happens
        raise AssertionError(f"plan raised {exc!r}") from exc
    for outcome in outcomes:
        assert isinstance(outcome, Queued | Rejected)
        if isinstance(outcome, Rejected):
            assert outcome.error


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300), st.lists(st.text(min_size=1, max_size=8), max_size=3),
       st.none() | st.binary(max_size=200), st.text(max_size=40))
def test_the_outbox_round_trips_arbitrary_text_and_attachments(
        text: str, mentions: list[str], data: bytes | None, name: str) -> None:
    from bridge.events import Attachment, Delivery, DeliveryPolicy
    from bridge.outbox.records import Arrival, IdempotencyKey
    from bridge.outbox.store import Outbox

    attachment = Attachment(kind="file", name=name, data=data) if data is not None else None
    delivery = Delivery(event_id="e", route="r", source_topic="t/\u2603", room_key="room", text=text, created_at=1.0,
                        mentions=tuple(mentions), attachment=attachment)
    box = Outbox.open(":memory:")
    try:
        box.accept([Arrival(key=IdempotencyKey("k", False), dup=False, needs_ack=True,
                            outcomes=(Queued(delivery=delivery, policy=DeliveryPolicy(attempts=1, backoff=1.0,
                                                                                      max_backoff=1.0)),),
                            received_at=1.0)], now=1.0)
        row = box.claim(2.0)
        assert row is not None
        assert (row.text, row.mentions, row.attachment, row.source_topic) == (
            text, tuple(mentions), attachment, "t/\u2603")
    finally:
        box.close()
