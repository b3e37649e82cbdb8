"""The podman CLI for the containers tier: build the project's images once, read their facts.

Images are built with `podman build` (layers cached in podman's store across runs: a warm run
rebuilds nothing) and run with testcontainers through podman's Docker API. Both see the same store.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
#: The local debootstrap of trixie that scripts/setup_containers.sh builds; the Dockerfiles' BASE.
TEST_BASE = os.environ.get("BRIDGE_TEST_BASE", "localhost/debian:trixie-slim")
#: The names docker/compose.yaml gives the images it builds, as podman stores them.
BRIDGE_IMAGE = "localhost/wechat-mqtt-bridge:latest"
GATEWAY_IMAGE = "localhost/wechat-mqtt-bridge-gateway:latest"
APP_IMAGE = "localhost/wechat-mqtt-bridge-app:test"
MOSQUITTO_IMAGE = "localhost/wechat-mqtt-bridge-test-mosquitto:latest"
#: A cold build (apt, pip, npm over the network) takes a few minutes; a warm one seconds.
BUILD_TIMEOUT = 900


def skip_reason() -> str | None:
    """Why the containers tier cannot run here, or None."""
    given = os.environ.get("BRIDGE_CONTAINERS_SKIP")
    if given:
        return f"containers tier: {given}"
    if shutil.which("podman") is None:
        return "containers tier: no podman (./scripts/test installs it with scripts/setup_containers.sh)"
    if not os.environ.get("DOCKER_HOST") or not os.environ.get("CONTAINERS_CONF"):
        return ("containers tier: podman's API service is not running: run ./scripts/test, or "
                "`source scripts/setup.sh && source scripts/setup_containers.sh` before pytest")
    return None


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    # Output to files, not pipes: `podman exec` and `healthcheck run` start conmon, which may keep a
    # pipe's write end open after podman exits, and then reading a pipe never ends (nor does
    # subprocess.run's own timeout, which reads the pipes again after killing the child).
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        code = subprocess.run(["podman", *args], stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=timeout,
                              check=False).returncode
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(["podman", *args], code, out.read(), err.read())
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {result.returncode}:\n{result.stderr[-4000:]}")
    return result


@dataclass(frozen=True, slots=True)
class Built:
    tag: str
    seconds: float


def build_many(*jobs: tuple[str, Path, Path, dict[str, str]]) -> list[Built]:
    """Builds side by side (one is mostly network, the other CPU): two cores, two builds. Docker
    format, as `docker build` makes: the OCI format has no place for HEALTHCHECK."""
    started = time.monotonic()
    running = []
    for tag, dockerfile, context, build_args in jobs:
        args = [arg for name, value in build_args.items() for arg in ("--build-arg", f"{name}={value}")]
        running.append((tag, dockerfile, subprocess.Popen(
            ["podman", "build", "--format", "docker", "--layers", "-q", "-f", str(dockerfile), *args, "-t", tag,
             str(context)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    built = []
    for tag, dockerfile, process in running:
        _, err = process.communicate(timeout=BUILD_TIMEOUT)
        if process.returncode != 0:
            raise AssertionError(f"podman build of {dockerfile} failed:\n{err[-6000:]}")
        built.append(Built(tag, time.monotonic() - started))
    return built


def inspect_image(tag: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = json.loads(podman("image", "inspect", tag).stdout)
    return found[0]


def image_megabytes(tag: str) -> float:
    """The image's size as `podman images` (and `docker images`) show it, in MB (10^6 bytes)."""
    return float(inspect_image(tag)["Size"]) / 1e6


def health(container_id: str) -> int:
    """`podman healthcheck run`: 0 when the image's HEALTHCHECK passes now."""
    return podman("healthcheck", "run", container_id, check=False, timeout=60).returncode
