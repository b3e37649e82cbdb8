"""The README's own examples work as written: a newcomer copies them first."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = "<!-- checked by tests/test_readme.py: `wechat-mqtt-bridge check` must accept this config -->"


def real_account_config() -> str:
    readme = (ROOT / "README.md").read_text()
    found = re.search(re.escape(MARKER) + r"\n```yaml\n(.*?)\n```", readme, re.DOTALL)
    assert found, "the README's example config for a real account is gone (or its marker moved)"
    return found.group(1) + "\n"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "WECHATY_TOKEN": "a-random-gateway-token"}
    return subprocess.run([sys.executable, "-m", "bridge", *args], check=False, capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env=env)


def test_check_accepts_the_real_account_example(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(real_account_config())
    result = cli("check", "--config", str(path))
    assert (result.returncode, result.stderr, result.stdout) == (0, "", f"{path}: OK (2 routes, 2 rooms)\n")


def test_the_real_account_example_renders_its_door_message(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(real_account_config())
    result = cli("render", "--config", str(path), "--topic", "home/front/door", "--payload", '{"state": "open"}')
    assert result.returncode == 0, result.stderr
    assert re.search(r"-> family \(room topic 'Happy Family'\):\n +🚪 The front door was opened at \d\d:\d\d\n",
                     result.stdout), result.stdout
