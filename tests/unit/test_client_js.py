"""Run the browser client's pure-logic tests (node:test) as part of the Python suite, so
`pytest` alone covers delta application, batching, splitting and the watcher state machine."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from harness.processes import REPO_ROOT

WEB = REPO_ROOT / "static_web"


def test_client_unit_tests_pass() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed; the client's unit tests need Node.js >= 20")
    if not (WEB / "node_modules" / "@codemirror" / "state").is_dir():
        pytest.fail("static_web/node_modules is missing: run `make setup` (npm ci)")
    result = subprocess.run(
        [node, "--test", "--test-reporter=spec", "test/"],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    counts = dict(re.findall(r"^\S*\s*(pass|fail) (\d+)$", result.stdout, re.MULTILINE))
    assert counts.get("fail") == "0", result.stdout[-2000:]
    assert int(counts.get("pass", "0")) >= 60, "the client's tests did not all run"
