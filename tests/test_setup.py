"""scripts/setup.sh's choice of Python, as a newcomer meets it: stand-in interpreters on PATH.

Each stand-in answers setup.sh's version probe the way that Python would: a version of 3.11 or
newer on stdout, or exit 1 for an older one.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def interpreters(directory: Path, versions: dict[str, str]) -> Path:
    """`name -> version` stand-ins in `directory` (version "" for one that does not run)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, version in versions.items():
        old = not version or tuple(map(int, version.split(".")[:2])) < (3, 11)
        body = "exit 1" if old else f"echo {version}"
        (directory / name).write_text(f"#!/bin/sh\n{body}\n")
        (directory / name).chmod(0o755)
    return directory


def setup(script: str, path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`script` run after sourcing setup.sh's steps, with only `path` and the system's tools on PATH."""
    return subprocess.run(["bash", "-c", f"SETUP_FOR=functions source scripts/setup.sh && {script}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=30, check=False,
                          env={"PATH": f"{path}:/usr/bin:/bin", "HOME": str(path), **env})


def test_the_newest_supported_python_is_picked_and_said_why(tmp_path: Path) -> None:
    bin_ = interpreters(tmp_path / "bin", {"python3.11": "3.11.9", "python3.12": "3.12.4", "python3.13": "3.13.1",
                                           "python3.14": "3.14.0", "python3": "3.11.9"})
    done = setup("pick_python", bin_)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == ("python3.13 3.13.1 because it is the newest supported Python found (tried 3.13 3.12 3.11; "
                           "PYTHON=... picks another)\n")


def test_python_names_the_one_to_use(tmp_path: Path) -> None:
    bin_ = interpreters(tmp_path / "bin", {"python3.13": "3.13.1", "python3.11": "3.11.9"})
    assert setup("pick_python", bin_, PYTHON="python3.11").stdout == "python3.11 3.11.9 because PYTHON=python3.11\n"
    refused = setup("pick_python", interpreters(bin_, {"python3.10": "3.10.4"}), PYTHON="python3.10")
    assert refused.returncode == 1
    assert refused.stderr.startswith("PYTHON=python3.10 does not run, or is older than 3.11")


def test_a_venv_made_with_another_python_is_kept_and_said(tmp_path: Path) -> None:
    bin_ = interpreters(tmp_path / "bin", {"python3.13": "3.13.1"})
    venv = tmp_path / "venv"
    interpreters(venv / "bin", {"python": "3.11.9"})
    stamp = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    (venv / ".installed").write_text(f"{stamp} [dev]\n")  # installed for the tests: serves the demo too
    done = setup("ensure_python demo", bin_, VENV=str(venv))
    assert done.returncode == 0
    assert f"{venv} was made with Python 3.11.9, not 3.13.1 (python3.13, picked because it is the newest " \
           f"supported Python found" in done.stderr
    assert f"keeping it; rm -rf {venv} to switch" in done.stderr
