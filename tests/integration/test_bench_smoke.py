"""The benchmark harness still runs end to end (tiny sizes), so `make bench` cannot rot.

The benchmarks run at once as real processes (each starts its own dev host or
emulator on free ports), with sizes that make each take seconds; the figures themselves are
not checked here, only that every phase ran, both designs converged (ours is the shipped JS
client core under Node, harness/node/bench-ours.mjs), and the report was written with every
section.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.processes import REPO_ROOT

pytestmark = pytest.mark.integration

DIST = REPO_ROOT / "static_web" / "dist"


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_every_benchmark_runs_with_tiny_sizes(tmp_path: Path) -> None:
    if not (DIST / "assets" / "watcher.js").is_file():
        pytest.fail("static_web/dist is not built: run `make build`")
    # compare's phases in two processes, so the whole test stays near 20 s
    protocol, others = tmp_path / "protocol.md", tmp_path / "others.md"
    runs = {
        "compare (protocol)": _start(
            "bench.compare",
            "--quick",
            "--phases",
            "latency,storm,session",
            "--output",
            str(protocol),
        ),
        "compare (capacity, browser)": _start(
            "bench.compare", "--quick", "--phases", "capacity,browser", "--output", str(others)
        ),
        "fanout": _start(
            "bench.fanout",
            *("--sizes", "5", "--paced-messages", "5", "--burst-deliveries", "100"),
            "--no-write",
        ),
        "invocations": _start(
            "bench.invocations", "--watchers", "1", "--seconds", "1", "--no-write"
        ),
        "replay": _start("bench.replay", "--quick", "--no-write"),
    }
    outputs = {}
    for name, proc in runs.items():
        try:
            outputs[name], _ = proc.communicate(timeout=90)
        finally:
            proc.kill()
        assert proc.returncode == 0, f"bench.{name} failed:\n{outputs[name][-3000:]}"

    expected = {
        protocol: (
            "## Targets",
            "## 1. Keystroke-to-watcher latency (protocol level)",
            "## 2. Join storm",
            "## 3. Bytes on the wire per typed character",
            "## 5. Function invocations per minute of streaming",
            "## Measured on",
        ),
        others: (
            "## 1b. Keystroke-to-watcher latency in the browser (ours)",
            "## 4. Fan-out capacity of one stream (emulator)",
        ),
    }
    for report, sections in expected.items():
        text = report.read_text()
        for section in sections:
            assert section in text, f"{section!r} missing from the report:\n{text}"
        assert "## Problems seen during the run\n\n- none\n" in text, text
    assert "invocations per delta: 0.000" in outputs["invocations"]
    assert "lost" in outputs["fanout"]
    for section in ("## Size as served (gzip)", "## Seek latency in Chromium (ms)"):
        assert section in outputs["replay"], outputs["replay"][-3000:]
