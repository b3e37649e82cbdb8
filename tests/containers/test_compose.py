"""docker/compose.yaml brought up with podman-compose on its gateway path: broker, gateway (mock
puppet) and bridge with docker/bridge-gateway.yaml.

The stack is the file users run, with what this machine cannot have swapped out: mosquitto's image
(Docker Hub is out of reach; Debian's mosquitto stands in, laid out as the official image is) and
its published port (the machine's own broker holds 1883: a free loopback port instead). Relative
paths are made absolute, since the copy lives in a temporary folder. The images are the ones the
session built from docker/Dockerfile and docker/gateway.Dockerfile, under the names compose gives them.

The gateway path is what `--profile gateway` with `BRIDGE_CONFIG=bridge-gateway.yaml` in docker/.env
gives: the copy drops the gateway's `profiles:` (podman-compose 1.0.3 ignores profiles and would
start it anyway; Docker compose would not without the flag) and mounts that config. The default
path (the official bot) cannot log in here; tests/test_docker.py checks its files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.containers.conftest import Images
from tests.containers.podman import ROOT, health, podman
from tests.support.broker import free_port
from tests.support.mqtt_client import TestClient
from tests.support.waiting import wait_for

DOCKER = ROOT / "docker"
TOKEN = "compose-gateway-token-0123456789"
#: docker/.env's choice of config for the gateway path.
BRIDGE_CONFIG = "bridge-gateway.yaml"
#: podman-compose 1.0.3 names containers <project>_<service>_1; one project per test run, so two
#: checkouts testing at once on one machine do not take each other's stack down.
PROJECT = f"wmbtest{os.getpid()}"


def test_stack(compose_file: Path, mosquitto_image: str, port: int) -> dict[str, Any]:
    stack: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    for service in stack["services"].values():
        service.pop("profiles", None)  # `--profile gateway`
        if "build" in service:
            service["build"]["context"] = str((DOCKER / service["build"]["context"]).resolve())
        # BRIDGE_CONFIG resolved first: its `:-` default holds a colon of its own.
        volumes = [v.replace("${BRIDGE_CONFIG:-bridge.yaml}", BRIDGE_CONFIG) for v in service.get("volumes", [])]
        service["volumes"] = [str((DOCKER / v.split(":")[0]).resolve()) + v[v.index(":"):] if v.startswith(".")
                              else v for v in volumes]
    assert any(v.startswith(str(DOCKER / BRIDGE_CONFIG) + ":/config/bridge.yaml") for v in
               stack["services"]["bridge"]["volumes"]), stack["services"]["bridge"]["volumes"]
    stack["services"]["mosquitto"]["image"] = mosquitto_image
    stack["services"]["mosquitto"]["ports"] = [f"127.0.0.1:{port}:1883"]
    compose_file.write_text(yaml.safe_dump(stack, sort_keys=False))
    return stack


test_stack.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@dataclass(frozen=True)
class Stack:
    port: int
    listener: TestClient

    def container(self, service: str) -> str:
        return f"{PROJECT}_{service}_1"


def compose(compose_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WECHATY_TOKEN": TOKEN, "WECHATY_PUPPET": "wechaty-puppet-mock", "TZ": "Europe/Berlin",
           "BRIDGE_CONFIG": BRIDGE_CONFIG}
    # Output to files, not pipes: the containers' conmon may hold a pipe open after podman-compose exits.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        command = [shutil.which("podman-compose") or "podman-compose", "-f", str(compose_file), "-p", PROJECT, *args]
        code = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=300, env=env,
                              check=False).returncode
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(command, code, out.read(), err.read())


def forget_stack(compose_file: Path) -> subprocess.CompletedProcess[str]:
    """`down -v`, and the network too: podman-compose 1.0.3 leaves it, with the DNS setup of its day."""
    down = compose(compose_file, "down", "-v")
    podman("network", "rm", "-f", f"{PROJECT}_default", check=False)
    return down


def connect(port: int) -> TestClient | None:
    try:
        return TestClient("127.0.0.1", port, ["wechat/bridge/#"])
    except (OSError, TimeoutError, AssertionError):
        return None  # the broker's container is not listening yet


@pytest.fixture(scope="module")
def stack(images: Images, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    compose_file = tmp_path_factory.mktemp("compose") / "compose.yaml"
    port = free_port()
    test_stack(compose_file, images.mosquitto, port)
    forget_stack(compose_file)  # what an interrupted earlier run may have left
    up = compose(compose_file, "up", "-d", "--no-build")
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        listener = wait_for(lambda: connect(port), timeout=60, what="the stack's broker on the published port")
        try:
            # The bridge has logged in and resolved its rooms when it publishes them (retained).
            listener.wait_for(lambda m: m.topic == "wechat/bridge/rooms", timeout=90)
            yield Stack(port, listener)
        finally:
            listener.close()
    finally:
        down = forget_stack(compose_file)
        assert down.returncode == 0, down.stderr[-3000:]


def test_the_stack_delivers_an_event_published_from_the_host(stack: Stack) -> None:
    event_id = uuid.uuid4().hex[:8]
    # ops, not family: docker/bridge-gateway.yaml gives family quiet hours, which would hold it till morning.
    stack.listener.publish("wechat/send/ops", json.dumps({"id": event_id, "text": "Hello through compose"}))
    report = stack.listener.wait_for(lambda m: m.topic == "wechat/bridge/delivery" and m.json()["id"] == event_id,
                                     timeout=30)[0].json()
    assert report["status"] == "delivered", report
    assert report["room"]["topic"] == "Ops"


def test_both_images_pass_their_healthcheck_as_their_own_users(stack: Stack) -> None:
    for service, uid in (("bridge", "10001"), ("gateway", "10002")):
        name = stack.container(service)
        # The bridge's check asks over MQTT: healthy once the broker is connected and WeChat logged in.
        wait_for(lambda name=name: health(name) == 0, timeout=60, what=f"{service}'s HEALTHCHECK passing")
        assert podman("exec", name, "id", "-u").stdout.strip() == uid
    # The outbox is in the bridge's volume, written by its non-root user.
    owner = podman("exec", stack.container("bridge"), "stat", "-c", "%u", "/data/outbox.sqlite3").stdout.strip()
    assert owner == "10001"
