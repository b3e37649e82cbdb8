"""What the bridge costs before it sends anything: the installed size of a fresh `pip install .`
venv and the import time of `bridge.app`.

Both measure the checkout the running interpreter imports `bridge` from (CHECKOUT), so the same
code measures the old SDK client and the grpcio one, and `--compare-with` runs it once per
checkout with that checkout's venv.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import bridge

#: The checkout under test: where `bridge` is imported from, not where this file lives.
CHECKOUT = Path(bridge.__file__).resolve().parent.parent


def base_python() -> str:
    """The interpreter this venv was made from: a fresh venv is made the way a user would make one."""
    return str(getattr(sys, "_base_executable", None) or sys.executable)


def source_copy(checkout: Path, into: Path) -> Path:
    """The files a fresh clone would have (tracked, plus untracked not ignored), copied into `into`.

    `pip install .` builds in the source tree (egg-info, build/): it must not touch the checkout,
    which may be another engineer's, and .venv or node_modules must not be counted.
    """
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=checkout, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = checkout / name
        if source.is_file():
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return into


def du_kb(path: Path) -> int:
    return int(subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True)
               .stdout.split()[0])


def installed_size(checkout: Path = CHECKOUT, largest: int = 6) -> tuple[float, int, list[tuple[str, float]]]:
    """MB of a fresh venv after `pip install .` (the venv's own pip included, as a user gets it),
    how many distributions it holds besides pip, and its largest top-level entries in site-packages.

    pip may use its cache: the figure is the installed tree, not the download.
    """
    with tempfile.TemporaryDirectory(prefix="bridge-size-") as tmp:
        src = source_copy(checkout, Path(tmp) / "src")
        venv = Path(tmp) / "venv"
        subprocess.run([base_python(), "-m", "venv", str(venv)], check=True)
        python = str(venv / "bin" / "python")
        install = subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(src)],
                                 capture_output=True, text=True, check=False)
        if install.returncode != 0:
            raise RuntimeError(f"pip install . failed:\n{install.stderr[-2000:]}")
        total = du_kb(venv) / 1024
        listed = subprocess.run([python, "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
                                capture_output=True, text=True, check=True).stdout.split()
        distributions = sum(1 for line in listed if not line.lower().startswith(("pip==", "setuptools==")))
        site = next((venv / "lib").glob("python*/site-packages"))
        sizes = [(entry.name, du_kb(entry) / 1024) for entry in site.iterdir()
                 if entry.is_dir() and not entry.name.endswith((".dist-info", "__pycache__"))]
        sizes.sort(key=lambda item: -item[1])
        return total, distributions, sizes[:largest]


_TIMED_IMPORT = ("import time; started = time.perf_counter(); import bridge.app; "
                 "print(time.perf_counter() - started)")


def _env(checkout: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(checkout)}


def import_time(checkout: Path = CHECKOUT, runs: int = 7) -> tuple[float, float, list[tuple[str, float]]]:
    """Median and best seconds of `import bridge.app` in a fresh interpreter (after one run that
    leaves the bytecode cached, as on a second start), and the packages costing the most
    (cumulative ms under `python -X importtime`, which inflates them somewhat)."""
    env = _env(checkout)
    with tempfile.TemporaryDirectory(prefix="bridge-import-") as cwd:  # no stray package in cwd
        def once(*flags: str, code: str = _TIMED_IMPORT) -> subprocess.CompletedProcess[str]:
            done = subprocess.run([sys.executable, *flags, "-c", code], cwd=cwd, env=env,
                                  capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"import bridge.app failed:\n{done.stderr[-2000:]}")
            return done

        once()
        times = [float(once().stdout) for _ in range(runs)]
        startup = _import_costs(once("-X", "importtime", code="pass").stderr)
        profile = _import_costs(once("-X", "importtime").stderr)
    heaviest = sorted(((name, ms) for name, ms in profile.items() if name not in startup), key=lambda item: -item[1])
    return statistics.median(times), min(times), heaviest[:4]


def _import_costs(importtime: str) -> dict[str, float]:
    """Root packages (no dot in the name, not the bridge itself) and their cumulative import ms."""
    cost: dict[str, float] = {}
    for line in importtime.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].strip()
        if "." in name or name.startswith("_") or name == "bridge":
            continue
        cost[name] = max(cost.get(name, 0.0), int(parts[1]) / 1000)
    return cost
