"""Soak: a streamer makes random edits (typing, non-ASCII and emoji, large pastes, deletions,
undo) while watchers join, leave, have their connections closed or cut by the service, lose
their network, and the function host is killed and restarted mid-stream; after every round
each watcher's document must equal the streamer's.

Short by default (30 s of chaos, part of `make test`); `make soak` runs the long form and
appends its figures to bench/results-soak.md. See harness/soak.py for the knobs.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from harness.faults import SplitHost
from harness.soak import RECORD, ROUND_SECONDS, SECONDS, SEED, WATCHERS, Soak, record

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(int(SECONDS * 4 + 240))
def test_soak(browser: Browser, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(f"\nsoak: seed {SEED}, {SECONDS:.0f} s of chaos (CODESTREAM_SOAK_SEED={SEED})")
    rng = random.Random(SEED)
    started = time.monotonic()
    with SplitHost() as host:
        soak = Soak(browser, host, rng)
        for _ in range(WATCHERS[0]):
            soak.join()
        rounds = max(1, round(SECONDS / ROUND_SECONDS))
        for index in range(rounds):
            soak.round(index, SECONDS / rounds, kill_host=index % 2 == 0)
        summary = soak.summary(host, time.monotonic() - started)
        faults, figures = summary["faults"], soak.figures
        with capsys.disabled():
            print("soak: " + "; ".join(f"{k} {v}" for k, v in summary.items()))
        if RECORD:
            record(Path(RECORD), summary)
        assert soak.page_errors == [], soak.page_errors
        assert faults.get("function host restart", 0) >= 1
        assert figures.sessions > 1 + WATCHERS[0]  # watchers came (and went)
        # a snapshot may race a watcher's leaving; nothing else may be refused
        assert set(summary["refused by the app"]) <= {"not_a_watcher"}
