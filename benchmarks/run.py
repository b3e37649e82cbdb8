"""Is the bridge ever the bottleneck, and what does it cost? `.venv/bin/python -m benchmarks.run
[--quick] [--only STEP]... [--json FILE] [--compare-with OTHER_CHECKOUT [--rounds N]]`

A benchmark, not a test: it starts its own mosquitto (tests/support/broker.py), the official mock
gateway (tests/support/gateway.py) and the bridge as a user runs it (`python -m bridge run`),
prints one table, and appends it with the machine, date, commit and load to benchmarks/RESULTS.md.
`--only figures` runs the five steps issue 14 asks for (size, import, idle-rss, bare, end-to-end).

- size: MB of a fresh venv (same Python, in a temp dir, deleted after) after `pip install .` of
  this checkout's files, with its largest packages (benchmarks/install.py).
- import: `import bridge.app` in a fresh interpreter, median of 7 (bytecode cached), and the
  packages that cost most under `-X importtime`.
- idle-rss: RSS of a bridge logged in with its rooms resolved, 3 s after.
- ingest: N ~200-byte JSON events published by `mosquitto_pub -l -q 1` as fast as it can, to a
  template route, WeChat logged out (nothing is sent): events/s from the first publish until the
  last is committed to the outbox (and acknowledged), against a bare aiomqtt QoS 1 subscriber
  receiving the same events from the same broker.
- bare: our WeChat client alone (`WeChatClient.send_text`, benchmarks/bare_client.py, its own
  process) sending N texts one after another: msgs/s at the gateway, the ceiling of one-at-a-time
  sends through our client and the mock gateway, and the client's and the gateway's CPU per send.
- end-to-end, pacing off: delivered msgs/s for a burst of the same N, against the bare sends
  of the same run (measured first if `bare` did not run), with the bridge's and the gateway's CPU
  per event (CPU moves less than wall-clock rates on a busy machine), and publish -> gateway
  receipt latency p50/p99 at a steady 50 events/s (the gateway records `ts` in ms when its puppet
  gets the send).
- memory: the bridge's RSS idle, and its peak (VmHWM) after 10,000 and after 100,000 events
  delivered end to end, fed in chunks so the backlog stays small: growth between the two is
  what a leak would show.
- burst: a burst against a broker with mosquitto's default queue limits
  (max_queued_messages 1000): how many events reached a terminal state in the outbox.

`--compare-with` runs the chosen steps (default: figures) for this checkout and the other one,
each with its own .venv, alternating, and prints both with their ratio (benchmarks/compare.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
from typing import IO, Any

import aiomqtt

from benchmarks import install
from tests.support.bridge_process import BridgeProcess
from tests.support.broker import MosquittoBroker
from tests.support.gateway import MockGateway
from tests.support.mqtt_client import TestClient

#: Where this benchmark's code lives, and the checkout it measures (where `bridge` and `tests`
#: are imported from). They differ only in the runs `--compare-with` starts.
BENCH_ROOT = Path(__file__).resolve().parent.parent
CHECKOUT = install.CHECKOUT
RESULTS = BENCH_ROOT / "benchmarks" / "RESULTS.md"
OPS = "room-ops@chatroom"
#: The gateway's world; a copy of the integration tests' WORLD, so the benchmark does not import
#: a conftest that another checkout may have moved.
WORLD: dict[str, Any] = {
    "user": {"id": "bot", "name": "Bridge Bot"},
    "contacts": [{"id": "alice", "name": "Alice"}, {"id": "bob", "name": "Bob"}],
    "rooms": [{"id": "room-family@chatroom", "topic": "Happy Family", "members": ["alice", "bob"]},
              {"id": OPS, "topic": "Ops", "members": ["bob"]}],
}


def checkout_env() -> dict[str, str]:
    """The environment for a child that must import the same checkout (bridge, tests) as this one."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(CHECKOUT),
                                                                     os.environ.get("PYTHONPATH")]))}

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


class Figures(dict[str, str]):
    """The table's rows (measure -> text), and the numbers behind them by short key, which
    `--json` writes and `--compare-with` puts side by side."""

    def __init__(self) -> None:
        super().__init__()
        self.numbers: dict[str, float] = {}

    def add(self, measure: str, text: str, **numbers: float) -> None:
        self[measure] = text
        self.numbers.update(numbers)


class Bench:
    def __init__(self, broker: MosquittoBroker, gateway: MockGateway, workdir: Path) -> None:
        self.broker, self.gateway, self.workdir = broker, gateway, workdir
        self.count = 0
        self.bare: float | None = None  # msgs/s of bare sends measured in this run

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
        # Waits on the broker, with nothing but TestClient(host, port, topics): compare.py runs this
        # code against an older checkout's tests/support too.
        watcher = TestClient(mqtt.host, mqtt.port, ["wechat/bridge/rooms"])
        try:
            bridge = BridgeProcess(config).start()
            watcher.wait_for(lambda m: not m.retain, timeout=60, what="the bridge's rooms, live (logged in)")
        finally:
            watcher.close()
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
        watcher = TestClient(bench.broker.host, bench.broker.port, ["wechat/bridge/login"])
        try:
            bench.gateway.logout()
            watcher.wait_for(lambda m: not m.retain and m.json()["state"] == "logged_out", timeout=30,
                             what="the bridge logged out")
        finally:
            watcher.close()
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


def bare_sends(bench: Bench, n: int, figures: Figures) -> float:
    """Msgs/s at the gateway for `n` texts sent one after another by our WeChat client alone
    (benchmarks/bare_client.py, in a process of its own), with its CPU time and the gateway's per send."""
    stderr = (bench.workdir / f"bare-{time.monotonic_ns()}.log").open("w+")
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.bare_client", bench.gateway.endpoint,
                                bench.gateway.token, OPS, str(n)], cwd=BENCH_ROOT, env=checkout_env(),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True)
    assert process.stdin is not None and process.stdout is not None
    try:
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the bare client did not log in: {tail(stderr)}")
        bench.gateway.clear()
        gateway_cpu = cpu_seconds(gateway_pid(bench.gateway))
        process.stdin.write("go\n")
        process.stdin.flush()
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the bare client stopped: {tail(stderr)}")
        client = json.loads(line)
        if not wait_until(lambda: len(bench.gateway.messages()) >= n, 30, 0.1):
            raise RuntimeError(f"only {len(bench.gateway.messages())} of {n} bare sends reached the gateway")
        gateway_cpu = cpu_seconds(gateway_pid(bench.gateway)) - gateway_cpu
        sent = bench.gateway.messages()
    finally:
        process.stdin.close()
        process.wait(timeout=30)
        stderr.close()
        bench.gateway.clear()
    rate = float(n / ((sent[-1]["ts"] - sent[0]["ts"]) / 1000))
    bench.bare = rate
    figures.add(f"bare sequential sends through our client, {n} texts", f"{rate:,.0f} msgs/s at the gateway",
                bare_msgs_s=rate)
    figures.add("bare send CPU per send, client / gateway",
                f"{client['cpu'] / n * 1e6:.0f} us / {gateway_cpu / n * 1e6:.0f} us",
                bare_client_cpu_us=client["cpu"] / n * 1e6, bare_gateway_cpu_us=gateway_cpu / n * 1e6)
    return rate


def tail(log: IO[str], chars: int = 2000) -> str:
    log.flush()
    log.seek(0)
    return log.read()[-chars:]


def gateway_pid(gateway: MockGateway) -> int:
    assert gateway.pid is not None
    return gateway.pid


def end_to_end(bench: Bench, burst: int, steady: int, figures: Figures) -> None:
    # The baseline in the same run, just before: a gateway serves one event stream at a time.
    bare = bench.bare if bench.bare is not None else bare_sends(bench, burst, figures)
    bridge, _ = bench.start_bridge()
    client = TestClient(bench.broker.host, bench.broker.port)
    try:
        pid = bench.pid(bridge)
        bench.gateway.clear()
        started, cpu_started = time.monotonic(), cpu_seconds(pid)
        gateway_cpu = cpu_seconds(gateway_pid(bench.gateway))
        publisher = mosquitto_pub(bench.broker, "bench/e2e/state", [event(i, "burst") for i in range(burst)])
        done = wait_until(lambda: len(bench.gateway.messages()) >= burst, timeout=300, poll=0.2)
        cpu = cpu_seconds(pid) - cpu_started
        gateway_cpu = cpu_seconds(gateway_pid(bench.gateway)) - gateway_cpu
        publisher.wait()
        sent = bench.gateway.messages()
        assert done, f"only {len(sent)} of {burst} delivered"
        span = (sent[-1]["ts"] - sent[0]["ts"]) / 1000
        total = time.monotonic() - started
        figures.add(f"end to end {burst}-event burst, pacing off (target >= 500)",
                    f"{burst / span:,.0f} msgs/s at the gateway ({burst / total:,.0f}/s incl. start)",
                    e2e_msgs_s=burst / span)
        figures.add("end to end / bare sequential sends, same client (target >= 80%)", f"{burst / span / bare:.0%}",
                    e2e_over_bare=burst / span / bare)
        figures.add("end to end CPU per event, bridge / gateway",
                    f"{cpu / burst * 1e6:.0f} us / {gateway_cpu / burst * 1e6:.0f} us",
                    e2e_bridge_cpu_us=cpu / burst * 1e6, e2e_gateway_cpu_us=gateway_cpu / burst * 1e6)
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
        figures.add(f"latency publish -> gateway at 50/s, {steady} events (target p99 < 25 ms)",
                    f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms",
                    latency_p50_ms=p50, latency_p99_ms=p99)
        figures[f"peak RSS after {burst + steady} end-to-end events"] = f"{rss_kb(pid, 'VmHWM') / 1024:.0f} MB"
    finally:
        client.close()
        bridge.stop()


def idle_rss(bench: Bench, figures: Figures, settle: float = 3.0) -> None:
    """RSS of a bridge logged in with its rooms resolved, once it has sat idle for `settle` s."""
    bridge, _ = bench.start_bridge()
    try:
        time.sleep(settle)
        rss = rss_kb(bench.pid(bridge), "VmRSS") / 1024
        figures.add("idle RSS of a logged-in bridge", f"{rss:.0f} MB", idle_rss_mb=rss)
    finally:
        bridge.stop()


def installed(figures: Figures) -> None:
    total, distributions, largest = install.installed_size()
    figures.add("installed size of a fresh `pip install .` venv (pip included)",
                f"{total:.0f} MB, {distributions} distributions; largest: "
                + ", ".join(f"{name} {mb:.0f}" for name, mb in largest),
                size_mb=total, distributions=distributions)


def imports(figures: Figures) -> None:
    median, best, heaviest = install.import_time()
    figures.add("import time of bridge.app, fresh interpreter (median of 7, best)",
                f"{median * 1000:.0f} ms, best {best * 1000:.0f} ms; under -X importtime: "
                + ", ".join(f"{name} {ms:.0f} ms" for name, ms in heaviest),
                import_ms=median * 1000, import_best_ms=best * 1000)


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


def commit(checkout: Path = CHECKOUT) -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=checkout, capture_output=True, text=True,
                            check=False)
    # RESULTS.md is what the benchmark writes: a change there alone is not a change to what is measured.
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                            ":!benchmarks/RESULTS.md"], cwd=checkout,
                           capture_output=True, text=True, check=False).stdout.strip()
    return result.stdout.strip() + ("-dirty" if dirty else "")


def load() -> str:
    """The machine's load average (1, 5, 15 min): other engineers' tests share its 2 cores."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


STEPS = ("size", "import", "idle-rss", "ingest", "bare", "end-to-end", "memory", "burst")
#: What issue 14 asks the benchmark to record, before and after the client swap.
FIGURES = ("size", "import", "idle-rss", "bare", "end-to-end")


def table(figures: dict[str, str]) -> str:
    width = max(map(len, figures))
    rows = "\n".join(f"| {name:<{width}} | {value} |" for name, value in figures.items())
    return f"| {'measure':<{width}} | result |\n|{'-' * (width + 2)}|--------|\n{rows}"


def run_steps(only: list[str], quick: bool) -> Figures:
    n_ingest, n_burst, n_steady, n_survive = (2_000, 1_000, 250, 2_000) if quick else (
        20_000, 5_000, 1_000, 10_000)
    checkpoints = (1_000, 10_000) if quick else (10_000, 100_000)
    figures = Figures()
    needs_world = set(only) - {"size", "import"}
    workdir = Path(tempfile.mkdtemp(prefix="bridge-bench-"))
    broker = MosquittoBroker().start() if needs_world else None
    gateway = MockGateway().start(WORLD) if needs_world else None
    bench = Bench(broker, gateway, workdir)  # type: ignore[arg-type]  # None only for size and import
    steps: dict[str, Callable[[], object]] = {
        "size": lambda: installed(figures),
        "import": lambda: imports(figures),
        "idle-rss": lambda: idle_rss(bench, figures),
        "ingest": lambda: ingest(bench, n_ingest, figures),
        "bare": lambda: bare_sends(bench, n_burst, figures),
        "end-to-end": lambda: end_to_end(bench, n_burst, n_steady, figures),
        "memory": lambda: memory(bench, checkpoints, figures),
        "burst": lambda: burst_survival(bench, n_survive, figures)}
    try:
        for name, step in steps.items():
            if name not in only:
                continue
            try:
                step()
            except Exception as exc:  # one failed measurement must not hide the others
                figures[f"FAILED step {name}"] = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:500]
    finally:
        if gateway is not None:
            gateway.stop()
        if broker is not None:
            broker.close()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (2,000 events) to try the benchmark")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/RESULTS.md")
    parser.add_argument("--only", choices=(*STEPS, "figures"), action="append",
                        help="run this step only (may be given more than once); 'figures' is "
                             + ", ".join(FIGURES) + "; the default is all steps")
    parser.add_argument("--json", type=Path, help="also write the figures and their numbers to this file")
    parser.add_argument("--compare-with", type=Path, metavar="CHECKOUT",
                        help="run the steps for this checkout and CHECKOUT (with CHECKOUT/.venv), side by side")
    parser.add_argument("--rounds", type=int, default=1, help="with --compare-with: alternate the two this often")
    parser.add_argument("--note", default="", help="a line recorded under the heading in RESULTS.md")
    args = parser.parse_args()
    only = [step for name in args.only or [] for step in (FIGURES if name == "figures" else (name,))]
    if args.compare_with is not None:
        from benchmarks import compare
        return compare.main(args.compare_with, only or list(FIGURES), args.quick, args.rounds,
                            record=not args.no_record, note=args.note)
    load_before, started = load(), datetime.now(UTC)
    figures = run_steps(only or list(STEPS), args.quick)
    text = table(figures)
    print(text)
    if args.json is not None:
        args.json.write_text(json.dumps({"commit": commit(), "machine": machine(), "figures": figures,
                                         "numbers": figures.numbers, "load": [load_before, load()]}))
    if not args.no_record:
        stamp = started.strftime("%Y-%m-%d %H:%M UTC")
        with RESULTS.open("a") as out:
            out.write(f"\n## {stamp}, commit {commit()}{' (--quick)' if args.quick else ''}"
                      f"{' (only ' + ', '.join(args.only) + ')' if args.only else ''}\n\n"
                      f"{machine()}\n\nload average (1 / 5 / 15 min): {load_before} at the start, {load()} at the end"
                      f"\n\n{args.note + chr(10) + chr(10) if args.note else ''}{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
