"""Suite-wide ordering.

The browser tests use Playwright's sync API, which keeps an asyncio loop running in the main
thread from the first browser test until the session ends; any later test that starts its own
loop (pytest-asyncio, asyncio.run) would then fail. So the browser tests run last.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)  # stable sort
