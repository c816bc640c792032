"""Fixtures for the infra checks: the templates as parsed by the checkers' own parsers."""

from __future__ import annotations

from typing import Any

import pytest

from harness.arm_schema import wanted_schemas
from harness.bicep import Templates, run_arm_schemas, run_dump


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


@pytest.fixture(scope="session")
def schemas(templates: Templates) -> dict[str, Any]:
    """The schema of every resource type@api-version the templates declare (pinned SDKs)."""
    return run_arm_schemas(wanted_schemas(templates))
