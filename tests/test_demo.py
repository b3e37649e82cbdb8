"""The README's first quick-start command, `./scripts/demo`: the real bridge between a local broker and
the mock gateway, as a new user first runs it. It is run as that script runs it (`python -m scripts.demo`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_demo_shows_what_arrived_in_wechat_and_every_report(tmp_path: Path) -> None:
    # Its own temporary folder, to see what a run leaves there.
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "scripts.demo"], cwd=ROOT, capture_output=True, text=True,
                          timeout=180, check=False, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""  # the story alone, on stdout
    assert sorted(path.name for path in tmp_path.iterdir()) == []  # nothing left behind
    arrived = done.stdout.split("arrived in WeChat:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert sorted(arrived) == sorted([
        "  [Happy Family] " + re.search(r"🚪 The front door was opened at \d\d:\d\d", done.stdout)[0],  # type: ignore[index]
        "  [Ops] ⚡ plug1: 1.7 kWh today, 42 W now",
        "  [Ops] 💾 Backup: finished in 4 min, 12 GB",
        "  [Happy Family] Dinner is ready!",
    ])
    reports = done.stdout.split("delivery reports on wechat/bridge/delivery:\n", 1)[1].splitlines()
    statuses = sorted(" ".join(line.split()[1:3]) for line in reports if line.strip())
    assert statuses == ["delivered room=family", "delivered room=family", "delivered room=ops",
                        "delivered room=ops", "rejected room=nobody", "rejected room=ops"]
    assert "unknown room key 'nobody' (known: family, ops)" in done.stdout
