"""Real components for integration tests: a mosquitto broker, the official mock gateway, the bridge."""

from __future__ import annotations

import itertools
import json
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.bridge_process import BridgeProcess
from tests.support.broker import MosquittoBroker
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient

#: The WeChat world every integration test starts from.
WORLD: dict[str, Any] = {
    "user": {"id": "bot", "name": "Bridge Bot"},
    "contacts": [{"id": "alice", "name": "Alice"}, {"id": "bob", "name": "Bob"}],
    "rooms": [
        {"id": "room-family@chatroom", "topic": "Happy Family", "members": ["alice", "bob"]},
        {"id": "room-ops@chatroom", "topic": "Ops", "members": ["bob"]},
        {"id": "room-laojia@chatroom", "topic": "老家群", "members": ["alice"]},
        {"id": "room-twin-a@chatroom", "topic": "Twins", "members": ["alice"]},
        {"id": "room-twin-b@chatroom", "topic": "Twins", "members": ["bob"]},
    ],
}

#: Room ids of WORLD that most tests send to, and the topic of every delivery report.
OPS = "room-ops@chatroom"
FAMILY = "room-family@chatroom"
DELIVERY = "wechat/bridge/delivery"

#: `queue` of health_check and bridge/info for a bridge that has stored nothing yet.
EMPTY_QUEUE = {"depth": 0, "oldest_age": None, "sending": 0, "held": 0, "unreported": 0,
               "finished": {"delivered": 0, "rejected": 0, "failed": 0, "expired": 0, "dropped": 0}}

#: Tests run unpaced unless they test pacing: the defaults would make every test take minutes.
UNPACED = "enabled: false"

_client_ids = itertools.count(1)


@pytest.fixture(scope="session")
def broker() -> Iterator[MosquittoBroker]:
    server = MosquittoBroker().start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def gateway() -> Iterator[MockGateway]:
    gw = MockGateway().start(WORLD)
    yield gw
    gw.stop()


BridgeFactory = Callable[..., BridgeProcess]


@pytest.fixture
def start_bridge(tmp_path: Path, broker: MosquittoBroker, gateway: MockGateway,
                 request: pytest.FixtureRequest) -> Iterator[BridgeFactory]:
    """Start `python -m bridge run` on a config made of `body` (rooms, routes) plus our connections;
    by default wait until it is ready to send (it publishes its resolved rooms: see BridgeProcess)."""
    started: list[BridgeProcess] = []

    def start(body: str, *, base_topic: str = "wechat", wait_ready: bool = True,
              broker_: MosquittoBroker | None = None, gateway_: MockGateway | None = None,
              mqtt_extra: str = "", wechaty_extra: str = "", env: dict[str, str] | None = None,
              client_id: str | None = None, outbox: Path | None = None, pacing: str = UNPACED) -> BridgeProcess:
        """Start a bridge; `client_id` and `outbox` default to new ones (pass the previous ones to restart
        "the same" bridge); `mqtt_extra`/`wechaty_extra` add YAML lines to those sections; `env` replaces
        the token environment variable; `pacing` is the body of the `pacing:` section."""
        mqtt, gw = broker_ or broker, gateway_ or gateway
        header = "\n".join([
            "mqtt:",
            "  host: 127.0.0.1",
            f"  port: {mqtt.port}",
            f"  client_id: {client_id or f'bridge-under-test-{next(_client_ids)}'}",
            f"  base_topic: {base_topic}",
            textwrap.indent(textwrap.dedent(mqtt_extra), "  "),
            "wechaty:",
            f"  endpoint: {gw.endpoint}",
            textwrap.indent(textwrap.dedent(wechaty_extra), "  "),
            "outbox:",
            f"  path: {outbox or tmp_path / f'outbox-{len(started)}.sqlite3'}",
            "pacing:",
            textwrap.indent(textwrap.dedent(pacing), "  "),
            "log_level: debug",
            "",
        ])
        path = tmp_path / f"config-{len(started)}.yaml"
        path.write_text(header + textwrap.dedent(body))
        process = BridgeProcess(path, env=env if env is not None else {"WECHATY_PUPPET_SERVICE_TOKEN": gw.token})
        started.append(process)
        return process.start(wait_ready=wait_ready)

    yield start
    failed = getattr(request.node, "rep_call", None)
    for process in started:
        process.stop()
        if failed is not None and failed.failed:
            print(f"--- bridge log {process.log_path} ---\n{process.log()[-5000:]}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def listener(broker: MosquittoBroker) -> Iterator[TestClient]:
    """A producer/observer client on the broker, subscribed to everything the bridge reports."""
    client = TestClient(broker.host, broker.port, ["wechat/bridge/#"])
    yield client
    client.close()


def publish(listener: TestClient, topic: str, texts: list[str], **extra: Any) -> list[str]:
    """Publish one JSON event `{"id", "text", **extra}` per text; returns their ids."""
    ids = []
    for text in texts:
        event_id = uuid.uuid4().hex[:8]
        listener.publish(topic, json.dumps({"id": event_id, "text": text, **extra}))
        ids.append(event_id)
    return ids


def reports(listener: TestClient, ids: list[str], timeout: float = 30.0) -> dict[str, dict[str, Any]]:
    """The delivery report of each of `ids` (one room each), by id, once all have arrived."""
    wanted = set(ids)
    found = listener.wait_for(lambda m: m.topic == DELIVERY and json.loads(m.payload)["id"] in wanted,
                              count=len(ids), timeout=timeout, what="delivery reports")
    return {m.json()["id"]: m.json() for m in found}
