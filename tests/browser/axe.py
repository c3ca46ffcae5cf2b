"""axe-core (tests/js/node_modules, pinned in tests/js/package-lock.json) run in a page of a
browser test: WCAG 2.1 A and AA and axe's best practices, no moderate, serious or critical
violation allowed.

    await assert_accessible(page, "the grid")

The page's context must bypass the CSP (signed_in's does): axe is injected as a script tag.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

AXE = Path(__file__).resolve().parents[1] / "js" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
IMPACTS = ("moderate", "serious", "critical")
RUN = """(tags) => axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] })
  .then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + ": " + n.failureSummary.replace(/\\s+/g, " ")) })))"""


async def assert_accessible(page: Any, what: str) -> None:
    """No violation of moderate impact or worse on the page as it is now (``what`` names it)."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: ./sv test installs it (or: npm ci --prefix tests/js)")
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.add_script_tag(path=str(AXE))
    violations = [v for v in await page.evaluate(RUN, TAGS) if v["impact"] in IMPACTS]
    report = "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"]) for v in violations
    )
    assert not violations, f"{what}: axe-core found\n{report}"
