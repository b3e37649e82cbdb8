"""Debian's chromium driven by Playwright, for the status page's browser test.

Playwright's own browser builds are never downloaded (no host but the package registries is
reachable here, nor in CI): the test drives the `chromium` that scripts/setup.sh installs with
apt, or the one `CHROMIUM` names. Without one the browser tests skip, saying so.
"""

from __future__ import annotations

import os
import shutil


def chromium_path() -> str | None:
    given = os.environ.get("CHROMIUM")
    if given:
        return given if os.access(given, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401 - only whether it is there
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if chromium_path() is None:
        return ("no chromium: scripts/setup.sh installs Debian's package with apt; elsewhere set CHROMIUM to a "
                "Chromium binary")
    return None
