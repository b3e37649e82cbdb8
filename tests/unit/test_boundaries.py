"""Each outside library is imported where its errors are converted, and nowhere else."""

from __future__ import annotations

import re
from pathlib import Path

BRIDGE = Path(__file__).resolve().parent.parent.parent / "bridge"


def importers(library: str) -> set[str]:
    pattern = re.compile(rf"^\s*(?:import|from)\s+{re.escape(library)}\b", re.MULTILINE)
    return {str(path.relative_to(BRIDGE)) for path in BRIDGE.rglob("*.py")
            if "proto" not in path.parts and pattern.search(path.read_text())}


def test_aiohttp_stays_in_the_http_door() -> None:
    assert importers("aiohttp") == {"http.py", "web/page.py", "web/events.py"}


def test_prometheus_client_stays_in_the_metrics_module() -> None:
    assert importers("prometheus_client") == {"metrics.py"}
