"""Every shell and YAML block a newcomer copies first, run as the README shows it, in both languages.

The blocks of the quick start, "Getting WeChat online" (the official bot), "Group chats through a
gateway", "Configuration", "The WeChat gateway" and "Docker" are read out of README.md and
README.zh-CN.md (issue 29). A block preceded by
`<!-- fragment… -->` is a piece of something larger (one line of output, part of a config): it is
not run as a whole. Every other block is one of:

- a YAML config: `check` must accept it, copied beside the repo's `mappings/`, with only
  `WECHATY_TOKEN` exported, as the quick start says; the people its `ilink` rooms name are bound
  first with `ilink login`, the person scanning on a fake iLink server (tests/support/fake_ilink.py);
- shell lines `wechat-mqtt-bridge check|render|doctor --config config.yaml` with the output the
  README shows under them as `# ` comments: run against the real-account config ("the config beside
  them", the one the quick start points to), with the gateway started by the README's own command
  (the mock puppet serving the config's rooms) and a real mosquitto. The output must match line for
  line, where `…` stands for anything and a time of day for any time;
- the gateway command (marked as such): that is the one started;
- the official bot's commands (`ilink login`, `ilink list`): run on the official bot's config, in
  that section, with the output the README shows (a line `…` alone stands for the QR code's lines),
  `ilink login` against the fake iLink server; `check` refuses that config, as the README shows,
  before anyone is bound;
- anything else (the demo, Docker, `run`): the repository files it names must exist.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.support.broker import MosquittoBroker
from tests.support.fake_ilink import FakeIlink
from tests.support.gateway import free_port
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent
#: The sections a newcomer copies from, by README, as their `## ` headings read.
SECTIONS = {
    "README.md": ["Quick start", "Getting WeChat online", "Group chats through a gateway", "Configuration",
                  "The WeChat gateway", "Docker"],
    "README.zh-CN.md": ["快速上手", "接入微信", "群聊走网关", "配置", "Docker"],
}
#: The section of the official bot (issue 24), and the markers of its config and of `check`'s refusal.
OFFICIAL_SECTION = {"README.md": "Getting WeChat online", "README.zh-CN.md": "接入微信"}
OFFICIAL_MARKER = "<!-- the official bot's config: tests/test_readme_blocks.py binds"
UNBOUND_MARKER = "<!-- fragment: what check prints while nobody is bound"
REAL_ACCOUNT_MARKER = "<!-- checked by tests/test_readme.py: `wechat-mqtt-bridge check` must accept this config -->"
GATEWAY_MARKER = "<!-- the gateway command: tests/test_readme_blocks.py runs it"
#: The commands whose output a README shows and this test compares; `run` does not end.
COMPARED = ("check", "render", "doctor")
#: The token the test exports, as the quick start tells a user to.
TOKEN = "a-long-random-gateway-token-for-the-readme"


@dataclass(frozen=True, slots=True)
class Block:
    readme: str
    section: str
    lang: str
    text: str
    #: The HTML comment right before the fence, if any.
    marker: str

    @property
    def fragment(self) -> bool:
        return self.marker.startswith("<!-- fragment")

    def __str__(self) -> str:
        return f"{self.readme}, {self.section}: {self.text.splitlines()[0] if self.text else ''!r}"


def section_text(readme: str, heading: str) -> str:
    text = (ROOT / readme).read_text()
    assert f"\n## {heading}\n" in text, f"{readme} has no section '## {heading}'"
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def blocks(readme: str) -> list[Block]:
    found = []
    for heading in SECTIONS[readme]:
        pattern = r"(?:^(<!--[^\n]*-->)\n)?^```(\w*)\n(.*?)^```$"
        for marker, lang, text in re.findall(pattern, section_text(readme, heading), re.MULTILINE | re.DOTALL):
            found.append(Block(readme, heading, lang, text, marker))
    return found


def real_account_config(readme: str) -> str:
    [block] = [b for b in blocks(readme) if b.marker == REAL_ACCOUNT_MARKER]
    return block.text


def user_env(token: str | None) -> dict[str, str]:
    """A user's shell after the quick start: the venv's commands on PATH and, if given, WECHATY_TOKEN exported."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    return env if token is None else {**env, "WECHATY_TOKEN": token}


def shell(line: str, *, cwd: Path, token: str | None = TOKEN) -> subprocess.CompletedProcess[str]:
    """One line of a README block, as a shell runs it."""
    return subprocess.run(["bash", "-c", line], check=False, capture_output=True, text=True, timeout=60, cwd=cwd,
                          env=user_env(token))


def in_a_copy(directory: Path, config: str) -> Path:
    """A directory as a user's would be: the config as `config.yaml` beside the repo's mappings."""
    shutil.copytree(ROOT / "mappings", directory / "mappings")
    (directory / "config.yaml").write_text(config)
    return directory


@pytest.fixture
def fake_ilink() -> Iterator[FakeIlink]:
    with FakeIlink(qr_hold=0.5) as server:
        yield server


def people(config: str) -> list[str]:
    """The people the config's `ilink` rooms name."""
    rooms = (yaml.safe_load(config) or {}).get("rooms") or {}
    return sorted({room["ilink"] for room in rooms.values() if isinstance(room, dict) and "ilink" in room})


def pointed_at(config: str, fake: FakeIlink) -> str:
    """`config` with `ilink.base_url` at the fake: what the test's `ilink login` talks to."""
    data = yaml.safe_load(config)
    data["ilink"] = {**(data.get("ilink") or {}), "base_url": fake.base_url}
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def ilink_login(line: str, *, cwd: Path, config: str, fake: FakeIlink) -> subprocess.CompletedProcess[str]:
    """A README's `ilink login` line, as a shell runs it, with `config.yaml` pointed at the fake for the
    while: the person the line names scans the QR code, the phone says so, then they confirm."""
    match = re.search(r"--name (\S+)", line)
    assert match, line
    (cwd / "config.yaml").write_text(pointed_at(config, fake))
    before = len(fake.logins)
    process = subprocess.Popen(["bash", "-c", line], cwd=cwd, env=user_env(TOKEN), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        def asked() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"{line!r} exited before asking for a QR code: {process.communicate()}")
            return len(fake.logins) > before
        wait_for(asked, timeout=30, what=f"{line!r} asking for a QR code")
        login = fake.login
        fake.scan(f"{match.group(1)}@im.wechat")
        # The scan answered to the login's poll, so that it says "Scanned" before the confirmation.
        wait_for(lambda: login.seen.get(fake.port) == login.version, timeout=20, what="the login told of the scan")
        fake.confirm()
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        (cwd / "config.yaml").write_text(config)
    return subprocess.CompletedProcess(line, process.returncode, out, err)


def bind_everyone(workdir: Path, config: str, fake: FakeIlink) -> None:
    for name in people(config):
        line = f"wechat-mqtt-bridge ilink login --config config.yaml --name {name}"
        result = ilink_login(line, cwd=workdir, config=config, fake=fake)
        assert (result.returncode, result.stderr) == (0, ""), f"{line}\n{result.stdout}"


@pytest.mark.parametrize("readme", list(SECTIONS))
def test_every_full_config_passes_check(tmp_path: Path, readme: str, fake_ilink: FakeIlink) -> None:
    configs = [b for b in blocks(readme) if b.lang == "yaml" and not b.fragment]
    assert len(configs) >= 3, "the official bot's, the real-account and the reference config, at least"
    assert any(people(block.text) for block in configs), "no config with an official bot's room"
    for index, block in enumerate(configs):
        workdir = in_a_copy(tmp_path / str(index), block.text)
        bind_everyone(workdir, block.text, fake_ilink)
        result = shell("wechat-mqtt-bridge check --config config.yaml", cwd=workdir)
        assert (result.returncode, result.stderr) == (0, ""), f"{block}:\n{result.stderr}"
        assert re.fullmatch(r"config\.yaml: OK \(\d+ routes?, \d+ rooms?\)\n", result.stdout), result.stdout


@pytest.mark.parametrize("readme", list(SECTIONS))
def test_check_without_the_exported_token_says_so_once(tmp_path: Path, readme: str) -> None:
    workdir = in_a_copy(tmp_path, real_account_config(readme))
    result = shell("wechat-mqtt-bridge check --config config.yaml", cwd=workdir, token=None)
    line = next(number for number, text in enumerate(real_account_config(readme).splitlines(), 1)
                if text.startswith("  token: ${WECHATY_TOKEN}"))
    assert (result.returncode, result.stdout, result.stderr) == (1, "", (
        f"configuration has 1 problem(s):\n  config.yaml:{line}: "
        "wechaty.token: environment variable WECHATY_TOKEN is not set\n"))


# --- the shell blocks ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Command:
    line: str
    #: The lines the README shows under it as `# ` comments: what it prints.
    output: list[str]


def commands(block: Block) -> list[Command]:
    found: list[Command] = []
    for line in block.text.splitlines():
        if line.startswith("# ") and found:
            found[-1].output.append(line[2:])
        elif line.strip() and not line.startswith("#"):
            found.append(Command(line, []))
    return found


def shell_blocks(readme: str) -> list[Block]:
    return [b for b in blocks(readme) if b.lang in ("sh", "") and not b.fragment]


def compared(readme: str) -> list[Command]:
    return [c for b in shell_blocks(readme) for c in commands(b)
            if c.line.startswith("wechat-mqtt-bridge ") and c.line.split()[1] in COMPARED]


def expected_pattern(line: str, ports: dict[str, str]) -> str:
    """A README output line as a regex: `…` is anything, a time of day any time, the ports the test's own."""
    for readme_port, port in ports.items():
        line = line.replace(readme_port, port)
    return ".+".join(re.sub(r"\d\d:\d\d", r"\\d\\d:\\d\\d", re.escape(part)) for part in line.split("…"))


def test_expected_pattern_reads_ellipses_times_and_ports() -> None:
    pattern = expected_pattern("✓ gateway: 127.0.0.1:8788 answers at 21:14 (…)", {"127.0.0.1:8788": "127.0.0.1:5"})
    assert re.fullmatch(pattern, "✓ gateway: 127.0.0.1:5 answers at 09:03 (puppet 1.2)")
    assert not re.fullmatch(pattern, "✓ gateway: 127.0.0.1:8788 answers at 09:03 (puppet 1.2)")


#: A path in this repository as a shell line names it (`./scripts/demo`, `docker/compose.yaml`), not `/etc/gateway/…`.
REPO_PATH = re.compile(r"(?<![\w./-])(?:\./)?((?:docker|gateway|mappings|scripts)/[\w.-][\w./-]*)")


@pytest.mark.parametrize("readme", list(SECTIONS))
def test_every_other_shell_line_names_files_that_exist(readme: str) -> None:
    made: set[str] = set()
    for block in shell_blocks(readme):
        for command in commands(block):
            words = command.line.split("#", 1)[0].split()
            if words[:1] == ["cp"]:
                made.add(words[-1])
            for path in re.findall(REPO_PATH, command.line):
                assert path in made or (ROOT / path).exists(), f"{block}: {command.line!r} names {path}: missing"


# --- the official bot's two commands (issue 24) ------------------------------------------------------------


def official_blocks(readme: str) -> list[Block]:
    return [b for b in blocks(readme) if b.section == OFFICIAL_SECTION[readme]]


def shows(output: list[str], printed: str) -> bool:
    """Whether `printed` is what a README shows as `output`: each line as `expected_pattern` reads it, and
    a line `…` alone for one line or more (the QR code drawn in the terminal)."""
    pattern = "".join(r"(?:[^\n]*\n)+?" if line == "…" else expected_pattern(line, {}) + r"\n" for line in output)
    return re.fullmatch(pattern, printed) is not None


def test_shows_reads_a_lone_ellipsis_as_any_lines() -> None:
    assert shows(["Scan … open https://…", "…", "Bound."], "Scan it, or open https://x\n██\n▀▀\nBound.\n")
    assert not shows(["Scan … open https://…", "…", "Bound."], "Scan it, or open https://x\nBound.\n")
    assert not shows(["a", "b"], "a\nb\nc\n")


@pytest.mark.parametrize("readme", list(SECTIONS))
def test_the_official_bot_commands_print_what_the_readme_shows(tmp_path: Path, readme: str,
                                                                fake_ilink: FakeIlink) -> None:
    """The official bot's config as the README writes it: `check` refuses it until the person is bound,
    in the words the README shows; the README's `ilink login` binds them (against the fake iLink server)
    and `ilink list` prints what the README shows; then `check` accepts the config."""
    [config] = [b.text for b in official_blocks(readme) if b.marker.startswith(OFFICIAL_MARKER)]
    [refusal] = [b.text for b in official_blocks(readme) if b.marker.startswith(UNBOUND_MARKER)]
    workdir = in_a_copy(tmp_path, config)
    # No wechaty section, no token: a config of official bots only needs neither.
    result = shell("wechat-mqtt-bridge check --config config.yaml", cwd=workdir, token=None)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", refusal)
    shown = [c for b in official_blocks(readme) if b.lang in ("sh", "") and not b.fragment for c in commands(b)]
    ran = []
    for command in shown:
        words = command.line.split("#", 1)[0].split()
        assert words[0] == "wechat-mqtt-bridge", command.line
        if words[1] == "run":
            continue  # it does not end: tests/integration/test_ilink.py runs the bridge on such a config
        if words[1:3] == ["ilink", "login"]:
            result = ilink_login(command.line, cwd=workdir, config=config, fake=fake_ilink)
        else:
            result = shell(command.line, cwd=workdir, token=None)
        assert (result.returncode, result.stderr) == (0, ""), f"{command.line}\n{result.stdout}{result.stderr}"
        assert shows(command.output, result.stdout), f"{command.line}\nREADME {command.output}\ngot\n{result.stdout}"
        ran.append(" ".join(words[1:3]))
    assert ran == ["ilink login", "ilink list"], ran
    credentials = workdir / "data" / "ilink"
    assert [p.name for p in credentials.glob("*.json")] and all(
        p.stat().st_mode & 0o077 == 0 for p in credentials.glob("*.json"))
    result = shell("wechat-mqtt-bridge check --config config.yaml", cwd=workdir, token=None)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert re.fullmatch(r"config\.yaml: OK \(2 routes, 1 room\)\n", result.stdout), result.stdout


# --- the gateway, started by the README's command -----------------------------------------------------------


def gateway_command(readme: str) -> str:
    [block] = [b for b in blocks(readme) if b.marker.startswith(GATEWAY_MARKER)]
    return block.text


def processes_under(pid: int) -> dict[int, str]:
    """`pid` and every process under it, with their command lines, from /proc (Linux)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            parents.setdefault(int(stat.read_text().rsplit(")", 1)[1].split()[1]), []).append(int(stat.parent.name))
    found: dict[int, str] = {}
    queue = [pid]
    while queue:
        current = queue.pop(0)
        with contextlib.suppress(OSError):
            found[current] = Path(f"/proc/{current}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        queue += parents.get(current, [])
    return found


def alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class ReadmeGateway:
    port: int
    #: The PID of `npm start`, what a user's `$!` gives, and of the node process serving.
    npm_pid: int
    node_pid: int
    #: What the README's command exported, read from the gateway's own environment.
    token: str


def world_for(config: str) -> dict[str, object]:
    """The mock puppet's world: an account in every room the config names, by its topic."""
    rooms = yaml.safe_load(config)["rooms"]
    return {"user": {"id": "bot", "name": "Bridge Bot"}, "contacts": [{"id": "alice", "name": "Alice"}],
            "rooms": [{"id": f"room-{key}@chatroom", "topic": room["topic"], "members": ["alice"]}
                      for key, room in rooms.items()]}


@contextlib.contextmanager
def readme_gateway(readme: str, tmp_path: Path, world: dict[str, object]) -> Iterator[ReadmeGateway]:
    """The README's gateway command, run by bash as written, with the mock puppet and a free port.

    Its `npm ci` line is run as `true`: setup.sh installed the same lock file, and a second install
    would rewrite node_modules under the other tests' gateways."""
    script = gateway_command(readme)
    assert script.startswith("cd gateway && npm ci "), script
    script = script.replace("npm ci", "true", 1)
    port = free_port()
    (tmp_path / "world.json").write_text(json.dumps(world))
    env = {key: value for key, value in os.environ.items() if not key.startswith("WECHATY_")}
    env.update(WECHATY_PUPPET="wechaty-puppet-mock", WECHATY_PUPPET_SERVER_PORT=str(port),
               WECHATY_DATA=str(tmp_path / "gateway-data"), WECHATY_PUPPET_MOCK_WORLD=str(tmp_path / "world.json"))
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen(["bash", "-e", "-c", script], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def serving() -> tuple[int, int] | None:
            if process.poll() is not None:
                raise AssertionError(f"the README's gateway command exited ({process.returncode}):\n{log.read_text()}")
            if not listening(port):
                return None
            tree = processes_under(process.pid)
            npm = [pid for pid, line in tree.items() if line.startswith("npm start")]
            node = [pid for pid, line in tree.items() if line == "node gateway.mjs"]
            return (npm[0], node[0]) if npm and node else None
        npm_pid, node_pid = wait_for(serving, timeout=60, what=f"the README's gateway listening on {port}",
                                     detail=log.read_text)
        environ = Path(f"/proc/{node_pid}/environ").read_bytes().split(b"\0")
        [token] = [entry.split(b"=", 1)[1].decode() for entry in environ if entry.startswith(b"WECHATY_TOKEN=")]
        yield ReadmeGateway(port, npm_pid, node_pid, token)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.mark.integration
@pytest.mark.parametrize("readme", list(SECTIONS))
def test_the_quick_start_commands_print_what_the_readme_shows(tmp_path: Path, readme: str) -> None:
    """check, render and doctor on the real-account config, beside the README's gateway and a real broker."""
    config = real_account_config(readme)
    broker = MosquittoBroker().start()
    try:
        with readme_gateway(readme, tmp_path, world_for(config)) as gateway:
            ours = {"127.0.0.1:1883": f"127.0.0.1:{broker.port}", "127.0.0.1:8788": f"127.0.0.1:{gateway.port}"}
            config = config.replace("  host: 127.0.0.1\n", f"  host: 127.0.0.1\n  port: {broker.port}\n", 1)
            workdir = in_a_copy(tmp_path / "user", config.replace("127.0.0.1:8788", ours["127.0.0.1:8788"]))
            shown = compared(readme)
            assert sorted({command.line.split()[1] for command in shown}) == sorted(COMPARED)
            for command in shown:
                result = shell(command.line, cwd=workdir, token=gateway.token)
                assert (result.returncode, result.stderr) == (0, ""), f"{command.line}\n{result.stdout}{result.stderr}"
                printed = result.stdout.splitlines()
                assert len(printed) == len(command.output), f"{command.line}\n{result.stdout}"
                for want, got in zip(command.output, printed, strict=True):
                    pattern = expected_pattern(want, ours)
                    assert re.fullmatch(pattern, got), f"{command.line}\nREADME {want}\ngot    {got}"
            doctor = [c for c in shown if c.line.split()[1] == "doctor"]
            assert doctor and all(line.startswith("✓ ") for c in doctor for line in c.output)
    finally:
        broker.close()
    # What the gateway's user read meanwhile (doctor came and went): no upstream warnings about normal operation.
    log = (tmp_path / "gateway.log").read_text()
    assert "logged in as Bridge Bot (bot)" in log
    assert [line for line in log.splitlines() if "WARN" in line or "Warning" in line] == []


@pytest.mark.integration
def test_killing_the_pid_of_npm_start_stops_the_gateway(tmp_path: Path) -> None:
    """`npm start` execs node: the PID a user has (`$!`, or ps) stops the gateway, no node left behind."""
    with readme_gateway("README.md", tmp_path, world_for(real_account_config("README.md"))) as gateway:
        os.kill(gateway.npm_pid, signal.SIGTERM)
        wait_for(lambda: not alive(gateway.node_pid), timeout=15, what="node gateway.mjs stopping with npm start")
        assert not listening(gateway.port)
