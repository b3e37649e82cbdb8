"""Drive the project's WeChat gateway (gateway/gateway.mjs) serving the mock puppet, from pytest.

The gateway is the production one, the same entry point the Docker image runs: the official
wechaty puppet-service gRPC server in front of the official mock puppet
(``WECHATY_PUPPET=wechaty-puppet-mock``), so the bridge under test connects exactly as it would to
a real account's gateway.  The test controls (tests/gateway/controls.mjs) are loaded beside it
with ``node --import``; the production entry point has none.  This module owns the Node process:
it starts it, waits until it is ready, sends JSON-line control commands on its stdin and routes
the JSON-line replies and events it prints on stdout.  It is synchronous on purpose: tests (sync
or async) call it from any thread, and a background thread does all the reading so a chatty
gateway can never block on a full pipe.
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
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from tests.support.waiting import wait_for, wait_on

ROOT = Path(__file__).resolve().parent.parent.parent
GATEWAY_DIR = ROOT / "gateway"
GATEWAY_SCRIPT = GATEWAY_DIR / "gateway.mjs"
CONTROLS_SCRIPT = ROOT / "tests" / "gateway" / "controls.mjs"

#: Token the gateway accepts unless a test picks another one (16 characters or more, as the
#: gateway requires).  The bridge sends it as ``authorization: Wechaty <token>`` metadata on every call.
DEFAULT_TOKEN = "mock-gateway-token"

#: A small world most tests can share: the bot, two contacts, two rooms.
DEFAULT_FIXTURE: dict[str, Any] = {
    "user": {"id": "bot", "name": "Bridge Bot"},
    "contacts": [{"id": "alice", "name": "Alice"}, {"id": "bob", "name": "Bob"}],
    "rooms": [
        {"id": "room-family@chatroom", "topic": "Happy Family", "members": ["alice", "bob"]},
        {"id": "room-work@chatroom", "topic": "Work", "members": ["bob"]},
    ],
}

_STDERR_TAIL_LINES = 200

#: The Node options the gateway image sets (`ENV NODE_OPTIONS` in docker/gateway.Dockerfile, which
#: says why; tests/test_docker.py checks the two agree), so tests and benchmarks run the gateway as
#: the image does.
NODE_OPTIONS = "--max-semi-space-size=1"


def gateway_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a gateway process: ours without any WECHATY_* variable, with the image's
    NODE_OPTIONS, plus ``extra``.

    A WECHATY_* variable or NODE_OPTIONS the developer happens to have set must not change what a test runs.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("WECHATY_")}
    env["NODE_OPTIONS"] = NODE_OPTIONS
    env.update(extra or {})
    return env


class GatewayError(RuntimeError):
    """The gateway could not be installed, started or reached."""


class GatewayCommandError(GatewayError):
    """The gateway answered a control command with ``ok: false``."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now.

    The OS picks it (bind to port 0), so parallel test runs do not collide;
    there is a small window before the gateway binds it, which is acceptable
    for tests.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ensure_installed(timeout: float = 600.0) -> None:
    """Make sure the gateway's Node dependencies are installed.

    ``node_modules`` is not committed, so a fresh checkout (CI, a new machine)
    installs it from the pinned ``package-lock.json`` with ``npm ci``.  When the
    folder already exists nothing is run, which keeps test start-up fast.

    Raises:
        GatewayError: node or npm is missing, or ``npm ci`` failed.
    """
    if shutil.which("node") is None:
        raise GatewayError("`node` is not on PATH: the WeChat gateway needs Node.js >= 18")
    if (GATEWAY_DIR / "node_modules").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise GatewayError(
            f"{GATEWAY_DIR / 'node_modules'} is missing and `npm` is not on PATH: "
            f"install npm, or run `npm ci` in {GATEWAY_DIR}"
        )
    proc = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=GATEWAY_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise GatewayError(
            f"`npm ci` in {GATEWAY_DIR} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
        )


class _Pending:
    """One command waiting for its reply line."""

    __slots__ = ("done", "reply")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.reply: dict[str, Any] | None = None


class MockGateway:
    """A running gateway serving the mock puppet, plus its control channel.

    Typical use::

        gw = MockGateway()
        gw.start(DEFAULT_FIXTURE)
        ... connect the bridge to gw.endpoint with token gw.token ...
        gw.wait_for_messages(1)
        gw.stop()

    Every ``start`` (and ``restart``) begins from the fixture: rooms added or
    renamed and the message record of a previous process are gone.  The gateway's
    WECHATY_DATA (its memory card) is a temporary directory kept across ``restart``
    and removed by ``stop``, unless ``env`` names one.
    """

    def __init__(self, startup_timeout: float = 30.0, command_timeout: float = 10.0) -> None:
        """Configure timeouts; nothing is started until :meth:`start`.

        Args:
            startup_timeout: seconds to wait for the gateway's ``ready`` event.
            command_timeout: default seconds to wait for a command's reply.
        """
        self.startup_timeout = startup_timeout
        self.command_timeout = command_timeout
        self.fixture: dict[str, Any] = {}
        self.port: int | None = None
        self.token: str = DEFAULT_TOKEN
        self.events: list[dict[str, Any]] = []
        self.env: dict[str, str] = {}
        # mkdtemp, not TemporaryDirectory: a killed and never stopped gateway must not turn
        # into a ResourceWarning (an error under our pytest settings).
        self._data_dir: Path | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._fixture_path: Path | None = None
        self._stderr_tail: deque[str] = deque(maxlen=_STDERR_TAIL_LINES)
        self._pending: dict[int, _Pending] = {}
        self._next_req = 0
        self._lock = threading.Lock()
        self._events_changed = threading.Condition(self._lock)
        self._write_lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle

    @property
    def endpoint(self) -> str:
        """``host:port`` to give the bridge as its puppet-service endpoint."""
        if self.port is None:
            raise GatewayError("gateway has not been started")
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """True while the Node process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id of the Node gateway, for fault tests (None when not started)."""
        return self._proc.pid if self._proc is not None else None

    def start(
        self,
        fixture: dict[str, Any] | None = None,
        port: int | None = None,
        token: str = DEFAULT_TOKEN,
        env: dict[str, str] | None = None,
    ) -> MockGateway:
        """Spawn the gateway and block until it listens with the bot logged in.

        Args:
            fixture: the WeChat world (user, contacts, rooms); ``DEFAULT_FIXTURE`` if None.
            port: TCP port on 127.0.0.1; a free one is picked if None.
            token: puppet-service token the bridge must present.
            env: extra gateway environment (TLS certificates, WECHATY_DATA, WECHATY_LOG, ...);
                TLS stays off unless it sets WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER or a
                WECHATY_PUPPET_SERVICE_TLS_* variable.

        Returns:
            self, so ``gw = MockGateway().start(fixture)`` reads naturally.

        Raises:
            GatewayError: with the tail of the gateway's stderr if it exits or is
                not ready within ``startup_timeout``.
        """
        if self.running:
            raise GatewayError("gateway already running; stop() it first")
        ensure_installed()
        self.fixture = DEFAULT_FIXTURE if fixture is None else fixture
        self.port = free_port() if port is None else port
        self.token = token
        self.env = dict(env or {})
        self._spawn()
        return self

    def process_env(self) -> dict[str, str]:
        """The environment the gateway process gets (without the fixture path)."""
        assert self.port is not None
        extra = {
            "WECHATY_PUPPET": "wechaty-puppet-mock",
            "WECHATY_TOKEN": self.token,
            "WECHATY_PUPPET_SERVER_HOST": "127.0.0.1",
            "WECHATY_PUPPET_SERVER_PORT": str(self.port),
            "WECHATY_LOG": "info",
        }
        if not any(k.startswith("WECHATY_PUPPET_SERVICE_TLS_") or k == "WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER"
                   for k in self.env):
            # Tests speak plaintext unless they test TLS.
            extra["WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER"] = "true"
        if "WECHATY_DATA" not in self.env:
            if self._data_dir is None:
                self._data_dir = Path(tempfile.mkdtemp(prefix="mock-gateway-data-"))
            extra["WECHATY_DATA"] = str(self._data_dir)
        return {**extra, **self.env}

    @property
    def data_dir(self) -> Path:
        """The gateway's WECHATY_DATA directory (where its memory card lives)."""
        return Path(self.process_env()["WECHATY_DATA"])

    def _spawn(self) -> None:
        assert self.port is not None
        self._cleanup_fixture_file()
        fd, name = tempfile.mkstemp(prefix="mock-gateway-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.fixture, fh)
        self._fixture_path = Path(name)
        self.events = []
        self._stderr_tail.clear()
        env = gateway_env({**self.process_env(), "WECHATY_PUPPET_MOCK_WORLD": str(self._fixture_path)})
        proc = subprocess.Popen(
            [shutil.which("node") or "node", "--import", CONTROLS_SCRIPT.as_uri(), str(GATEWAY_SCRIPT)],
            cwd=GATEWAY_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self._proc = proc
        assert proc.stdout is not None and proc.stderr is not None
        self._threads = [
            threading.Thread(target=self._read_stdout, args=(proc.stdout,), daemon=True, name="gateway-stdout"),
            threading.Thread(target=self._read_stderr, args=(proc.stderr,), daemon=True, name="gateway-stderr"),
        ]
        for thread in self._threads:
            thread.start()
        try:
            self.wait_for_event(lambda e: e.get("event") == "ready", timeout=self.startup_timeout)
        except GatewayError as exc:
            self.stop()
            raise GatewayError(f"mock gateway did not become ready: {exc}\n{self.stderr_tail()}") from None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the gateway gracefully (SIGTERM), killing it if it lingers.

        Safe to call when it is not running; always releases pipes, threads and the
        temporary WECHATY_DATA.
        """
        self._stop_process(timeout)
        if self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None

    def _stop_process(self, timeout: float = 5.0) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        self._reap()

    def kill(self) -> None:
        """SIGKILL the gateway, as a crash would: for fault-injection tests."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        self._reap()

    def restart(self, fixture: dict[str, Any] | None = None) -> None:
        """Stop (if running) and start again on the same port and token.

        State changed through commands is lost; the fixture is reused unless a
        new one is given.
        """
        if self.port is None:
            raise GatewayError("restart() before start()")
        self._stop_process()
        if fixture is not None:
            self.fixture = fixture
        self._spawn()

    def _reap(self) -> None:
        proc = self._proc
        if proc is None:
            return
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._fail_pending("gateway stopped")
        self._cleanup_fixture_file()

    def _cleanup_fixture_file(self) -> None:
        if self._fixture_path is not None:
            with contextlib.suppress(OSError):
                self._fixture_path.unlink()
            self._fixture_path = None

    def __enter__(self) -> MockGateway:
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ reading

    def _read_stdout(self, stream: IO[str]) -> None:
        for raw in stream:
            line = raw.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                self._stderr_tail.append("[stdout, not JSON] " + line)
                continue
            if isinstance(obj, dict) and "reply" in obj:
                with self._lock:
                    pending = self._pending.pop(obj["reply"], None) if isinstance(obj["reply"], int) else None
                if pending is not None:
                    pending.reply = obj
                    pending.done.set()
                else:
                    self._stderr_tail.append("[unmatched reply] " + line)
            elif isinstance(obj, dict) and "event" in obj:
                with self._events_changed:
                    self.events.append(obj)
                    self._events_changed.notify_all()
        # EOF: the process is gone; wake everybody up.
        with self._events_changed:
            self._events_changed.notify_all()
        self._fail_pending("gateway exited")

    def _read_stderr(self, stream: IO[str]) -> None:
        for raw in stream:
            self._stderr_tail.append(raw.rstrip("\n"))

    def _fail_pending(self, why: str) -> None:
        with self._lock:
            pending = list(self._pending.values())
            self._pending.clear()
        for item in pending:
            item.reply = {"ok": False, "error": why}
            item.done.set()

    def stderr_tail(self, lines: int = 40) -> str:
        """Last lines the gateway logged, for assertion and error messages."""
        tail = list(self._stderr_tail)[-lines:]
        return "--- mock gateway stderr (tail) ---\n" + "\n".join(tail)

    def stderr_lines(self) -> list[str]:
        """Every line the gateway logged since it was (re)started, up to the last 200."""
        return list(self._stderr_tail)

    def wait_for_event(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        """Block until an event line matching ``predicate`` has been seen.

        Events seen before the call count too (they are kept in ``events``).

        Raises:
            GatewayError: on timeout or if the gateway exits first.
        """
        def check() -> dict[str, Any] | None:
            for event in self.events:
                if predicate(event):
                    return event
            exited = self._proc is None or self._proc.poll() is not None
            # Once it exited, let the stdout reader drain what is left before giving up.
            if exited and not any(t.is_alive() for t in self._threads if t.name == "gateway-stdout"):
                raise GatewayError(f"gateway exited (code {self._proc.returncode if self._proc else None})")
            return None

        return wait_on(self._events_changed, check, timeout=timeout, what="a matching gateway event",
                       error=GatewayError)

    # ------------------------------------------------------------------ commands

    def command(self, cmd: str, timeout: float | None = None, **kw: Any) -> Any:
        """Send one control command and return its ``data``.

        Raises:
            GatewayCommandError: the gateway answered ``ok: false``.
            GatewayError: it is not running, or no reply came within the timeout.
        """
        proc = self._proc
        if proc is None or proc.poll() is not None or proc.stdin is None:
            raise GatewayError(f"gateway is not running (command {cmd!r})")
        with self._lock:
            self._next_req += 1
            req = self._next_req
            pending = _Pending()
            self._pending[req] = pending
        line = json.dumps({"cmd": cmd, "req": req, **kw}) + "\n"
        try:
            with self._write_lock:
                proc.stdin.write(line)
                proc.stdin.flush()
        except (OSError, ValueError) as exc:
            with self._lock:
                self._pending.pop(req, None)
            raise GatewayError(f"cannot write to the gateway: {exc}\n{self.stderr_tail()}") from exc
        wait = self.command_timeout if timeout is None else timeout
        if not pending.done.wait(wait):
            with self._lock:
                self._pending.pop(req, None)
            raise GatewayError(f"no reply to {cmd!r} within {wait}s\n{self.stderr_tail()}")
        reply = pending.reply or {}
        if not reply.get("ok"):
            raise GatewayCommandError(f"{cmd}: {reply.get('error')}")
        return reply.get("data")

    def messages(self) -> list[dict[str, Any]]:
        """Everything the bot sent since start (or the last :meth:`clear`), oldest first.

        Each record: seq, room_id, room_topic (at send time), to_id (direct
        messages), type ("text", "file", "contact", "url", ...), text,
        mention_ids, file ({name, mime, base64, url, size} or None), message_id, ts.
        """
        result: list[dict[str, Any]] = self.command("messages")
        return result

    def clear(self) -> int:
        """Forget the recorded sends; returns how many were dropped."""
        return int(self.command("clear")["cleared"])

    def logout(self) -> None:
        """Log the bot out; the bridge gets a logout event.  It stays out across reconnects."""
        self.command("logout")

    def login(self) -> None:
        """Log the bot back in; the bridge gets a login event."""
        self.command("login")

    def status(self) -> dict[str, Any]:
        """{logged_in, user_id, failing}: the gateway's view of the account."""
        result: dict[str, Any] = self.command("status")
        return result

    def add_contact(self, contact_id: str, name: str | None = None) -> None:
        """Create a contact (e.g. to be a member of a room added later)."""
        self.command("add_contact", id=contact_id, name=name or contact_id)

    def add_room(
        self, room_id: str, topic: str, members: list[str] | None = None, inviter_id: str | None = None
    ) -> dict[str, Any]:
        """Create a room and have the bot invited into it (room-join event for the bot).

        ``members`` must be known contact ids; the inviter defaults to the first member.
        Returns {id, topic, member_ids}.
        """
        kw: dict[str, Any] = {"id": room_id, "topic": topic, "members": members or []}
        if inviter_id is not None:
            kw["inviter_id"] = inviter_id
        result: dict[str, Any] = self.command("add_room", **kw)
        return result

    def rename_room(self, room_id: str, topic: str, changer_id: str | None = None) -> dict[str, Any]:
        """Change a room's topic (room-topic event); the changer defaults to a non-bot member."""
        kw: dict[str, Any] = {"id": room_id, "topic": topic}
        if changer_id is not None:
            kw["changer_id"] = changer_id
        result: dict[str, Any] = self.command("rename_room", **kw)
        return result

    def say(self, room_id: str | None, contact_id: str, text: str, mention_ids: list[str] | None = None) -> str | None:
        """Make ``contact_id`` write ``text`` in a room (or to the bot when room_id is None).

        Returns the message id the bridge will see in its message event.
        """
        data = self.command("say", room_id=room_id, contact_id=contact_id, text=text, mention_ids=mention_ids or [])
        message_id: str | None = data.get("message_id")
        return message_id

    def fail_room(self, room_id: str, fail: bool = True) -> None:
        """Make every bot send to ``room_id`` fail (the gateway answers with an error) until turned off."""
        self.command("fail_room", id=room_id, fail=fail)

    def emit_error(self, gerror: str) -> None:
        """Make the puppet emit an ``error`` event with this text, as wechat4u does when it
        cannot reach WeChat (e.g. ``getaddrinfo ENOTFOUND login.wx.qq.com``)."""
        self.command("error", gerror=gerror)

    def scan(self, qrcode: str) -> None:
        """Show a login QR code (a ``scan`` event), as a real puppet does while logged out; :meth:`logout` first."""
        self.command("scan", qrcode=qrcode)

    def rooms(self) -> list[dict[str, Any]]:
        """Current rooms as [{id, topic, member_ids}]."""
        result: list[dict[str, Any]] = self.command("rooms")
        return result

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Block until at least ``count`` sends are recorded, and return the record.

        Woken by the gateway's ``sent`` events, re-checked against the
        authoritative record, so it also works after :meth:`clear`.

        Raises:
            TimeoutError: with what was recorded so far.
        """
        def check() -> list[dict[str, Any]] | None:
            records = self.messages()
            return records if len(records) >= count else None

        # Polled, not under `_events_changed`: `messages()` is a command, whose reply needs that lock.
        try:
            return wait_for(check, timeout=timeout, what=f"{count} sent messages", detail=lambda: str(self.messages()))
        except AssertionError as exc:
            raise TimeoutError(str(exc)) from None


class GatewayProcess:
    """`node gateway/gateway.mjs` as users run it (no controls), with ``env`` on top of ``gateway_env()``.

    Its stderr lines are collected as they come, for tests where the log line is the requirement.
    """

    def __init__(self, env: dict[str, str]) -> None:
        ensure_installed()
        self.port = int(env.get("WECHATY_PUPPET_SERVER_PORT") or free_port())
        self.env = {"WECHATY_PUPPET_SERVER_PORT": str(self.port), **env}
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen([shutil.which("node") or "node", str(GATEWAY_SCRIPT)], cwd=GATEWAY_DIR,
                                     env=gateway_env(self.env), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, encoding="utf-8")
        assert self.proc.stderr is not None
        self._reader = threading.Thread(target=self._read, args=(self.proc.stderr,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for raw in stream:
            with self._changed:
                self.lines.append(raw.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def messages(self) -> list[str]:
        """Our own lines without their time stamp ("gateway: ..."), the libraries' lines left out."""
        return [line.split(" gateway: ", 1)[1] for line in list(self.lines) if " gateway: " in line]

    def wait_listening(self, timeout: float = 30.0) -> None:
        """Block until its port takes a TCP connection: the state a client needs, not a log line."""
        def listening() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"gateway exited ({self.proc.poll()}) before listening:\n" + "\n".join(self.lines))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return True
            except OSError:
                return False

        wait_for(listening, timeout=timeout, what=f"the gateway listening on {self.port}",
                 detail=lambda: "\n".join(self.lines), interval=0.05)

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float = 30.0) -> str:
        """The first of its lines matching `pattern`, for tests where that line is the requirement
        (its stderr is what a gateway's user reads); to wait until it serves, `wait_listening`."""
        regex = re.compile(pattern)

        def check() -> str | None:
            for message in self.messages():
                if regex.search(message):
                    return message
            if not self._reader.is_alive():
                lines = "\n".join(self.lines)
                raise AssertionError(f"gateway exited ({self.proc.poll()}) before {pattern!r}:\n{lines}")
            return None

        return wait_on(self._changed, check, timeout=timeout, what=f"a line matching {pattern!r}",
                       detail=lambda: "\n".join(self.lines))

    def stop(self) -> int:
        """SIGTERM it (if still running); its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=10)
        self.close()
        return code

    def close(self) -> None:
        """Kill it if still running and release the pipe."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
