"""What `pip install .` brings: the dead wechaty SDK and the stack it dragged in stay out."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The SDK's own packages and what only it needed (issue: the WeChat link on well-kept libraries).
GONE = {"wechaty", "wechaty-puppet", "wechaty-puppet-service", "wechaty-grpc", "grpclib", "betterproto", "pyee"}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_project_does_not_depend_on_the_sdk_stack() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    wanted |= {_name(r) for extra in project["optional-dependencies"].values() for r in extra}
    assert not wanted & (GONE | {"urllib3", "h2"})
    assert project["requires-python"] == ">=3.11"


def test_the_installed_tree_has_none_of_it() -> None:
    installed = {(dist.metadata["Name"] or "").lower().replace("_", "-"): dist.version
                 for dist in importlib.metadata.distributions()}
    assert not set(installed) & GONE
    # urllib3 may come with the test tools (requests), but never the unmaintained 1.x the SDK pinned.
    if "urllib3" in installed:
        assert int(installed["urllib3"].split(".")[0]) >= 2
