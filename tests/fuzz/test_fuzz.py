"""Short fuzz runs for CI: a few hundred generated inputs each, a fresh random seed every run
(the failure message names it: `python -m tools.fuzz.http --seed N` repeats the run)."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from harness.devhost import start_devhost
from harness.emulator import RecordingHandler, handler_config, start_emulator
from tools.fuzz import emulator, http

pytestmark = [pytest.mark.integration, pytest.mark.fuzz]


def test_dev_host_survives_hostile_http() -> None:
    with start_devhost() as host:
        tally = asyncio.run(
            http.fuzz(
                host, 300, secrets.randbelow(2**32), storage_requests=300, replay_requests=300
            )
        )
    assert tally.sent == 900
    assert tally.count_5xx() == 0, tally.report()
    assert tally.problems == [], tally.report()
    assert {"200", "400", "401", "403", "405", "409"} <= set(tally.outcomes), tally.report()
    assert tally.by_kind[("upload POST", "200")] > 0, tally.report()  # genuine uploads stored
    assert tally.by_kind[("recording GET", "200")] > 0, tally.report()
    assert not [k for k in tally.by_kind if k[0] == "delete DELETE forged" and k[1].startswith("2")]


def test_emulator_survives_hostile_clients() -> None:
    with RecordingHandler() as handler, start_emulator(handler_config(handler.url)) as emu:
        tally = asyncio.run(emulator.fuzz(emu, 400, secrets.randbelow(2**32)))
    assert tally.sent >= 400
    assert tally.problems == [], tally.report()
    assert {"alive", "closed 1008", "401"} <= set(tally.outcomes), tally.report()
