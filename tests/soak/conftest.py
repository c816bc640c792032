"""The soak reuses the end-to-end tests' Chromium (one browser per session)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import browser, playwright_session

__all__ = ["browser", "playwright_session"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "soak: random edits and injected faults against real processes and pages"
    )
