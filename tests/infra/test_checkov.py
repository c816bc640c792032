"""checkov passes on infra/ with only the skip list of infra/checkov.yaml, and no stale skip.

checkov reports a file it cannot parse as a *pass* (it has no resources to check), so the
tests also require summary.parsing_errors == 0 and results from every file holding a resource
type that checkov has checks for.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from harness.bicep import INFRA_PYTHON, REPO_ROOT, Templates

pytestmark = pytest.mark.infra

CHECKOV = INFRA_PYTHON.parent / "checkov"
CHECKOV_TIMEOUT_S = 300


def run_checkov(*args: str) -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run `make infra-tools` (or `make test`)")
    done = subprocess.run(
        [str(CHECKOV), *args, "--output", "json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=CHECKOV_TIMEOUT_S,
        check=False,
    )
    assert done.stdout.strip(), f"checkov printed nothing:\n{done.stderr[-2000:]}"
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    assert [r["check_type"] for r in reports] == ["bicep"]
    return reports[0]


def checked_files(report: dict[str, Any]) -> set[str]:
    results = report["results"]
    return {"infra" + c["file_path"] for c in results["passed_checks"] + results["failed_checks"]}


# Resource types checkov has bicep checks for; a file holding one must show up in the results.
CHECKED_TYPES = {
    "Microsoft.KeyVault/vaults",
    "Microsoft.SignalRService/webPubSub",
    "Microsoft.Storage/storageAccounts",
    "Microsoft.Web/sites",
}


def files_checkov_must_check(templates: Templates) -> set[str]:
    return {
        t.path for t, r in templates.all_resources() if r.type in CHECKED_TYPES and not r.existing
    }


@pytest.fixture(scope="module")
def skip_list(dump: dict[str, Any]) -> list[str]:
    return dump["yaml"]["infra/checkov.yaml"]["skip-check"]


def test_checkov_gate_passes(templates: Templates) -> None:
    report = run_checkov("--config-file", "infra/checkov.yaml")
    summary = report["summary"]
    failed = [
        (c["check_id"], c["file_path"], c["resource"]) for c in report["results"]["failed_checks"]
    ]
    assert failed == []
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 0
    must = files_checkov_must_check(templates)
    assert len(must) >= 4
    assert must <= checked_files(report)


def test_every_skip_is_still_needed_and_justified(skip_list: list[str]) -> None:
    report = run_checkov("--directory", "infra", "--framework", "bicep", "--skip-download")
    failing = {c["check_id"] for c in report["results"]["failed_checks"]}
    assert report["summary"]["parsing_errors"] == 0
    assert sorted(failing) == sorted(skip_list), "skip list and failing checks differ"
    assert len(skip_list) <= 18
    text = (REPO_ROOT / "infra" / "checkov.yaml").read_text()
    for check in skip_list:
        line = next(line for line in text.splitlines() if f"- {check}" in line)
        assert "#" in line, f"{check} has no reason on its line"
