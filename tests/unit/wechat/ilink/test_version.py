"""The version iLink's bot_agent names is the package's (bridge/__init__.py keeps it as a constant)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import bridge


def test_the_constant_version_is_pyprojects() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[4] / "pyproject.toml").read_text())
    assert bridge.__version__ == pyproject["project"]["version"]
