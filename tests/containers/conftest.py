"""The containers tier: the project's images and its Home Assistant App, built and run with podman.

Runs when scripts/setup_containers.sh could set podman up (./scripts/test sources it), and skips
with its reason otherwise. Each image is built once per session, with podman's layer cache, so a
warm run builds nothing; the tier's wall time is printed at the end of the run.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass

import pytest

from tests.containers.podman import (
    APP_IMAGE,
    BRIDGE_IMAGE,
    GATEWAY_IMAGE,
    MOSQUITTO_IMAGE,
    ROOT,
    TEST_BASE,
    Built,
    build_many,
    image_megabytes,
    skip_reason,
)

#: Room for a cold build (apt, pip and npm over the network) inside the first test that needs it.
TIER_TEST_TIMEOUT = 1200

_started = pytest.StashKey[float]()
_finished = pytest.StashKey[float]()
_builds = pytest.StashKey[list[Built]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = skip_reason()
    for item in items:
        if item.path.parent != ROOT / "tests" / "containers":
            continue
        item.add_marker(pytest.mark.containers)
        item.add_marker(pytest.mark.timeout(TIER_TEST_TIMEOUT))
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    if item.get_closest_marker("containers") is None or item.get_closest_marker("skip") is not None:
        return (yield)
    item.config.stash.setdefault(_started, time.monotonic())
    try:
        return (yield)
    finally:
        item.config.stash[_finished] = time.monotonic()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if _started not in config.stash:
        return
    seconds = config.stash.get(_finished, time.monotonic()) - config.stash[_started]
    builds = ", ".join(f"{b.tag} {b.seconds:.0f} s" for b in config.stash.get(_builds, []))
    terminalreporter.write_line(f"containers tier: {seconds:.0f} s (builds: {builds or 'none'})")
    for tag in (BRIDGE_IMAGE, GATEWAY_IMAGE, APP_IMAGE):
        with contextlib.suppress(AssertionError):
            terminalreporter.write_line(f"  {tag}: {image_megabytes(tag):.0f} MB")


@dataclass(frozen=True, slots=True)
class Images:
    bridge: str
    gateway: str
    app: str
    mosquitto: str


@pytest.fixture(scope="session")
def images(request: pytest.FixtureRequest) -> Iterator[Images]:
    """docker/Dockerfile, docker/gateway.Dockerfile (side by side), then the App on the bridge image
    and the compose test's broker, all on the local trixie base."""
    base = {"BASE": TEST_BASE}
    built = build_many((BRIDGE_IMAGE, ROOT / "docker" / "Dockerfile", ROOT, base),
                       (GATEWAY_IMAGE, ROOT / "docker" / "gateway.Dockerfile", ROOT, base))
    app = ROOT / "wechat_mqtt_bridge"
    built += build_many((APP_IMAGE, app / "Dockerfile", app, {"BRIDGE_IMAGE": BRIDGE_IMAGE}),
                        (MOSQUITTO_IMAGE, ROOT / "tests" / "containers" / "mosquitto.Dockerfile",
                         ROOT / "tests" / "containers", base))
    request.config.stash[_builds] = built
    yield Images(bridge=BRIDGE_IMAGE, gateway=GATEWAY_IMAGE, app=APP_IMAGE, mosquitto=MOSQUITTO_IMAGE)
