"""The demo behind ./scripts/demo: the real bridge between a local broker and the mock WeChat gateway.

It starts mosquitto on a free port, the official wechaty puppet-service gateway serving the mock
puppet (rooms "Happy Family" and "Ops"), and `python -m bridge run` on mappings/example.yaml;
then it publishes sample events the way Home Assistant, Tasmota and a shell script would, and
prints what arrived in WeChat and the delivery report of each event.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.bridge_process import BridgeProcess
from tests.support.broker import MosquittoBroker
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient

ROOT = Path(__file__).resolve().parent.parent
WORLD = {
    "user": {"id": "bot", "name": "Bridge Bot"},
    "contacts": [{"id": "alice", "name": "Alice"}],
    "rooms": [
        {"id": "room-family@chatroom", "topic": "Happy Family", "members": ["alice"]},
        {"id": "room-ops@chatroom", "topic": "Ops", "members": ["alice"]},
    ],
}
EVENTS: list[tuple[str, str]] = [
    ("home/front/door", json.dumps({"state": "open", "id": "door-1"})),
    ("home/front/door", json.dumps({"state": "closed", "id": "door-2"})),  # `when` is false: no message
    ("tele/plug1/SENSOR", json.dumps({"ENERGY": {"Today": 1.7, "Power": 42}, "id": "energy-1"})),
    ("scripts/backup", "finished in 4 min, 12 GB"),
    ("wechat/send/family", json.dumps({"text": "Dinner is ready!", "id": "direct-1"})),
    ("tele/plug2/SENSOR", json.dumps({"POWER": "ON", "id": "energy-2"})),  # no ENERGY: rejected
    ("wechat/send/nobody", json.dumps({"text": "hello?", "id": "direct-2"})),  # unknown room key: rejected
]
EXPECTED_REPORTS = 6


@dataclass
class DemoSetup:
    workdir: Path
    broker: MosquittoBroker
    gateway: MockGateway
    bridge: BridgeProcess
    #: Subscribed to the delivery reports.
    client: TestClient


@contextlib.contextmanager
def demo_setup(extra_config: str = "") -> Iterator[DemoSetup]:
    """mosquitto, the mock gateway serving WORLD and the bridge on mappings/example.yaml, ready to send.

    Everything it starts is stopped, and its temporary directory removed, however the block ends
    (a failure, Ctrl-C): a demo run leaves nothing behind."""
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wechat-mqtt-bridge-demo-")))
        broker = MosquittoBroker().start()
        stack.callback(broker.close)
        gateway = MockGateway().start(WORLD)
        stack.callback(gateway.stop)
        config = workdir / "config.yaml"
        config.write_text(
            f"mqtt: {{host: 127.0.0.1, port: {broker.port}, base_topic: wechat}}\n"
            f"wechaty: {{endpoint: '{gateway.endpoint}', token: '{gateway.token}'}}\n"
            f"include: ['{ROOT / 'mappings' / 'example.yaml'}']\n"
            # A fresh outbox per run: a kept one would remember the sample ids and suppress them as repeats.
            f"outbox: {{path: '{workdir / 'outbox.sqlite3'}'}}\n"
            "homeassistant: {discovery: false}\n" + extra_config
        )
        bridge = BridgeProcess(config)
        stack.callback(bridge.stop)
        client = TestClient(broker.host, broker.port, ["wechat/bridge/delivery"])
        stack.callback(client.close)
        try:
            bridge.start(wait_ready=True, timeout=60)  # until it has resolved its rooms
            yield DemoSetup(workdir, broker, gateway, bridge, client)
        except BaseException:
            # The log is about to be removed with the directory: show its end while it can be read.
            print(f"\nthe demo failed; the end of the bridge's log:\n{bridge.log()[-3000:]}", file=sys.stderr)
            raise


def main() -> int:
    print("starting mosquitto, the mock WeChat gateway and the bridge ...")
    with demo_setup() as demo:
        client, gateway = demo.client, demo.gateway
        print("bridge is up\n")
        print("published:")
        for topic, payload in EVENTS:
            print(f"  {topic:<22} {payload}")
            client.publish(topic, payload)
        reports = client.wait_for(lambda m: True, count=EXPECTED_REPORTS, timeout=30, what="delivery reports")
        time.sleep(0.5)  # a moment for any report beyond the expected ones to show up
        print("\narrived in WeChat:")
        for message in gateway.messages():
            print(f"  [{message['room_topic']}] {message['text']}")
        print("\ndelivery reports on wechat/bridge/delivery:")
        for report in client.messages("wechat/bridge/delivery"):
            body = report.json()
            error = f"  ({body['error']})" if body["error"] else ""
            print(f"  {body['id']:<34} {body['status']:<10} room={body['room']['key']}{error}")
        return 0 if len(reports) == EXPECTED_REPORTS else 1


if __name__ == "__main__":
    sys.exit(main())
