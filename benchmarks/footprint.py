"""What the whole stack costs on a small machine, per setup: `python -m benchmarks.footprint`.

For each setup, in one run on one machine (the numbers a Raspberry Pi user feels):

    start-up       import and build of the bridge for that config, fresh interpreter (median of 3)
    idle           RSS and CPU % after 60 s logged in with nothing to do, and wake-ups (context switches)
    memory         RSS after 10,000 and after 100,000 deliveries (fewer for the official bot: its
                   budget needs a message from the person every 100 sends; the row says how many)
    latency        p50/p99 from publish to the send at 50 events/s

Setups: the official bot alone (the fake iLink server), the gateway link alone (our gateway with
the mock puppet), both with the fallback, the HTTP door and /metrics on; the gateway process
itself (mock, and with wechat4u loaded); mqttwarn 0.36 idle, for reference (pip installs it into
a temporary venv). Every bridge speaks Chinese (`locale: zh-CN`), as most users' do. Appends one
table to benchmarks/RESULTS.md with machine, date and commit.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks import run as bench
from tests.support.bridge_process import BridgeProcess
from tests.support.broker import MosquittoBroker, free_port
from tests.support.fake_ilink import FakeIlink
from tests.support.gateway import GatewayProcess, MockGateway
from tests.support.mqtt_client import TestClient

#: Targets of issue 28; each row says whether it is met.
TARGETS = {"bot_rss_mb": 45.0, "bot_startup_s": 0.35, "all_rss_mb": 75.0, "growth": 0.10, "p99_ms": 10.0}
IDLE_SECONDS = 60.0
ALICE = "alice@im.wechat"


@dataclass
class Row:
    setup: str
    startup_s: float | None = None
    idle_rss_mb: float | None = None
    idle_cpu_pct: float | None = None
    wakeups_s: float | None = None
    rss_after: str = ""
    growth: float | None = None
    latency: str = ""
    p99_ms: float | None = None
    note: str = ""


class Setup:
    """A config, how to make the world it needs, and how to count its sends."""

    def __init__(self, name: str, workdir: Path, broker: MosquittoBroker, *, gateway: MockGateway | None,
                 fake: FakeIlink | None, extra: str = "") -> None:
        self.name, self.workdir, self.broker, self.gateway, self.fake = name, workdir, broker, gateway, fake
        self.config = workdir / f"{name}.yaml"
        rooms, routes = [], []
        if gateway is not None:
            rooms.append('  ops: {id: "room-ops@chatroom"}')
        if fake is not None:
            rooms.append("  me: {ilink: alice}")
        target = "ops" if gateway is not None else "me"
        routes.append(f'  - name: bench\n    topic: "bench/+/state"\n    rooms: [{target}]\n'
                      '    template: "{{ payload.device }} {{ payload.id }}: {{ payload.state }} at '
                      '{{ payload.value }}"')
        lines = [f"mqtt: {{host: 127.0.0.1, port: {broker.port}, client_id: stack-{name}}}",
                 f"outbox: {{path: '{workdir / (name + '.sqlite3')}'}}",
                 "pacing: {enabled: false}", "limits: {max_queued: 1000000}", "homeassistant: {discovery: false}",
                 "locale: zh-CN", "log_level: warning"]
        if gateway is not None:
            lines.append(f"wechaty: {{endpoint: '{gateway.endpoint}', token: '{gateway.token}'}}")
        if fake is not None:
            lines.append(f"ilink: {{base_url: '{fake.base_url}', cdn_base_url: '{fake.cdn_base_url}', "
                         f"credentials: '{workdir / (name + '-ilink')}', per_message: 100}}")
            self._bind(workdir / (name + "-ilink"))
        self.config.write_text("\n".join(lines) + "\n" + extra + "rooms:\n" + "\n".join(rooms)
                               + "\nroutes:\n" + "\n".join(routes) + "\n")

    def _bind(self, folder: Path) -> None:
        from bridge.wechat.ilink.credentials import Credentials, CredentialStore

        assert self.fake is not None
        bot = self.fake.add_bot(ALICE)
        CredentialStore(folder).save(Credentials(name="alice", token=bot.token, base_url=self.fake.base_url,
                                                 bot_id=bot.bot_id, user_id=ALICE, bound_at=time.time()))
        self.fake.push(ALICE, "hi")

    def sent(self) -> int:
        if self.gateway is not None:
            return len(self.gateway.messages())
        assert self.fake is not None
        return len(self.fake.received(ALICE))

    def sent_times(self) -> dict[str, float]:
        """Event id -> when (ms since the epoch) its text reached WeChat."""
        if self.gateway is not None:
            return {m["text"].split()[1].rstrip(":"): float(m["ts"]) for m in self.gateway.messages()}
        assert self.fake is not None
        return {r.text.split()[1].rstrip(":"): r.at * 1000 for r in self.fake.received(ALICE) if r.text}

    def renew(self) -> None:
        """The person writes again: a new budget of 100 (the official bot only)."""
        if self.gateway is None and self.fake is not None:
            self.fake.push(ALICE, "more")

    def startup(self) -> float:
        probe = (f"import time; t = time.perf_counter(); from bridge.config.loader import load_config; "
                 f"from bridge.app import Bridge; Bridge(load_config({str(self.config)!r})); "
                 "print(time.perf_counter() - t)")
        # Bytecode may be written: the first run leaves it, as pip's install and the image have it ready.
        env = {k: v for k, v in bench.checkout_env().items() if k != "PYTHONDONTWRITEBYTECODE"}
        times = []
        for _ in range(4):
            out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                                 env=env, cwd=self.workdir)
            times.append(float(out.stdout.strip().splitlines()[-1]))
        return statistics.median(times[1:])  # the first leaves the bytecode cached, as a second start does

    @contextmanager
    def bridge(self) -> Iterator[tuple[BridgeProcess, int]]:
        watcher = TestClient(self.broker.host, self.broker.port, ["wechat/bridge/rooms"])
        process = BridgeProcess(self.config, env={})
        try:
            process.start()
            watcher.wait_for(lambda m: not m.retain, timeout=60, what="the bridge's rooms, live")
            assert process._process is not None
            yield process, process._process.pid
        finally:
            watcher.close()
            process.stop()


def idle(pid: int, seconds: float = IDLE_SECONDS) -> tuple[float, float, float]:
    """RSS (MB), CPU % and wake-ups per second (voluntary context switches) over `seconds` idle."""
    def switches() -> int:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
        return 0
    time.sleep(2.0)  # the start-up's own work is not idle
    cpu, woke, started = bench.cpu_seconds(pid), switches(), time.monotonic()
    time.sleep(seconds)
    spent = time.monotonic() - started
    return (bench.rss_kb(pid, "VmRSS") / 1024, (bench.cpu_seconds(pid) - cpu) / spent * 100,
            (switches() - woke) / spent)


def deliver(setup: Setup, pid: int, checkpoints: tuple[int, ...], chunk: int) -> tuple[str, float]:
    """RSS after each checkpoint of delivered events (rows delivered in the outbox: the official bot folds
    a burst into digests), fed `chunk` at a time."""
    done, found = 0, []
    outbox = setup.workdir / f"{setup.config.stem}.sqlite3"
    base = bench.count_rows(outbox, "WHERE status = 'delivered'")
    for checkpoint in checkpoints:
        while done < checkpoint:
            size = min(chunk, checkpoint - done)
            setup.renew()
            bench.mosquitto_pub(setup.broker, "bench/memory/state",
                                [bench.event(done + i, "memory") for i in range(size)]).wait()
            done += size
            assert bench.wait_until(
                lambda d=done: bench.count_rows(outbox, "WHERE status = 'delivered'") - base >= d,
                timeout=600, poll=0.1), f"{setup.name}: stalled before {done}"
        found.append((checkpoint, bench.rss_kb(pid, "VmRSS") / 1024))
    first = found[0][1]
    growth = found[-1][1] / first - 1
    return ", ".join(f"{n:,}: {mb:.0f} MB" for n, mb in found) + f" (growth {growth:+.1%})", growth


def latency(setup: Setup, events: int = 1000, rate: float = 50.0) -> tuple[float, float]:
    client = TestClient(setup.broker.host, setup.broker.port)
    published: dict[str, float] = {}
    try:
        next_at = time.monotonic()
        for i in range(events):
            if i % 90 == 0:
                setup.renew()
            published[f"lat-{i}"] = time.time() * 1000
            client.publish("bench/lat/state", bench.event(i, "lat"))
            next_at += 1 / rate
            time.sleep(max(0.0, next_at - time.monotonic()))
        bench.wait_until(lambda: all(k in setup.sent_times() for k in published), timeout=60, poll=0.2)
    finally:
        client.close()
    sent = setup.sent_times()
    values = sorted(sent[k] - published[k] for k in published if k in sent)
    return statistics.median(values), values[min(len(values) - 1, int(len(values) * 0.99))]


def measure(setup: Setup, checkpoints: tuple[int, ...], chunk: int, seconds: float) -> Row:
    row = Row(setup.name, startup_s=setup.startup())
    with setup.bridge() as (_, pid):
        row.idle_rss_mb, row.idle_cpu_pct, row.wakeups_s = idle(pid, seconds)
        p50, p99 = latency(setup)
        row.latency, row.p99_ms = f"p50 {p50:.1f} ms, p99 {p99:.1f} ms", p99
        row.rss_after, row.growth = deliver(setup, pid, checkpoints, chunk)
    return row


def in_image(image: str, workdir: Path, broker: MosquittoBroker, fake: FakeIlink, seconds: float) -> Row:
    """The official bot alone inside the bridge image (Debian's Python 3.13, what the App runs), host network.

    Needs rootful podman (scripts/setup_containers.sh): the container's process is read in /proc here.
    """
    setup = Setup("image", workdir, broker, gateway=None, fake=fake)  # binds alice in workdir/image-ilink
    config, data = workdir / "image-config", workdir / "image-data"
    config.mkdir()
    data.mkdir()
    (workdir / "image-ilink").rename(data / "ilink")
    (config / "bridge.yaml").write_text(setup.config.read_text()
                                        .replace(str(workdir / "image-ilink"), "/data/ilink")
                                        .replace(str(workdir / "image.sqlite3"), "/data/outbox.sqlite3"))
    subprocess.run(["chown", "-R", "10001", str(data)], check=True)  # the image's `bridge` user
    name = f"footprint-{workdir.name}"
    watcher = TestClient(broker.host, broker.port, ["wechat/bridge/rooms"])
    subprocess.run(["podman", "run", "-d", "--name", name, "--network", "host", "-v", f"{config}:/config:ro",
                    "-v", f"{data}:/data", image], check=True, capture_output=True)
    try:
        watcher.wait_for(lambda m: not m.retain, timeout=60, what="the bridge's rooms, live (in the image)")
        pid = int(subprocess.run(["podman", "inspect", "--format", "{{.State.Pid}}", name], capture_output=True,
                                 text=True, check=True).stdout)
        rss, cpu, woke = idle(pid, seconds)
        return Row(f"official bot only, in the image {image}", idle_rss_mb=rss, idle_cpu_pct=cpu, wakeups_s=woke)
    finally:
        watcher.close()
        subprocess.run(["podman", "rm", "-f", name], check=False, capture_output=True)


def gateway_process(workdir: Path, puppet: str, seconds: float) -> Row:
    """Our Node gateway idle with `puppet` loaded (wechat4u cannot reach WeChat here: it is idle all the same)."""
    env = {"WECHATY_PUPPET": puppet, "WECHATY_TOKEN": "bench-token-0123456789",
           "WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER": "true", "WECHATY_DATA": str(workdir / puppet)}
    process = GatewayProcess(env=env)
    try:
        rss, cpu, woke = idle(process.proc.pid, seconds)
        return Row(f"gateway process ({puppet})", idle_rss_mb=rss, idle_cpu_pct=cpu, wakeups_s=woke)
    finally:
        process.stop()


def mqttwarn(workdir: Path, broker: MosquittoBroker, seconds: float) -> Row:
    venv = workdir / "mqttwarn-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "mqttwarn==0.36.0"],
                   check=True)
    ini = workdir / "mqttwarn.ini"
    ini.write_text(f"[defaults]\nhostname = 127.0.0.1\nport = {broker.port}\nclientid = mqttwarn-bench\n"
                   "launch = log\n\n[config:log]\ntargets = {'info': ['info']}\n\n[bench/#]\ntargets = log:info\n")
    process = subprocess.Popen([str(venv / "bin" / "mqttwarn"), "--config-file", str(ini)], cwd=workdir,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        rss, cpu, woke = idle(process.pid, seconds)
        return Row("mqttwarn 0.36 (reference)", idle_rss_mb=rss, idle_cpu_pct=cpu, wakeups_s=woke)
    finally:
        process.terminate()
        process.wait(10)


def verdicts(rows: dict[str, Row]) -> list[str]:
    bot, everything = rows.get("official bot only"), rows.get("both + fallback + HTTP door + metrics")
    found = []
    if bot is not None and bot.idle_rss_mb is not None and bot.startup_s is not None:
        found.append(f"official bot only, idle RSS <= {TARGETS['bot_rss_mb']:.0f} MB: {bot.idle_rss_mb:.1f} MB "
                     f"({'met' if bot.idle_rss_mb <= TARGETS['bot_rss_mb'] else 'missed'})")
        found.append(f"official bot only, start-up <= {TARGETS['bot_startup_s']} s: {bot.startup_s:.2f} s "
                     f"({'met' if bot.startup_s <= TARGETS['bot_startup_s'] else 'missed'})")
    if everything is not None and everything.idle_rss_mb is not None:
        found.append(f"everything on, idle RSS <= {TARGETS['all_rss_mb']:.0f} MB: {everything.idle_rss_mb:.1f} MB "
                     f"({'met' if everything.idle_rss_mb <= TARGETS['all_rss_mb'] else 'missed'})")
    for row in (bot, rows.get("gateway link only"), everything):
        if row is not None and row.growth is not None and row.p99_ms is not None:
            found.append(f"{row.setup}: growth {row.growth:+.1%} (<= {TARGETS['growth']:.0%}: "
                         f"{'met' if row.growth <= TARGETS['growth'] else 'missed'}), p99 {row.p99_ms:.1f} ms "
                         f"(< {TARGETS['p99_ms']:.0f} ms: {'met' if row.p99_ms < TARGETS['p99_ms'] else 'missed'})")
    return found


def table(rows: list[Row]) -> str:
    head = ("| setup | start-up (import + build) | idle RSS after 60 s | idle CPU | wake-ups/s | RSS after deliveries "
            "| latency at 50/s |\n|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        lines.append(f"| {r.setup} | {f'{r.startup_s:.2f} s' if r.startup_s is not None else '-'} | "
                     f"{f'{r.idle_rss_mb:.1f} MB' if r.idle_rss_mb is not None else '-'} | "
                     f"{f'{r.idle_cpu_pct:.2f} %' if r.idle_cpu_pct is not None else '-'} | "
                     f"{f'{r.wakeups_s:.1f}' if r.wakeups_s is not None else '-'} | {r.rss_after or '-'} | "
                     f"{r.latency or '-'} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 s idle and 1,000 deliveries: a check that it runs")
    parser.add_argument("--no-write", action="store_true", help="print the table, do not append it to RESULTS.md")
    parser.add_argument("--skip", action="append", default=[],
                        choices=("bot", "gateway", "all", "processes", "mqttwarn"),
                        help="leave a setup out (repeatable)")
    parser.add_argument("--image", help="also the official bot alone inside this built bridge image (rootful "
                                        "podman, CONTAINERS_CONF as scripts/setup_containers.sh sets it)")
    args = parser.parse_args()
    checkpoints, bot_points = ((10_000, 100_000), (10_000, 20_000)) if not args.quick else ((500, 1_000),) * 2
    seconds = 5.0 if args.quick else IDLE_SECONDS
    rows: dict[str, Row] = {}
    with tempfile.TemporaryDirectory(prefix="bridge-footprint-") as tmp:
        workdir = Path(tmp)
        broker = MosquittoBroker().start()
        gateway = MockGateway().start(bench.WORLD)
        try:
            with FakeIlink(poll_hold=25.0, budget=100) as fake:
                makers: list[tuple[str, Callable[[], Setup], tuple[int, ...], int]] = [
                    ("official bot only", lambda: Setup("bot", workdir, broker, gateway=None, fake=fake),
                     bot_points, 90),
                    ("gateway link only", lambda: Setup("gateway", workdir, broker, gateway=gateway, fake=None),
                     checkpoints, 1000),
                    ("both + fallback + HTTP door + metrics", lambda: Setup(
                        "all", workdir, broker, gateway=gateway, fake=fake,
                        extra=(f"http: {{enabled: true, port: {free_port()}, "
                               "token: 'a-long-enough-token-0123456789'}\n"
                               "fallback: {urls: ['json://127.0.0.1:9/hook']}\n")), checkpoints, 1000),
                ]
                for name, make, points, chunk in makers:
                    short = {"official bot only": "bot", "gateway link only": "gateway"}.get(name, "all")
                    if short in args.skip:
                        continue
                    gateway.clear()
                    rows[name] = measure(make(), points, chunk, seconds)
                    rows[name].setup = name
                    print(table([rows[name]]).splitlines()[-1], flush=True)
                if args.image:
                    row = in_image(args.image, workdir, broker, fake, seconds)
                    rows[row.setup] = row
                    print(table([row]).splitlines()[-1], flush=True)
        finally:
            gateway.stop()
        for puppet in ("wechaty-puppet-mock", "wechaty-puppet-wechat4u") if "processes" not in args.skip else ():
            row = gateway_process(workdir, puppet, seconds)
            rows[row.setup] = row
        try:
            if "mqttwarn" in args.skip:
                raise OSError("skipped (--skip mqttwarn)")
            row = mqttwarn(workdir, broker, seconds)
            rows[row.setup] = row
        except (subprocess.CalledProcessError, OSError) as exc:
            rows["mqttwarn 0.36 (reference)"] = Row("mqttwarn 0.36 (reference)", note=f"not measured: {exc}")
        broker.close()
    command = f".venv/bin/python -m benchmarks.footprint{' --quick' if args.quick else ''}"
    text = (f"\n## Footprint per setup ({time.strftime('%Y-%m-%d')}, {bench.machine()}, commit {bench.commit()})\n\n"
            f"`{command}`; load before: {bench.load()}.\n\n"
            + table(list(rows.values())) + "\n\nTargets (issue 28):\n\n"
            + "\n".join(f"- {line}" for line in verdicts(rows)) + "\n")
    print(text)
    print(json.dumps({k: vars(v) for k, v in rows.items()}, indent=1))
    if not args.no_write:
        with bench.RESULTS.open("a") as results:
            results.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
