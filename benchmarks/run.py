"""Is the bridge ever the bottleneck? `.venv/bin/python -m benchmarks.run [--quick] [--only STEP]`

A benchmark, not a test: it starts its own mosquitto (tests/support/broker.py), the official mock
gateway (tests/support/gateway.py) and the bridge as a user runs it (`python -m bridge run`),
prints one table, and appends it with the machine, date and commit to benchmarks/RESULTS.md.

1. ingest: N ~200-byte JSON events published by `mosquitto_pub -l -q 1` as fast as it can, to a
   template route, WeChat logged out (nothing is sent): events/s from the first publish until the
   last is committed to the outbox (and acknowledged), against a bare aiomqtt QoS 1 subscriber
   receiving the same events from the same broker.
2. end to end, pacing off: delivered msgs/s for a burst, against our WeChat client alone sending
   the same number of texts one after another (the ceiling of one-at-a-time sends through the
   SDK and the mock gateway), and publish -> gateway receipt latency p50/p99 at a steady
   50 events/s (the gateway records `ts` in ms when its puppet gets the send).
   CPU time per event (the bridge process against the benchmark's own process running the bare
   loop) is printed beside it: it moves less than wall-clock rates on a busy machine.
3. memory: the bridge's RSS idle, and its peak (VmHWM) after 10,000 and after 100,000 events
   delivered end to end, fed in chunks so the backlog stays small: growth between the two is
   what a leak would show.
4. burst survival: a burst against a broker with mosquitto's default queue limits
   (max_queued_messages 1000): how many events reached a terminal state in the outbox.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt

from bridge.wechat import WeChatClient
from tests.integration.conftest import WORLD
from tests.support.bridge_process import BridgeProcess
from tests.support.broker import MosquittoBroker
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
OPS = "room-ops@chatroom"

ROUTES = """\
rooms:
  ops: {id: "room-ops@chatroom"}
routes:
  - name: bench
    topic: "bench/+/state"
    rooms: [ops]
    template: "{{ payload.device }} {{ payload.id }}: {{ payload.state }} at {{ payload.value }}"
"""


def event(i: int, run: str) -> str:
    """One ~200-byte JSON event."""
    body = {"id": f"{run}-{i}", "device": f"plug{i % 50}", "state": "on", "value": i * 0.5,
            "sent": 0, "pad": ""}
    text = json.dumps(body)
    body["pad"] = "x" * max(0, 200 - len(text))
    return json.dumps(body)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Bench:
    def __init__(self, broker: MosquittoBroker, gateway: MockGateway, workdir: Path) -> None:
        self.broker, self.gateway, self.workdir = broker, gateway, workdir
        self.count = 0

    def start_bridge(self, *, broker: MosquittoBroker | None = None) -> tuple[BridgeProcess, Path]:
        self.count += 1
        mqtt = broker or self.broker
        outbox = self.workdir / f"outbox-{self.count}.sqlite3"
        config = self.workdir / f"config-{self.count}.yaml"
        config.write_text(
            f"mqtt: {{host: 127.0.0.1, port: {mqtt.port}, client_id: bench-{self.count}}}\n"
            f"wechaty: {{endpoint: '{self.gateway.endpoint}', token: '{self.gateway.token}'}}\n"
            f"outbox: {{path: '{outbox}'}}\n"
            "pacing: {enabled: false}\n"
            "limits: {max_queued: 1000000}\n"
            "homeassistant: {discovery: false}\n"
            "log_level: info\n" + ROUTES)
        bridge = BridgeProcess(config).start()
        bridge.wait_for_log("configured rooms resolved", timeout=60)
        return bridge, outbox

    @staticmethod
    def pid(bridge: BridgeProcess) -> int:
        assert bridge._process is not None
        return bridge._process.pid


def count_rows(outbox: Path, where: str = "") -> int:
    db = sqlite3.connect(f"file:{outbox}?mode=ro", uri=True, timeout=5)
    try:
        return int(db.execute(f"SELECT COUNT(*) FROM deliveries {where}").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def wait_until(check: Callable[[], bool], timeout: float, poll: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(poll)
    return check()


def mosquitto_pub(broker: MosquittoBroker, topic: str, lines: list[str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-q", "1",
                                "-t", topic, "-l"], stdin=subprocess.PIPE)
    assert process.stdin is not None
    process.stdin.write(("\n".join(lines) + "\n").encode())
    process.stdin.close()
    return process


async def bare_subscriber(broker: MosquittoBroker, topic: str, lines: list[str]) -> tuple[float, float]:
    """Seconds from the first publish until a bare aiomqtt QoS 1 subscriber has every event, and
    the CPU seconds this process used meanwhile."""
    async with aiomqtt.Client(broker.host, broker.port, identifier=f"bare-{time.monotonic_ns()}") as client:
        await client.subscribe(topic, qos=1)
        started, cpu_started = time.monotonic(), time.process_time()
        publisher = await asyncio.to_thread(mosquitto_pub, broker, topic, lines)
        received = 0
        async for _ in client.messages:
            received += 1
            if received == len(lines):
                break
        elapsed, cpu = time.monotonic() - started, time.process_time() - cpu_started
        await asyncio.to_thread(publisher.wait)
    return elapsed, cpu


def ingest(bench: Bench, n: int, figures: dict[str, str]) -> None:
    topic = "bench/ingest/state"
    bare, bare_cpu = asyncio.run(bare_subscriber(bench.broker, topic, [event(i, "bare") for i in range(n)]))
    bridge, outbox = bench.start_bridge()
    try:
        pid = bench.pid(bridge)
        bench.gateway.logout()
        bridge.wait_for_log("logged out", timeout=30)
        lines = [event(i, "ingest") for i in range(n)]
        started, cpu_started = time.monotonic(), cpu_seconds(pid)
        publisher = mosquitto_pub(bench.broker, topic, lines)
        stored = wait_until(lambda: count_rows(outbox) >= n, timeout=300, poll=0.01)
        elapsed, cpu = time.monotonic() - started, cpu_seconds(pid) - cpu_started
        publisher.wait()
        assert stored, f"only {count_rows(outbox)} of {n} stored"
        figures[f"ingest {n} events, bridge (commit + PUBACK)"] = f"{n / elapsed:,.0f} events/s ({elapsed:.2f} s)"
        figures[f"ingest {n} events, bare aiomqtt QoS 1"] = f"{n / bare:,.0f} events/s ({bare:.2f} s)"
        figures["ingest ratio bridge / bare (target >= 50%)"] = f"{bare / elapsed:.0%}"
        figures["ingest CPU per event, bridge / bare"] = (
            f"{cpu / n * 1e6:.0f} us / {bare_cpu / n * 1e6:.0f} us ({bare_cpu / cpu:.0%})")
        figures[f"peak RSS after ingesting {n}"] = f"{rss_kb(pid, 'VmHWM') / 1024:.0f} MB"
    finally:
        bridge.stop()
        bench.gateway.login()


async def bare_sends(bench: Bench, n: int) -> float:
    """Msgs/s at the gateway for `n` texts sent one after another by our WeChat client alone: what
    the SDK, gRPC and the mock gateway allow, with no MQTT, outbox or report around the sends."""
    async def ignore(event: object) -> None:
        return None

    client = WeChatClient(endpoint=bench.gateway.endpoint, token=bench.gateway.token, send_timeout=30,
                          on_event=ignore, listening=lambda: False)
    logging.disable(logging.WARNING)  # the SDK's chatter, which the bridge process routes to its own log
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(client.wait_logged_in(), timeout=60)
        bench.gateway.clear()
        for i in range(n):
            await client.send_text(OPS, f"bare {i}")
        await asyncio.to_thread(wait_until, lambda: len(bench.gateway.messages()) >= n, 30, 0.1)
        sent = bench.gateway.messages()
        return n / ((sent[-1]["ts"] - sent[0]["ts"]) / 1000)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        logging.disable(logging.NOTSET)
        bench.gateway.clear()


def end_to_end(bench: Bench, burst: int, steady: int, figures: dict[str, str]) -> None:
    bare = asyncio.run(bare_sends(bench, burst))  # before the bridge: a gateway serves one client at a time
    figures[f"bare sequential SDK sends, {burst} texts"] = f"{bare:,.0f} msgs/s at the gateway"
    bridge, _ = bench.start_bridge()
    client = TestClient(bench.broker.host, bench.broker.port)
    try:
        pid = bench.pid(bridge)
        bench.gateway.clear()
        started = time.monotonic()
        publisher = mosquitto_pub(bench.broker, "bench/e2e/state", [event(i, "burst") for i in range(burst)])
        done = wait_until(lambda: len(bench.gateway.messages()) >= burst, timeout=300, poll=0.2)
        publisher.wait()
        sent = bench.gateway.messages()
        assert done, f"only {len(sent)} of {burst} delivered"
        span = (sent[-1]["ts"] - sent[0]["ts"]) / 1000
        total = time.monotonic() - started
        figures[f"end to end {burst}-event burst, pacing off (target >= 500)"] = (
            f"{burst / span:,.0f} msgs/s at the gateway ({burst / total:,.0f}/s incl. start)")
        figures["end to end / bare sequential SDK sends"] = f"{burst / span / bare:.0%}"
        bench.gateway.clear()
        published: dict[str, float] = {}
        tick = 1 / 50
        next_at = time.monotonic()
        for i in range(steady):
            body = event(i, "steady")
            published[f"steady-{i}"] = time.time() * 1000
            client.publish("bench/steady/state", body)
            next_at += tick
            time.sleep(max(0.0, next_at - time.monotonic()))
        wait_until(lambda: len(bench.gateway.messages()) >= steady, timeout=60, poll=0.2)
        latencies = sorted(m["ts"] - published[m["text"].split()[1].rstrip(":")] for m in bench.gateway.messages())
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        figures[f"latency publish -> gateway at 50/s, {steady} events (target p99 < 25 ms)"] = (
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms")
        figures[f"peak RSS after {burst + steady} end-to-end events"] = f"{rss_kb(pid, 'VmHWM') / 1024:.0f} MB"
    finally:
        client.close()
        bridge.stop()


def memory(bench: Bench, checkpoints: tuple[int, int], figures: dict[str, str], chunk: int = 1_000) -> None:
    """Peak RSS after `checkpoints` events delivered, fed `chunk` at a time (at most two waiting)."""
    bridge, outbox = bench.start_bridge()
    try:
        pid = bench.pid(bridge)
        time.sleep(1.0)
        idle = rss_kb(pid, "VmRSS")
        bench.gateway.clear()
        peaks: list[int] = []
        published = 0
        for checkpoint in checkpoints:
            while published < checkpoint:
                size = min(chunk, checkpoint - published)
                lines = [event(published + i, "memory") for i in range(size)]
                mosquitto_pub(bench.broker, "bench/memory/state", lines).wait()
                published += size
                backlog = published - chunk if published < checkpoint else published
                assert wait_until(lambda b=backlog: count_rows(outbox, "WHERE status = 'delivered'") >= b,
                                  timeout=600, poll=0.2), f"deliveries stalled before {backlog}"
            peaks.append(rss_kb(pid, "VmHWM"))
        bench.gateway.clear()
        first, last = peaks
        figures["memory: idle RSS, peak after {:,} / {:,} delivered (growth target <= 10%)".format(*checkpoints)] = (
            f"{idle / 1024:.0f} MB, {first / 1024:.0f} MB / {last / 1024:.0f} MB ({last / first - 1:+.1%})")
    finally:
        bridge.stop()


def burst_survival(bench: Bench, n: int, figures: dict[str, str]) -> None:
    # mosquitto's default max_queued_messages is 1000 (tests/support/broker.py raises it; put it back).
    default = MosquittoBroker(extra_config="max_queued_messages 1000").start()
    try:
        bridge, outbox = bench.start_bridge(broker=default)
        try:
            bench.gateway.clear()
            publisher = mosquitto_pub(default, "bench/burst/state", [event(i, "survive") for i in range(n)])
            publisher.wait()
            last = -1
            while True:  # until the terminal count stops moving
                time.sleep(2.0)
                finished = count_rows(outbox, "WHERE status != 'pending'")
                if finished == last:
                    break
                last = finished
            figures[f"burst survival, {n} events, default broker queue (1000)"] = (
                f"{finished} of {n} reached a terminal state ({count_rows(outbox)} stored)")
        finally:
            bridge.stop()
    finally:
        default.close()


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    cores = sum(1 for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("processor"))
    return f"{platform.node()}: {cpu}, {cores} CPUs, Python {platform.python_version()}, {platform.system()}"


def commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True, check=False).stdout.strip()
    return result.stdout.strip() + ("-dirty" if dirty else "")


STEPS = ("ingest", "end-to-end", "memory", "burst")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (2,000 events) to try the benchmark")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/RESULTS.md")
    parser.add_argument("--only", choices=STEPS, action="append",
                        help="run this step only (may be given more than once); the default is all four")
    args = parser.parse_args()
    n_ingest, n_burst, n_steady, n_survive = (2_000, 1_000, 250, 2_000) if args.quick else (
        20_000, 5_000, 1_000, 10_000)
    checkpoints = (1_000, 10_000) if args.quick else (10_000, 100_000)
    workdir = Path(tempfile.mkdtemp(prefix="bridge-bench-"))
    broker = MosquittoBroker().start()
    gateway = MockGateway().start(WORLD)
    bench = Bench(broker, gateway, workdir)
    figures: dict[str, str] = {}
    try:
        steps = {"ingest": lambda: ingest(bench, n_ingest, figures),
                 "end-to-end": lambda: end_to_end(bench, n_burst, n_steady, figures),
                 "memory": lambda: memory(bench, checkpoints, figures),
                 "burst": lambda: burst_survival(bench, n_survive, figures)}
        for name, step in steps.items():
            if args.only and name not in args.only:
                continue
            try:
                step()
            except Exception as exc:  # one failed measurement must not hide the others
                figures[f"FAILED step {len(figures)}"] = f"{type(exc).__name__}: {exc}"
    finally:
        gateway.stop()
        broker.close()
    width = max(map(len, figures))
    table = "\n".join(f"| {name:<{width}} | {value} |" for name, value in figures.items())
    header = f"| {'measure':<{width}} | result |\n|{'-' * (width + 2)}|--------|"
    print(header + "\n" + table)
    if not args.no_record:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        with RESULTS.open("a") as out:
            out.write(f"\n## {stamp}, commit {commit()}{' (--quick)' if args.quick else ''}"
                      f"{' (only ' + ', '.join(args.only) + ')' if args.only else ''}\n\n"
                      f"{machine()}\n\n{header}\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
