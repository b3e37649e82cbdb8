"""The bridge as a user runs it: `python -m bridge run --config FILE`, in its own process.

Tests learn where it stands from its state, never from its log wording: what it publishes on
the broker (a watcher built from its own config file, so TLS and passwords come along) and the
rows of its outbox (read-only). The log is kept for assertions on what a user must read there.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import yaml

from tests.support.mqtt_client import TestClient
from tests.support.waiting import wait_for


class BridgeProcess:
    def __init__(self, config_path: Path, *, env: dict[str, str] | None = None) -> None:
        self.config_path = config_path
        self.log_path = config_path.with_suffix(".log")
        self._env = {**os.environ, **(env or {})}
        self._process: subprocess.Popen[bytes] | None = None

    # --- what its config file says ---------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = yaml.safe_load(self.config_path.read_text())
        return config

    @property
    def base_topic(self) -> str:
        return str(self.config()["mqtt"].get("base_topic", "wechat"))

    @property
    def outbox_path(self) -> Path:
        return Path(self.config()["outbox"]["path"])

    def watcher(self, topics: list[str]) -> TestClient:
        """A client on the bridge's broker, connected as its config says (TLS, user, password)."""
        mqtt = self.config()["mqtt"]
        password = mqtt.get("password")
        if mqtt.get("password_file"):
            password = Path(mqtt["password_file"]).read_text().strip()
        tls = mqtt.get("tls") or {}
        return TestClient(mqtt.get("host", "127.0.0.1"), int(mqtt.get("port", 1883)), topics,
                          ca_file=tls.get("ca_file"), username=mqtt.get("username"), password=password)

    # --- the process -----------------------------------------------------------------------------

    def start(self, *, wait_ready: bool = False, timeout: float = 30.0) -> BridgeProcess:
        """Start it; `wait_ready` blocks until it has resolved its rooms after logging in to WeChat:
        it publishes `<base>/bridge/rooms` then, live (so not a retained leftover of an earlier run)."""
        rooms = f"{self.base_topic}/bridge/rooms"
        watcher = self.watcher([rooms]) if wait_ready else None
        try:
            with self.log_path.open("ab") as log:
                self._process = subprocess.Popen(
                    [sys.executable, "-m", "bridge", "run", "--config", str(self.config_path)],
                    stdout=log, stderr=subprocess.STDOUT, env=self._env,
                )
            if watcher is not None:
                def ready() -> bool:
                    self.assert_running()
                    return any(m.topic == rooms and not m.retain for m in watcher.messages())
                wait_for(ready, timeout=timeout, what=f"the bridge publishing {rooms} (rooms resolved)",
                         detail=lambda: self.log()[-3000:])
        finally:
            if watcher is not None:
                watcher.close()
        return self

    def assert_running(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise AssertionError(f"the bridge exited ({self._process.returncode}):\n{self.log()[-3000:]}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # --- its outbox, read-only -------------------------------------------------------------------

    def outbox_rows(self) -> list[dict[str, Any]]:
        """Every delivery row of its outbox ([] before the bridge has created it)."""
        if not self.outbox_path.exists():
            return []
        try:
            with closing(sqlite3.connect(f"file:{self.outbox_path}?mode=ro", uri=True, timeout=5)) as db:
                db.row_factory = sqlite3.Row
                return [dict(row) for row in db.execute("SELECT * FROM deliveries ORDER BY seq")]
        except sqlite3.OperationalError:  # created, its tables not yet
            return []

    def wait_outbox(self, predicate: Any, *, what: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The outbox's rows once `predicate(rows)` holds."""
        def check() -> list[dict[str, Any]] | None:
            self.assert_running()
            rows = self.outbox_rows()
            return rows if predicate(rows) else None
        return wait_for(check, timeout=timeout, what=f"the outbox: {what}", detail=lambda: self.log()[-3000:])

    def wait_started(self, timeout: float = 30.0) -> None:
        """The bridge has opened its outbox: it opens it first, then connects to the broker and the gateway."""
        def opened() -> bool:
            self.assert_running()
            if not self.outbox_path.exists():
                return False
            try:
                with closing(sqlite3.connect(f"file:{self.outbox_path}?mode=ro", uri=True, timeout=5)) as db:
                    return bool(db.execute("SELECT 1 FROM sqlite_master WHERE name = 'deliveries'").fetchone())
            except sqlite3.OperationalError:
                return False
        wait_for(opened, timeout=timeout, what="the bridge opening its outbox", detail=lambda: self.log()[-3000:])

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        if self._process is None:
            return None
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        code = self._process.returncode
        self._process = None
        return code

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
