"""The `fuzz` marker: short fuzz runs in `make test`; `make fuzz` runs the long ones."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fuzz: bounded fuzz runs against real processes")
