"""Figures: percentiles and summaries, plain-text tables, when and on what, the results files."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness.process import ROOT

RESULTS = ROOT / "bench" / "results"


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "min": min(values),
        "p50": statistics.median(values),
        "p95": percentile(values, 95),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


def fmt(value: Any, digits: int = 1) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Numbers right-aligned, text left-aligned."""
    cells = [[str(h) for h in headers], *[[fmt(c) for c in row] for row in rows]]
    numeric = [[_numeric(c) for c in row] for row in cells[1:]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(cells[0], widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row, nums in zip(cells[1:], numeric, strict=True):
        lines.append("  ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(row, widths, nums, strict=True)))
    return "\n".join(lines)


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def machine() -> dict[str, Any]:
    """When and on what: date, CPUs, load, and the code measured (commit plus uncommitted files)."""
    load = os.getloadavg()

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)
        return proc.stdout.strip()

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "loadavg": [round(x, 2) for x in load],
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted": git("diff", "--name-only", "HEAD", "--", "dashboard", "static", "visualizer").split(),
    }


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path
