"""Soak: a streamer makes random edits while watchers join, leave, lose their connections
and the function host is killed and restarted; after every round each watcher's document
must equal the streamer's.

Short by default (part of `make test`); `make soak` runs the long form and appends its figures
to RESULTS.md. Knobs (environment): CODESTREAM_SOAK_SECONDS (chaos time, default 30),
CODESTREAM_SOAK_SEED (repeat a run), CODESTREAM_SOAK_RECORD (file to append the figures to).
"""

from __future__ import annotations

import datetime
import os
import platform
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext

from tests.e2e.pages import NetworkCut, StreamerPage, WatcherPage

from .edits import Editor
from .rig import Faults, SplitHost, WireProbe

SECONDS = float(os.environ.get("CODESTREAM_SOAK_SECONDS", "30"))
LONG = SECONDS > 60
SEED = int(os.environ.get("CODESTREAM_SOAK_SEED") or secrets.randbits(32))
RECORD = os.environ.get("CODESTREAM_SOAK_RECORD")
ROUND_SECONDS = 30.0 if LONG else SECONDS / 2
WATCHERS = (4, 1, 6) if LONG else (3, 1, 4)  # at start, fewest, most
FAULT_CHANCE = 0.15  # per edit
CONVERGE_MS = 60_000  # per watcher, after the round's last edit

pytestmark = [pytest.mark.soak, pytest.mark.e2e]


@dataclass
class Watcher:
    name: str
    context: BrowserContext
    page: WatcherPage
    cut: NetworkCut
    probe: WireProbe
    restore_at: int | None = None  # step at which its network comes back


@dataclass
class Figures:
    sessions: int = 1  # the streamer's
    faults: Counter[str] = field(default_factory=Counter)
    syncs_closed_pages: int = 0
    snapshots_closed_pages: int = 0
    converge_s: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


class Soak:
    def __init__(self, browser: Browser, host: SplitHost, rng: random.Random) -> None:
        self.browser, self.host, self.rng = browser, host, rng
        assert host.service is not None
        self.faults = Faults(host.service)
        self.figures = Figures()
        self.log: list[str] = []
        self.step_no = 0
        self.page_errors: list[str] = []
        self.watchers: list[Watcher] = []
        ctx = browser.new_context()
        self.streamer_cut = NetworkCut(ctx)
        self.streamer_restore_at: int | None = None
        page = ctx.new_page()
        page.on("pageerror", lambda e: self.page_errors.append(f"streamer: {e}"))
        self.streamer_probe = WireProbe(page)
        self.streamer = StreamerPage(page).open(host.url)
        self.streamer_context = ctx
        self.link = self.streamer.share_link
        self.stream_id = self.streamer.state()["streamId"]
        # long runs paste past one delta's 256 KiB, so the page splits them
        max_paste = 300_000 if LONG else 60_000
        self.editor = Editor(self.streamer, rng, max_paste=max_paste, max_doc=3 * max_paste)
        self.host_back_at: int | None = None

    def note(self, what: str) -> None:
        self.log.append(f"{self.step_no}: {what}")

    # ---- watchers ----
    def join(self) -> None:
        ctx = self.browser.new_context()
        cut = NetworkCut(ctx)
        page = ctx.new_page()
        name = f"w{self.figures.sessions}"
        page.on("pageerror", lambda e: self.page_errors.append(f"{name}: {e}"))
        w = Watcher(name, ctx, WatcherPage(page), cut, WireProbe(page))
        page.goto(self.link)  # whatever state the stream is in; convergence is checked later
        self.watchers.append(w)
        self.figures.sessions += 1
        self.note(f"join {name}")

    def leave(self, w: Watcher) -> None:
        self.watchers.remove(w)
        self.figures.syncs_closed_pages += w.probe.syncs
        self.figures.snapshots_closed_pages += w.probe.snapshots
        self._count_errors(w.probe)
        w.context.close()
        self.note(f"leave {w.name}")

    def _count_errors(self, probe: WireProbe) -> None:
        for e in probe.errors:
            self.figures.errors[e.split("'code': '")[-1].split("'")[0]] += 1
        probe.errors.clear()

    # ---- faults ----
    def _target(self) -> tuple[str, WireProbe, Watcher | None]:
        if not self.watchers or self.rng.random() < 0.25:
            return "streamer", self.streamer_probe, None
        w = self.rng.choice(self.watchers)
        return w.name, w.probe, w

    def fault(self) -> None:
        rng = self.rng
        kinds = ["close", "close", "drop", "drop", "cut", "join", "leave"]
        kind = rng.choice(kinds)
        if kind == "join":
            # the dev host also serves the page (in Azure, Static Web Apps does, apart)
            if len(self.watchers) < WATCHERS[2] and self.host.up:
                self.join()
            return
        if kind == "leave":
            if len(self.watchers) > WATCHERS[1]:
                self.leave(rng.choice(self.watchers))
            return
        name, probe, w = self._target()
        if kind == "cut":
            back = self.step_no + rng.randint(3, 15)
            if w is None and self.streamer_restore_at is None:
                self.streamer_cut.cut()
                self.streamer_context.set_offline(True)
                self.streamer_restore_at = back
            elif w is not None and w.restore_at is None:
                w.cut.cut()
                w.context.set_offline(True)
                w.restore_at = back
            else:
                return
            self.figures.faults["network cut"] += 1
            self.note(f"cut {name} until step {back}")
            return
        if probe.connection_id is None:
            return
        if kind == "close":
            self.faults.close(probe.connection_id)
        else:
            self.faults.drop(probe.connection_id)
        self.note(f"{kind} {name} {probe.connection_id}")

    def restore_due(self, *, all_now: bool = False) -> None:
        if self.streamer_restore_at is not None and (
            all_now or self.step_no >= self.streamer_restore_at
        ):
            self.streamer_context.set_offline(False)
            self.streamer_cut.restore()
            self.streamer_restore_at = None
            self.note("restore streamer")
        for w in self.watchers:
            if w.restore_at is not None and (all_now or self.step_no >= w.restore_at):
                w.context.set_offline(False)
                w.cut.restore()
                w.restore_at = None
                self.note(f"restore {w.name}")
        if not self.host.up and (all_now or self.step_no >= (self.host_back_at or 0)):
            self.host.start()
            self.note("function host back")

    def kill_host(self) -> None:
        self.host.kill()
        self.figures.faults["function host restart"] += 1
        self.host_back_at = self.step_no + self.rng.randint(5, 15)
        self.note(f"function host killed until step {self.host_back_at}")

    # ---- the run ----
    def round(self, index: int, seconds: float, kill_host: bool) -> None:
        """Random edits and faults; every round also has one join and one leave for sure."""
        start = time.monotonic()
        end = start + seconds
        planned = {"join": start + seconds * self.rng.uniform(0.1, 0.8)}
        planned["leave"] = start + seconds * self.rng.uniform(0.1, 0.8)
        if kill_host:
            planned["kill"] = start + seconds * self.rng.uniform(0.2, 0.6)
        while time.monotonic() < end:
            self.step_no += 1
            self.note(self.editor.step())
            due = [k for k, at in planned.items() if time.monotonic() >= at]
            if "kill" in due:
                self.kill_host()
                del planned["kill"]
            elif "join" in due and self.host.up:
                self.join()
                del planned["join"]
            elif "leave" in due and len(self.watchers) > WATCHERS[1]:
                self.leave(self.rng.choice(self.watchers))
                del planned["leave"]
            elif self.rng.random() < FAULT_CHANCE:
                self.fault()
            self.restore_due()
        self.restore_due(all_now=True)
        self.converge(index)

    def converge(self, index: int) -> None:
        """Last edit of the round, then every watcher must show exactly the streamer's text."""
        kb = self.streamer.page.keyboard
        self.editor.select(1.0, 1.0)
        kb.type(f"\n# round {index} ✓ 🚀")
        last_edit = time.monotonic()
        before = {w.name: w.page.state() for w in self.watchers}
        self.streamer.wait_sent(timeout=CONVERGE_MS)
        self.note(f"streamer sent all in {time.monotonic() - last_edit:.2f} s")
        expected = self.streamer.doc()
        for w in self.watchers:
            try:
                w.page.wait_doc(expected, timeout=CONVERGE_MS)
                w.page.expect_status("live")
            except AssertionError as exc:
                raise AssertionError(f"{w.name} (round {index}): {exc}\n" + self.tail()) from exc
            self.figures.converge_s.append(time.monotonic() - last_edit)
            took = self.figures.converge_s[-1]
            self.note(f"{w.name} converged at {took:.2f} s from {before[w.name]}")
        worst = max(self.figures.converge_s[-len(self.watchers) :], default=0.0)
        self.note(f"round {index}: {len(self.watchers)} watchers converged, worst {worst:.2f} s")
        print("\n".join(self.log[-len(self.watchers) - 2 :]), flush=True)
        assert self.streamer.state()["streamId"] == self.stream_id
        assert self.streamer.share_link == self.link

    def tail(self) -> str:
        return f"seed {SEED}; last actions:\n" + "\n".join(self.log[-40:])

    def resyncs(self) -> tuple[int, int]:
        syncs = self.figures.syncs_closed_pages + sum(w.probe.syncs for w in self.watchers)
        snaps = self.figures.snapshots_closed_pages + sum(w.probe.snapshots for w in self.watchers)
        return syncs, snaps


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
        for w in soak.watchers:
            soak._count_errors(w.probe)
        syncs, snapshots = soak.resyncs()
        sync_events = host.events()["sync"]
        figures = soak.figures
        faults = figures.faults + soak.faults.counts
        summary = {
            "seed": SEED,
            "chaos_s": round(SECONDS),
            "wall_s": round(time.monotonic() - started),
            "sessions": figures.sessions,
            "edits": soak.editor.counts.edits,
            "chars typed/pasted": (
                f"{soak.editor.counts.typed_chars}/{soak.editor.counts.pasted_chars}"
            ),
            "faults": dict(sorted(faults.items())),
            "syncs sent (pages)": syncs,
            "sync events handled (host)": sync_events,
            "snapshots": snapshots,
            "worst converge_s": round(max(figures.converge_s), 2),
            "refused by the app": dict(figures.errors),
        }
        with capsys.disabled():
            print("soak: " + "; ".join(f"{k} {v}" for k, v in summary.items()))
        if RECORD:
            record(Path(RECORD), summary)
        assert soak.page_errors == [], soak.page_errors
        assert faults["function host restart"] >= 1
        assert figures.sessions > 1 + WATCHERS[0]  # watchers came (and went)


def record(path: Path, s: dict[str, object]) -> None:
    """Append one row to RESULTS.md (machine, date and the run's figures)."""
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    models = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")]
    cpu = models[0] if models else platform.processor() or "?"
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    faults = ", ".join(f"{k} {v}" for k, v in s["faults"].items())  # type: ignore[attr-defined]
    row = (
        f"| {when} | {cpu}, {os.cpu_count()} cores | {s['seed']} | {s['chaos_s']} | "
        f"{s['sessions']} | {s['edits']} ({s['chars typed/pasted']}) | {faults} | "
        f"{s['syncs sent (pages)']} / {s['sync events handled (host)']} | {s['snapshots']} | "
        f"{s['worst converge_s']} |\n"
    )
    with path.open("a") as f:
        f.write(row)
