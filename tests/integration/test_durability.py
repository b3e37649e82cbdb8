"""Nothing is lost: the bridge under fault injection, on the real broker and the mock gateway.

Each test publishes events with unique ids to a route whose text is `evt <id>`, injects a
fault, and compares what the gateway recorded with what was published; every assertion
message states published / delivered / duplicated / lost. Tests that stop or restart the
broker or the gateway use their own instance of it.

Exactly once into WeChat has one exception no bridge can close: a send the gateway had
carried out when the bridge was killed, or the connection broke, before the outcome was
recorded ("in doubt"). The bridge logs each such delivery and sends it again (a duplicate beats
a lost alarm); the tests allow a duplicate only for an event the bridge logged as in doubt.
"""

from __future__ import annotations

import itertools
import json
import re
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import DELIVERY, FAMILY, OPS, WORLD, BridgeFactory
from tests.support.bridge_process import BridgeProcess
from tests.support.broker import MosquittoBroker
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient, forget_session, retained
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

TOPIC = "durability/load"
LOGIN = "wechat/bridge/login"

ROUTES = """\
rooms:
  ops: {id: "room-ops@chatroom"}
  family: {id: "room-family@chatroom"}
routes:
  - name: load
    topic: "durability/load"
    rooms: [ops]
    template: "evt {{ payload.id }}"
  - name: short-lived
    topic: "durability/short"
    rooms: [ops]
    expire_after: 1s
    template: "evt {{ payload.id }}"
  - name: flaky
    topic: "durability/flaky"
    rooms: [family]
    retry: {attempts: 3, backoff: 500ms}
    template: "evt {{ payload.id }}"
"""



@dataclass
class Tally:
    published: int
    delivered: int
    duplicated: list[str]
    lost: list[str]

    def __str__(self) -> str:
        return (f"published {self.published}, delivered {self.delivered}, "
                f"duplicated {len(self.duplicated)} {self.duplicated[:5]}, lost {len(self.lost)} {self.lost[:5]}")


def tally(published: list[str], texts: Iterable[str]) -> Tally:
    counts = Counter(text.removeprefix("evt ") for text in texts if text.startswith("evt "))
    return Tally(
        published=len(published),
        delivered=sum(1 for i in published if counts[i] >= 1),
        duplicated=sorted(i for i in published if counts[i] > 1),
        lost=sorted(i for i in published if counts[i] == 0),
    )


def texts_in(records: Iterable[dict[str, Any]], room: str = OPS) -> list[str]:
    return [r["text"] for r in records if r.get("room_id") == room and r.get("text")]


def durable(broker: MosquittoBroker, run_id: str) -> TestClient:
    """The producer and observer of a test: a persistent session, so a broker restart loses nothing."""
    return TestClient(broker.host, broker.port, [DELIVERY, LOGIN], client_id=f"producer-{run_id}", persistent=True)


def send(client: TestClient, topic: str, value: Any) -> int:
    """Publish without waiting for the broker (paho keeps it while the broker is away); the mid."""
    return client.publish_json(topic, value, wait=False)


def wait_logged_out(client: TestClient) -> None:
    client.wait_for(lambda m: m.topic == LOGIN and m.json()["state"] == "logged_out", what="bridge/login logged_out")


def reports_by_id(client: TestClient) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for message in client.messages(DELIVERY):
        report = json.loads(message.payload)
        found.setdefault(report["id"], []).append(report)
    return found


def wait_reported(client: TestClient, ids: list[str], *, timeout: float = 60.0) -> dict[str, list[dict[str, Any]]]:
    def done() -> bool:
        reports = reports_by_id(client)
        return all(i in reports for i in ids)

    try:
        wait_for(done, timeout=timeout, what="a report for every event")
    except AssertionError:
        missing = [i for i in ids if i not in reports_by_id(client)]
        raise AssertionError(f"no report after {timeout} s for {len(missing)} of {len(ids)} events: "
                             f"{missing[:10]}") from None
    return reports_by_id(client)


def assert_one_status(reports: dict[str, list[dict[str, Any]]], ids: list[str], status: str, summary: str) -> int:
    """Each event has reports of exactly one status; returns how many extra identical copies came."""
    wrong = {i: sorted({r["status"] for r in reports[i]}) for i in ids if {r["status"] for r in reports[i]} != {status}}
    assert not wrong, f"events whose reports are not just {status!r}: {dict(list(wrong.items())[:5])}; {summary}"
    return sum(len(reports[i]) - 1 for i in ids)


def in_doubt(bridge: BridgeProcess) -> set[str]:
    """The events whose send ended in doubt (cut off, timed out, or under way at a kill): read from
    the outbox's `doubts` column, the count that allows one of them, and only them, a second copy."""
    return {row["event_id"] for row in bridge.outbox_rows() if row["doubts"]}


def batch_sizes(*bridges: BridgeProcess) -> str:
    sizes = [int(m) for b in bridges for m in re.findall(r"stored (\d+) messages in one commit", b.log())]
    if not sizes:
        return "no commits"
    return f"{len(sizes)} intake commits, mean batch {statistics.mean(sizes):.1f}, max {max(sizes)}"


class Producer:
    """Publishes `ids` from a thread, `per_tick` events every `tick` seconds."""

    def __init__(self, client: TestClient, ids: list[str], *, topic: str = TOPIC, per_tick: int = 10,
                 tick: float = 0.02) -> None:
        self.mids: list[int] = []
        self._thread = threading.Thread(target=self._run, args=(client, ids, topic, per_tick, tick), daemon=True)
        self._thread.start()

    def _run(self, client: TestClient, ids: list[str], topic: str, per_tick: int, tick: float) -> None:
        for index, event_id in enumerate(ids):
            self.mids.append(send(client, topic, {"id": event_id}))
            if index % per_tick == per_tick - 1:
                time.sleep(tick)

    def join(self) -> None:
        self._thread.join(30)


@pytest.fixture
def run_id() -> str:
    return uuid.uuid4().hex[:6]


@pytest.mark.slow
def test_sigkill_mid_stream_and_restart_delivers_every_event_once(
        start_bridge: BridgeFactory, broker: MosquittoBroker, gateway: MockGateway, tmp_path: Path,
        run_id: str) -> None:
    client_id, outbox = f"bridge-kill-{run_id}", tmp_path / "kill" / "outbox.sqlite3"
    first = second = start_bridge(ROUTES, client_id=client_id, outbox=outbox)
    gateway.clear()
    client = durable(broker, run_id)
    try:
        ids = [f"k{run_id}-{i:03d}" for i in range(500)]
        started = time.monotonic()
        producer = Producer(client, ids)
        wait_for(lambda: len(gateway.messages()) >= 150, timeout=30, what="150 sends before the kill")
        first.kill()
        at_kill = f"killed after {len(gateway.messages())} sends and {len(producer.mids)} publishes"
        second = start_bridge(ROUTES, client_id=client_id, outbox=outbox)
        producer.join()
        client.wait_published(producer.mids)
        reports = wait_reported(client, ids)
        elapsed = time.monotonic() - started
        result = tally(ids, texts_in(gateway.messages()))
        doubt = in_doubt(second)
        summary = (f"{result}; {at_kill}; in doubt at restart: {sorted(doubt)}; {batch_sizes(first, second)}; "
                   f"{elapsed:.1f} s in all")
        assert not result.lost, summary
        assert set(result.duplicated) <= doubt, summary
        copies = assert_one_status(reports, ids, "delivered", summary)
        print(f"\nSIGKILL: {summary}; {copies} report(s) published twice")
    finally:
        client.close()
        second.stop()  # before its session is ended: taking its client id over would disconnect it
        forget_session(broker.host, broker.port, client_id)


@pytest.mark.slow
def test_broker_restart_mid_stream_loses_and_doubles_nothing(
        start_bridge: BridgeFactory, gateway: MockGateway, run_id: str) -> None:
    own = MosquittoBroker(persistence=True).start()
    client: TestClient | None = None
    try:
        bridge = start_bridge(ROUTES, broker_=own)
        gateway.clear()
        client = durable(own, run_id)
        ids = [f"b{run_id}-{i:03d}" for i in range(500)]
        producer = Producer(client, ids)
        wait_for(lambda: len(gateway.messages()) >= 100, timeout=30, what="100 sends before the broker stops")
        own.stop()
        at_stop = f"broker stopped after {len(gateway.messages())} sends and {len(producer.mids)} publishes"
        time.sleep(2)
        own.start()
        producer.join()
        client.wait_published(producer.mids)
        reports = wait_reported(client, ids)
        result = tally(ids, texts_in(gateway.messages()))
        suppressed = bridge.log().count("Notification suppressed")
        summary = f"{result}; {at_stop}; {suppressed} redeliveries suppressed; {batch_sizes(bridge)}"
        assert not result.lost and not result.duplicated, summary
        copies = assert_one_status(reports, ids, "delivered", summary)
        assert bridge.running, summary
        print(f"\nbroker restart: {summary}; {copies} report(s) published twice")
    finally:
        if client is not None:
            client.close(forget=False)
        own.close()


@pytest.mark.slow
def test_gateway_killed_during_a_burst_queued_events_go_out_after_reconnect(
        start_bridge: BridgeFactory, broker: MosquittoBroker, run_id: str) -> None:
    gw = MockGateway().start(WORLD)
    client = durable(broker, run_id)
    try:
        bridge = start_bridge(ROUTES, gateway_=gw)
        gw.clear()
        ids = [f"g{run_id}-{i:03d}" for i in range(300)]
        mids = [send(client, TOPIC, {"id": event_id}) for event_id in ids]
        wait_for(lambda: len(gw.messages()) >= 50, timeout=30, what="50 sends before the gateway is killed")
        gw.kill()
        before = [e for e in gw.events if e.get("event") == "sent"]
        time.sleep(1.0)
        gw.restart()
        client.wait_published(mids)
        reports = wait_reported(client, ids)
        result = tally(ids, texts_in(before) + texts_in(gw.messages()))
        doubt = in_doubt(bridge)
        summary = f"{result}; gateway killed after {len(before)} sends; in doubt: {sorted(doubt)}"
        assert not result.lost, summary
        assert set(result.duplicated) <= doubt, summary
        assert_one_status(reports, ids, "delivered", summary)
        # The bridge saw the gateway go and come back (and so resolved its rooms again), on one process.
        states = [state for state, _ in itertools.groupby(m.json()["state"] for m in client.messages(LOGIN))]
        gone = states[states.index("logged_in"):]
        assert bridge.running and len(gone) >= 3 and gone[-1] == "logged_in", (states, summary)
        print(f"\ngateway kill: {summary}")
    finally:
        client.close()
        gw.stop()


def test_logged_out_deliveries_wait_in_the_outbox_and_go_out_after_login(
        start_bridge: BridgeFactory, broker: MosquittoBroker, gateway: MockGateway, run_id: str) -> None:
    bridge = start_bridge(ROUTES)
    gateway.clear()
    client = durable(broker, run_id)
    ids = [f"l{run_id}-{i}" for i in range(5)]
    marker = f"l{run_id}-marker"
    try:
        gateway.logout()
        try:
            wait_logged_out(client)
            client.wait_published([send(client, TOPIC, {"id": i}) for i in ids])
            bridge.wait_outbox(lambda rows: {r["event_id"] for r in rows if r["status"] == "pending"} >= set(ids),
                               what="the events waiting")
            # A marker published after them ends `expired` 1 s later, still logged out: the worker went
            # through the outbox meanwhile, so no report of the others came because none was due.
            client.wait_published([send(client, "durability/short", {"id": marker})])
            wait_reported(client, [marker], timeout=15)
            early = tally(ids, texts_in(gateway.messages()))
            assert early.delivered == 0 and not (reports_by_id(client).keys() - {marker}), f"while logged out: {early}"
        finally:
            gateway.login()
        reports = wait_reported(client, ids, timeout=30)
        result = tally(ids, texts_in(gateway.messages()))
        assert not result.lost and not result.duplicated, f"after login: {result}"
        assert_one_status(reports, ids, "delivered", str(result))
    finally:
        client.close()


def test_deliveries_past_expire_after_end_expired_while_logged_out(
        start_bridge: BridgeFactory, broker: MosquittoBroker, gateway: MockGateway, run_id: str) -> None:
    start_bridge(ROUTES)
    gateway.clear()
    client = durable(broker, run_id)
    ids = [f"x{run_id}-{i}" for i in range(3)]
    sentinel = f"after-login-{run_id}"
    try:
        gateway.logout()
        try:
            wait_logged_out(client)
            client.wait_published([send(client, "durability/short", {"id": i}) for i in ids])
            reports = wait_reported(client, ids, timeout=15)  # expire_after is 1 s; still logged out
        finally:
            gateway.login()
        send(client, TOPIC, {"id": sentinel})
        wait_reported(client, [sentinel], timeout=30)
        result = tally(ids, texts_in(gateway.messages()))
        summary = f"expired events: {result}"
        assert result.delivered == 0, summary
        assert_one_status(reports, ids, "expired", summary)
        error = reports[ids[0]][0]["error"]
        assert error.startswith("not delivered within 1s (expire_after) after 0 attempt(s)"), error
        assert tally([sentinel], texts_in(gateway.messages())).delivered == 1
    finally:
        client.close()


def test_failing_sends_are_retried_then_failed_or_delivered_when_the_room_recovers(
        start_bridge: BridgeFactory, broker: MosquittoBroker, gateway: MockGateway, run_id: str) -> None:
    bridge = start_bridge(ROUTES)
    gateway.clear()
    client = durable(broker, run_id)
    doomed, rescued = f"f{run_id}-doomed", f"f{run_id}-rescued"
    gateway.fail_room(FAMILY)
    try:
        send(client, "durability/flaky", {"id": doomed})
        [failed] = wait_reported(client, [doomed], timeout=15)[doomed]
        assert failed["status"] == "failed", failed
        assert failed["error"].startswith("gave up after 3 attempt(s); last error: WeChat refused the message"), failed
        for attempt in (1, 2):
            assert f"delivery {doomed} to room 'family': attempt {attempt} of 3 failed" in bridge.log()

        send(client, "durability/flaky", {"id": rescued})
        bridge.wait_outbox(lambda rows: any(r["event_id"] == rescued and r["status"] == "pending" and r["attempts"] >= 1
                                            for r in rows), what=f"{rescued}'s first attempt failed", timeout=15)
        gateway.fail_room(FAMILY, False)
        [delivered] = wait_reported(client, [rescued], timeout=15)[rescued]
        assert (delivered["status"], delivered["error"]) == ("delivered", None), delivered
        assert f"delivered {rescued} to room 'family' at attempt 2" in bridge.log()
    finally:
        gateway.fail_room(FAMILY, False)
        client.close()
    result = tally([doomed, rescued], texts_in(gateway.messages(), FAMILY))
    assert (result.lost, result.duplicated) == ([doomed], []), f"{result} (only the doomed one may be lost)"


@pytest.mark.slow
def test_bridge_started_before_the_broker_connects_once_it_exists(
        start_bridge: BridgeFactory, gateway: MockGateway, run_id: str) -> None:
    later = MosquittoBroker()  # its port is chosen, nothing listens on it yet
    client: TestClient | None = None
    try:
        bridge = start_bridge(ROUTES, broker_=later, wait_ready=False)
        bridge.wait_started()  # then it tries the broker, which comes up 2 s later
        time.sleep(2)
        assert bridge.running, "the bridge must keep retrying, not exit"
        assert f"MQTT: broker 127.0.0.1:{later.port}" in bridge.log()
        later.start()
        wait_for(lambda: "wechat/bridge/rooms" in retained(later.host, later.port, "wechat/bridge/#"), timeout=40,
                 what="the bridge connected to the late broker, its rooms resolved")
        gateway.clear()
        client = durable(later, run_id)
        ids = [f"n{run_id}-{i}" for i in range(3)]
        client.wait_published([send(client, TOPIC, {"id": i}) for i in ids])
        reports = wait_reported(client, ids, timeout=20)
        result = tally(ids, texts_in(gateway.messages()))
        assert not result.lost and not result.duplicated, str(result)
        assert_one_status(reports, ids, "delivered", str(result))
    finally:
        if client is not None:
            client.close(forget=False)
        later.close()


@pytest.mark.slow
def test_sigterm_mid_stream_finishes_in_flight_work_and_restart_resumes(
        start_bridge: BridgeFactory, broker: MosquittoBroker, gateway: MockGateway, tmp_path: Path,
        run_id: str) -> None:
    client_id, outbox = f"bridge-term-{run_id}", tmp_path / "term" / "outbox.sqlite3"
    first = second = start_bridge(ROUTES, client_id=client_id, outbox=outbox)
    gateway.clear()
    client = durable(broker, run_id)
    try:
        ids = [f"t{run_id}-{i:03d}" for i in range(300)]
        producer = Producer(client, ids)
        wait_for(lambda: len(gateway.messages()) >= 100, timeout=30, what="100 sends before SIGTERM")
        code = first.stop()
        at_stop = f"stopped after {len(gateway.messages())} sends and {len(producer.mids)} publishes"
        log = first.log()
        assert code == 0, f"exit code {code}:\n{log[-3000:]}"
        order = [log.find(line) for line in ("shutting down", "outbox at shutdown", "outbox closed")]
        assert -1 not in order and order == sorted(order), f"shutdown log out of order:\n{log[-3000:]}"
        second = start_bridge(ROUTES, client_id=client_id, outbox=outbox)
        producer.join()
        client.wait_published(producer.mids)
        reports = wait_reported(client, ids)
        result = tally(ids, texts_in(gateway.messages()))
        summary = f"{result}; {at_stop}; in doubt at restart: {sorted(in_doubt(second))}"
        # A clean stop leaves nothing in doubt, so here exactly once has no exception.
        assert not result.lost and not result.duplicated and not in_doubt(second), summary
        copies = assert_one_status(reports, ids, "delivered", summary)
        print(f"\nSIGTERM: {summary}; {copies} report(s) published twice")
    finally:
        client.close()
        second.stop()  # before its session is ended: taking its client id over would disconnect it
        forget_session(broker.host, broker.port, client_id)
