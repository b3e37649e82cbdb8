"""A real mosquitto broker per test session (or per test, for tests that stop and restart it)."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

INSTALL_HINT = (
    "the integration tests need the mosquitto broker binary: run ./scripts/test (it installs it), "
    "or install it yourself (Debian/Ubuntu: apt-get install mosquitto; macOS: brew install mosquitto)"
)


def find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MosquittoBroker:
    """Runs `mosquitto` on a free loopback port with a config of our own.

    `persistence=True` keeps queued QoS 1 messages of persistent sessions across `restart()`,
    the way a production broker is usually configured.
    """

    def __init__(self, *, port: int | None = None, persistence: bool = False, extra_config: str = "") -> None:
        binary = find_mosquitto()
        if binary is None:
            raise RuntimeError(INSTALL_HINT)
        self.binary = binary
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self._dir = Path(tempfile.mkdtemp(prefix="mosquitto-"))
        self.log_path = self._dir / "mosquitto.log"
        lines = [
            f"listener {self.port} 127.0.0.1",
            # Started as root, mosquitto drops to user `mosquitto`, which cannot write our
            # mkdtemp (0700) directory: no log and, worse, no persistence. Stay who we are.
            f"user {getpass.getuser()}",
            "allow_anonymous true",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {self._dir}/",
            "autosave_interval 1",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "max_queued_messages 100000",
            extra_config,
        ]
        self.config_path = self._dir / "mosquitto.conf"
        self.config_path.write_text("\n".join(lines) + "\n")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> MosquittoBroker:
        with (self._dir / "stderr.log").open("ab") as stderr:
            self._process = subprocess.Popen(
                [self.binary, "-c", str(self.config_path)], stdout=subprocess.DEVNULL, stderr=stderr,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = (self._dir / "stderr.log").read_text(errors="replace")
                raise RuntimeError(f"mosquitto exited at start: {err}{self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout} s")

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), so persistence is written."""
        if self._process is None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
