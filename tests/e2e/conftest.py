"""One dev host (emulator + Function App + built client) and one headless Chromium per session.

Each test opens its own browser contexts (separate storage, like separate people), so the
expensive parts start once. The client must be built first (`make build`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from harness.browser import CHROMIUM, CHROMIUM_ARGS, DIST, EMULATOR_ARGS
from harness.devhost import RunningDevHost, start_devhost


def require_build() -> None:
    if not (DIST / "index.html").is_file() or not (DIST / "assets" / "watcher.js").is_file():
        pytest.fail("static_web/dist is not built: run `make build` (npm ci && npm run build)")


@pytest.fixture(scope="session")
def devhost() -> Iterator[RunningDevHost | None]:
    """The session's dev host (None when CODESTREAM_E2E_URL names a running app instead)."""
    if os.environ.get("CODESTREAM_E2E_URL"):
        yield None
        return
    require_build()
    with start_devhost(emulator_args=EMULATOR_ARGS) as host:
        yield host


@pytest.fixture(scope="session")
def app_url(devhost: RunningDevHost | None) -> str:
    """The app's base URL: a fresh dev host, or CODESTREAM_E2E_URL (e.g. a running `make run`)."""
    if devhost is None:
        return os.environ["CODESTREAM_E2E_URL"].rstrip("/")
    return devhost.url


@pytest.fixture(scope="session")
def playwright_session() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_session: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's Chromium")
    b = playwright_session.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield b
    b.close()
