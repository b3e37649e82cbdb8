"""Two checkouts in one run: `python -m benchmarks.run --compare-with OTHER [--only STEP]... [--rounds N]`.

The same benchmark code (this file's benchmarks/ package, copied to a temp dir) runs once per
checkout in a child process with that checkout's .venv, importing that checkout's `bridge` and
`tests.support` (PYTHONPATH): each side gets its own broker, gateway and bridge, one side at a
time. Rounds alternate the order (this, other; other, this; ...) so a machine that gets busier
or quieter during the run does not favour one side; each side's figure is the median of its
rounds, and the ratio this / other is of those medians.

Each side runs its own checkout's mock gateway too (tests/support/gateway.py finds it, in
tests/gateway or gateway/): when the gateway changed between the two, send rates compare client
and gateway together; the gateway's CPU per send, shown apart, tells which one moved.
Same code on both sides (an A/A run, in RESULTS.md) shows how far this machine's noise moves a ratio.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.run import BENCH_ROOT, CHECKOUT, RESULTS, commit, load, machine, table

#: The numbers put side by side: key -> (label, format).
ROWS: dict[str, tuple[str, str]] = {
    "size_mb": ("installed size of a fresh `pip install .` venv, MB", "{:.0f}"),
    "distributions": ("distributions installed (pip, setuptools not counted)", "{:.0f}"),
    "import_ms": ("import time of bridge.app, ms (median of 7)", "{:.0f}"),
    "idle_rss_mb": ("idle RSS of a logged-in bridge, MB", "{:.0f}"),
    "bare_msgs_s": ("bare sequential sends through our client, msgs/s", "{:,.0f}"),
    "bare_client_cpu_us": ("client CPU per bare send, us", "{:.0f}"),
    "bare_gateway_cpu_us": ("gateway CPU per bare send, us", "{:.0f}"),
    "e2e_msgs_s": ("end to end burst, pacing off, msgs/s", "{:,.0f}"),
    "e2e_over_bare": ("end to end / bare sends of the same client (target >= 80%)", "{:.0%}"),
    "e2e_bridge_cpu_us": ("bridge CPU per end-to-end event, us", "{:.0f}"),
    "e2e_gateway_cpu_us": ("gateway CPU per end-to-end event, us", "{:.0f}"),
    "latency_p50_ms": ("latency publish -> gateway at 50/s, p50 ms", "{:.1f}"),
    "latency_p99_ms": ("latency publish -> gateway at 50/s, p99 ms", "{:.1f}"),
}


def python_of(checkout: Path) -> Path:
    python = checkout / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} is missing: run `bash -c 'source scripts/setup.sh'` in {checkout} first")
    return python


def run_side(checkout: Path, staged: Path, only: list[str], quick: bool, out: Path) -> dict[str, Any]:
    """One child run of the staged benchmark against `checkout`; its --json output."""
    command = [str(python_of(checkout)), "-m", "benchmarks.run", "--no-record", "--json", str(out),
               *(["--quick"] if quick else []), *(arg for step in only for arg in ("--only", step))]
    # cwd first on sys.path: the staged benchmarks/ package, never the checkout's own copy.
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    print(f"==> {checkout}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    before = load()
    done = subprocess.run(command, cwd=staged, env=env, check=False)
    if done.returncode != 0 or not out.exists():
        raise SystemExit(f"the benchmark failed for {checkout} (exit {done.returncode})")
    result: dict[str, Any] = json.loads(out.read_text())
    result["load"] = [before, load()]
    return result


def cell(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    middle = fmt.format(statistics.median(values))
    return middle if len(values) == 1 else f"{middle} ({', '.join(fmt.format(v) for v in values)})"


def side_by_side(this: list[dict[str, Any]], other: list[dict[str, Any]]) -> str:
    """A table of the numbers both sides measured: this, other, this / other (medians of rounds)."""
    header = f"| measure | this: {this[0]['commit']} | other: {other[0]['commit']} | this / other |"
    rows = [header, "|---------|------|-------|--------------|"]
    for key, (label, fmt) in ROWS.items():
        mine = [run["numbers"][key] for run in this if key in run["numbers"]]
        theirs = [run["numbers"][key] for run in other if key in run["numbers"]]
        if not mine and not theirs:
            continue
        ratio = (f"{statistics.median(mine) / statistics.median(theirs):.2f}"
                 if mine and theirs and statistics.median(theirs) else "-")
        rows.append(f"| {label} | {cell(mine, fmt)} | {cell(theirs, fmt)} | {ratio} |")
    rows.append(f"| load average (1 / 5 / 15 min) before each run | {'; '.join(r['load'][0] for r in this)} "
                f"| {'; '.join(r['load'][0] for r in other)} | |")
    return "\n".join(rows)


def main(other: Path, only: list[str], quick: bool, rounds: int, *, record: bool, note: str) -> int:
    other = other.resolve()
    started = datetime.now(UTC)
    runs: dict[Path, list[dict[str, Any]]] = {CHECKOUT: [], other: []}
    with tempfile.TemporaryDirectory(prefix="bridge-compare-") as tmp:
        staged = Path(tmp) / "code"
        shutil.copytree(BENCH_ROOT / "benchmarks", staged / "benchmarks",
                        ignore=shutil.ignore_patterns("__pycache__", "RESULTS.md"))
        for number in range(rounds):
            order = [CHECKOUT, other] if number % 2 == 0 else [other, CHECKOUT]
            for checkout in order:
                out = Path(tmp) / f"{len(runs[checkout])}-{checkout.name}.json"
                runs[checkout].append(run_side(checkout, staged, only, quick, out))
    text = side_by_side(runs[CHECKOUT], runs[other])
    details = "\n\n".join(f"{name} ({checkout}, commit {run['commit']}), last round:\n\n{table(run['figures'])}"
                          for name, checkout in (("this", CHECKOUT), ("other", other))
                          for run in runs[checkout][-1:])
    print(text + "\n\n" + details)
    if record:
        stamp = started.strftime("%Y-%m-%d %H:%M UTC")
        with RESULTS.open("a") as results:
            results.write(f"\n## {stamp}, compare: this {CHECKOUT} at {commit(CHECKOUT)} with other {other} at "
                      f"{commit(other)}{' (--quick)' if quick else ''}, {rounds} round(s), steps "
                      f"{', '.join(only)}\n\n{machine()}\n\n{note + chr(10) + chr(10) if note else ''}"
                      f"{text}\n\n{details}\n")
    return 0
