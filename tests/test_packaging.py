"""What `pip install .` brings: the dead wechaty SDK and the stack it dragged in stay out."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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


def runtime_closure(root: str = "wechat-mqtt-bridge") -> dict[str, str]:
    """Every distribution `pip install .` needs, with its installed version: the bridge's
    requirements followed recursively (no extras), so leftovers of an older venv do not count."""
    found: dict[str, str] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        dist = importlib.metadata.distribution(name)
        found[name] = dist.version
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    return found


def test_the_installed_tree_has_none_of_it() -> None:
    installed = runtime_closure()
    assert "grpcio" in installed and "aiomqtt" in installed  # the walk found the real tree
    assert not set(installed) & GONE
    # The SDK pinned urllib3 < 2, which gets no security fixes. Apprise's HTTP client (requests)
    # brings urllib3 back: only a 2.x line, which does.
    assert "urllib3" not in installed or int(installed["urllib3"].split(".")[0]) >= 2


def test_the_wheel_carries_the_catalog_and_speaks_chinese_installed(tmp_path: Path) -> None:
    """Built from what the Dockerfile copies (pyproject.toml, README.md, bridge/), installed alone."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "bridge", source / "bridge", ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(tmp_path / "dist"), str(source)], check=True, timeout=300)
    [wheel] = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        catalogs = [n for n in archive.namelist() if "/locales/" in n]
    assert catalogs == ["bridge/locales/zh_CN/LC_MESSAGES/bridge.po"]

    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, timeout=120)
    probe = ("import bridge, bridge.i18n as i; from bridge.pipeline.filters import duration; t = i.texts_for('zh-CN'); "
             "print(bridge.__file__); print(t.gettext('{count} notifications:').format(count=7), duration(3725, t))")
    result = subprocess.run([sys.executable, "-c", probe], check=False, capture_output=True, text=True, timeout=60,
                            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(site)})
    assert result.returncode == 0, result.stderr
    where, text = result.stdout.splitlines()
    assert where.startswith(str(site)) and text == "7 条通知： 1小时2分钟"
