"""What is in the images: Python 3.13 without build tools, Node from Debian, users, volumes, sizes.

The sizes are the README's: each image's size as `podman images` shows it must be within a fifth
of the number the README gives (both README.md and README.zh-CN.md), so the README is remeasured
when an image grows.
"""

from __future__ import annotations

import re

import pytest

from tests.containers.conftest import Images
from tests.containers.podman import ROOT, image_megabytes, inspect_image, podman

#: Anything that compiles or installs Python or Node packages.
BUILD_TOOLS = ("gcc", "cc", "c++", "make", "pip", "pip3", "npm")


def run(image: str, script: str) -> str:
    return podman("run", "--rm", "--entrypoint", "sh", image, "-c", script).stdout


def test_the_bridge_image_has_python_3_13_and_no_build_tools(images: Images) -> None:
    assert run(images.bridge, "python3 --version").startswith("Python 3.13.")
    found = run(images.bridge, "for t in gcc cc c++ make pip pip3 npm; do command -v $t || true; done; "
                               "ls /opt/bridge/bin")
    assert [line for line in found.split() if "/" in line and line.rsplit("/", 1)[1] in BUILD_TOOLS] == []
    assert "pip" not in found.split()  # not even inside the venv
    assert run(images.bridge, "ls /var/lib/apt/lists | wc -l").strip() == "0"  # apt-get clean and lists gone


def test_the_bridge_image_starts_without_compiling_anything(images: Images) -> None:
    # Every module a start and the health check import has its bytecode in the image (the bridge user
    # cannot write it there): nothing is compiled again at each start.
    probe = ("import os, sys; from bridge.cli import main; from bridge.config.loader import load_config; "
             "import bridge.app, bridge.wechat.official, bridge.wechat.client, bridge.fallback.apprise, "
             "bridge.http.door; print(sorted(n for n, m in list(sys.modules.items()) "
             "if getattr(m, '__cached__', None) and not os.path.exists(m.__cached__)))")
    assert podman("run", "--rm", "--entrypoint", "python3", images.bridge, "-c", probe).stdout.strip() == "[]"


def test_the_gateway_image_runs_debians_node_without_npm(images: Images) -> None:
    assert run(images.gateway, "node --version").startswith("v20.")
    assert run(images.gateway, "command -v npm gcc make || true").strip() == ""


@pytest.mark.parametrize(("image", "user", "volumes"), [("bridge", "bridge", {"/config", "/data"}),
                                                       ("gateway", "gateway", {"/data"})])
def test_images_run_as_their_own_user_with_data_in_a_volume(images: Images, image: str, user: str,
                                                             volumes: set[str]) -> None:
    inspected = inspect_image(getattr(images, image))
    assert inspected["Config"]["User"] == user
    assert set(inspected["Config"]["Volumes"]) == volumes
    assert inspected["Healthcheck"]["Test"][0] == "CMD"  # kept: built in Docker format


def readme_sizes(path: str) -> dict[str, float]:
    """`| image | … | 123 MB |` rows of the README's image size table."""
    text = (ROOT / path).read_text()
    return {name: float(size) for name, size in re.findall(r"^\| `([\w-]+)` \|.*?\| (\d+) MB \|$", text, re.MULTILINE)}


@pytest.mark.parametrize("readme", ["README.md", "README.zh-CN.md"])
def test_the_readme_records_the_image_sizes(images: Images, readme: str) -> None:
    recorded = readme_sizes(readme)
    for name, tag in (("wechat-mqtt-bridge", images.bridge), ("wechat-mqtt-bridge-gateway", images.gateway)):
        measured = image_megabytes(tag)
        assert name in recorded, f"{readme} has no size for {name} (measured {measured:.0f} MB)"
        assert abs(measured - recorded[name]) <= recorded[name] / 5, f"{name}: {measured:.0f} MB, {readme} says " \
                                                                      f"{recorded[name]:.0f} MB"
