"""`wechat-mqtt-bridge health`, the Docker HEALTHCHECK, against a running bridge on the real broker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import BridgeFactory
from tests.support.broker import MosquittoBroker
from tests.support.gateway import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def health(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", "health", "--config", str(config), *extra],
                          check=False, capture_output=True, text=True, timeout=30, cwd=ROOT,
                          env={**os.environ, "WECHATY_PUPPET_SERVICE_TOKEN": "t"})


def test_healthy_bridge_answers(start_bridge: BridgeFactory) -> None:
    bridge = start_bridge('rooms:\n  family: {topic: "Happy Family"}\n')
    result = health(bridge.config_path)
    assert (result.returncode, result.stdout, result.stderr) == (
        0, "healthy: WeChat logged in as Bridge Bot, broker connected, 0 queued\n", "")


def test_no_bridge_answering_is_unhealthy(tmp_path: Path, broker: MosquittoBroker) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"mqtt: {{port: {broker.port}, base_topic: nobody}}\n")
    result = health(config, "--timeout", "1")
    assert (result.returncode, result.stdout) == (
        1, "unhealthy: no answer from the bridge on nobody/bridge/response/health_check within 1 s\n")


def test_unreachable_broker_is_unhealthy(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(f"mqtt: {{port: {port}}}\n")
    result = health(config, "--timeout", "2")
    assert result.returncode == 1
    assert result.stdout.startswith(f"unhealthy: cannot reach the MQTT broker at 127.0.0.1:{port}: ")
    assert result.stdout.count("\n") == 1
