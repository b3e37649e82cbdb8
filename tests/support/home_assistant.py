"""A real Home Assistant core (tests/support/ha_core.py) on the test's broker, run by `.venv-ha`.

`scripts/setup.sh` creates `.venv-ha` where a Python new enough for Home Assistant is found; the
tests that need it skip with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.support.broker import MosquittoBroker, free_port
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
HA_PYTHON = Path(os.environ.get("HA_VENV", ROOT / ".venv-ha")) / "bin" / "python"
CORE = Path(__file__).with_name("ha_core.py")

CONFIGURATION = """\
homeassistant:
  name: Test home
  time_zone: UTC
  latitude: 0
  longitude: 0
  elevation: 0
  unit_system: metric
  country: CN
  currency: CNY
http:
  server_host: 127.0.0.1
  server_port: {port}
logger:
  default: warning
  logs:
    homeassistant.components.mqtt: info
"""


def require_home_assistant() -> None:
    """Skip the test, saying why, when `.venv-ha` was not created."""
    if not HA_PYTHON.exists():
        pytest.skip(f"no Home Assistant virtualenv at {HA_PYTHON.parent.parent}: scripts/setup.sh creates it "
                    "where Python 3.13 or newer is found (PATH, pyenv, or HA_PYTHON=/path/to/python3.13)")


class HomeAssistantCore:
    def __init__(self, broker: MosquittoBroker) -> None:
        require_home_assistant()
        self._dir = Path(tempfile.mkdtemp(prefix="home-assistant-"))
        (self._dir / "configuration.yaml").write_text(CONFIGURATION.format(port=free_port()))
        self.states_path = self._dir / "states.json"
        self.log_path = self._dir / "core.log"
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [str(HA_PYTHON), str(CORE), str(self._dir), broker.host, str(broker.port), str(self.states_path)],
                stdout=log, stderr=subprocess.STDOUT, cwd=self._dir)
        self.wait_until(lambda snap: snap["mqtt"], what="the MQTT integration set up", timeout=120)

    def snapshot(self) -> dict[str, Any]:
        if self._process.poll() is not None:
            raise AssertionError(f"Home Assistant exited ({self._process.returncode}):\n{self.log()[-3000:]}")
        try:
            snap: dict[str, Any] = json.loads(self.states_path.read_text())
        except (OSError, ValueError):  # not written yet
            return {"states": {}, "entities": {}, "mqtt": False}
        return snap

    def wait_until(self, predicate: Any, *, what: str, timeout: float = 30.0) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            snap = self.snapshot()
            return snap if predicate(snap) else None
        return wait_for(check, timeout=timeout, what=f"Home Assistant: {what}",
                        detail=lambda: json.dumps(self.snapshot(), ensure_ascii=False)[-3000:])

    def state(self, unique_id: str, snap: dict[str, Any] | None = None) -> str | None:
        """What HA shows for the MQTT entity with `unique_id`, or None when HA has no such entity."""
        snap = snap or self.snapshot()
        entity_id = snap["entities"].get(unique_id)
        found = snap["states"].get(entity_id) if entity_id else None
        return found["state"] if found else None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self._dir, ignore_errors=True)
