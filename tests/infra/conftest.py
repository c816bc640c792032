"""Fixtures for the infra checks: the templates as parsed by the checkers' own parsers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infra.bicep import INFRA_PYTHON, REPO_ROOT, Templates

DUMP_SCRIPT = Path(__file__).with_name("dump_infra.py")
DUMP_TIMEOUT_S = 120


def run_dump(*extra: Path) -> dict[str, Any]:
    """Parse every infra file under .venv-infra's Python (pycep, PyYAML)."""
    if not INFRA_PYTHON.exists():
        pytest.fail(f"{INFRA_PYTHON} is missing: run `make infra-tools` (or `make test`)")
    done = subprocess.run(
        [str(INFRA_PYTHON), str(DUMP_SCRIPT), str(REPO_ROOT), *map(str, extra)],
        capture_output=True,
        text=True,
        timeout=DUMP_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"dump_infra.py failed:\n{done.stderr}"
    return json.loads(done.stdout)


@pytest.fixture(scope="session")
def dump() -> dict[str, Any]:
    return run_dump()


@pytest.fixture(scope="session")
def templates(dump: dict[str, Any]) -> Templates:
    assert not dump["errors"], f"Bicep files that do not parse: {dump['errors']}"
    return Templates(dump["bicep"])


@pytest.fixture(scope="session")
def azure_yaml(dump: dict[str, Any]) -> dict[str, Any]:
    return dump["yaml"]["azure.yaml"]
