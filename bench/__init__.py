"""Benchmarks of CodeStream's local stack, and what every benchmark shares.

A benchmark is a module in this package with `main(argv) -> int`, listed in
`bench.__main__.BENCHMARKS`; it prints its figures and writes a results file ending with
`machine_info()` (`write_results` does both for `bench/results-<name>.md`; `compare` writes
`bench/results.md`), so every recorded figure says on what machine, code and day it was
measured.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (NaN when there are none)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    """Short commit, marked dirty when the work tree differs from it; "unknown" outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 (git from PATH)
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}{' (with uncommitted changes)' if dirty else ''}"


def busy_note() -> str | None:
    """A sentence for the results when other work shared the CPU (load >= the core count)."""
    cores = os.cpu_count() or 1
    one, five, _ = os.getloadavg()
    if max(one, five) < cores:
        return None
    return (
        f"the machine was busy (load average at or above its {cores} cores): other work shared "
        "the CPU, so latencies, join times and capacity are worse than on a quiet machine"
    )


def machine_info() -> dict[str, str]:
    note = busy_note()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "os": platform.platform(),
        "commit": git_commit(),
        # other work on the machine skews every figure; this shows how busy it was
        "load average (1/5/15 min)": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
        **({"note": note} if note else {}),
    }


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---:|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def write_results(name: str, title: str, body: str) -> Path:
    """bench/results-<name>.md: the figures, then the machine they were measured on."""
    info = machine_info()
    machine = "\n".join(f"- {key}: {value}" for key, value in info.items())
    path = BENCH_DIR / f"results-{name}.md"
    path.write_text(f"# {title}\n\n{body.strip()}\n\n## Measured on\n\n{machine}\n")
    return path
