"""The benchmark still runs: a quick pass of its ingest and end-to-end steps, as a user starts it.

Not a timed test (no figure is compared with a target here; benchmarks/RESULTS.md holds those):
it catches a benchmark broken by a change elsewhere, as the test helpers it builds on move.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.integration


@pytest.mark.timeout(300)
def test_the_quick_benchmark_measures_ingest_and_end_to_end_without_a_failed_step(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    result = subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--no-record", "--only", "ingest",
                             "--only", "end-to-end", "--json", str(out)], cwd=ROOT, capture_output=True, text=True,
                            timeout=280, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures: dict[str, str] = json.loads(out.read_text())["figures"]
    assert [name for name in figures if name.startswith("FAILED")] == [], figures
    assert "ingest 2000 events, bridge (commit + PUBACK)" in figures, figures
    assert figures["end to end 1000-event burst, pacing off (target >= 500)"].endswith(
        "/s incl. start)"), figures
    assert "| ingest ratio bridge / bare (target >= 50%)" in result.stdout
