"""What every page must pass in Chromium: no horizontal overflow at a given width, and axe-core with no
serious or critical violation. Shared by the payer-page, admin and simulator browser tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

AXE_JS = Path(__file__).resolve().parents[1] / "js" / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
BLOCKING_IMPACTS = ("serious", "critical")


def horizontal_overflow(page: Any) -> int:
    """Pixels by which the page is wider than the viewport (0 when it fits)."""
    return int(page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth"))


def assert_fits(page: Any) -> None:
    overflow = horizontal_overflow(page)
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the {page.viewport_size['width']}px viewport"


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the loaded page.

    The script is evaluated through the DevTools protocol, which the page's CSP does not govern, so the
    bridge's strict CSP stays as it is in production."""
    if not AXE_JS.exists():
        pytest.skip(f"{AXE_JS} is missing: run scripts/setup.sh (npm ci in tests/js)")
    page.evaluate(AXE_JS.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"],
         "targets": [node["target"] for node in v["nodes"]][:5]}
        for v in result["violations"] if v["impact"] in BLOCKING_IMPACTS
    ]


def assert_accessible(page: Any) -> None:
    violations = axe_violations(page)
    assert not violations, f"{page.url}: {violations}"
