"""One dev host for the security tests that do not need a fresh one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.devhost import RunningDevHost, start_devhost


@pytest.fixture(scope="module")
def devhost() -> Iterator[RunningDevHost]:
    with start_devhost() as host:
        yield host
