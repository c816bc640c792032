"""The soak run itself: rounds of random edits and faults, then a convergence check.

The test is tests/e2e/test_faults_soak.py (it shares the end-to-end tests' one Chromium).
Knobs (environment): CODESTREAM_SOAK_SECONDS (chaos time, default 30), CODESTREAM_SOAK_SEED
(repeat a run), CODESTREAM_SOAK_RECORD (file to append the figures to).
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
from typing import Any

from playwright.sync_api import Browser, BrowserContext

from harness.pages import NetworkCut, StreamerPage, WatcherPage

from .edits import Editor
from .faults import Faults, SplitHost, WireProbe

SECONDS = float(os.environ.get("CODESTREAM_SOAK_SECONDS", "30"))
LONG = SECONDS > 60
SEED = int(os.environ.get("CODESTREAM_SOAK_SEED") or secrets.randbits(32))
RECORD = os.environ.get("CODESTREAM_SOAK_RECORD")
ROUND_SECONDS = 30.0 if LONG else SECONDS / 2
WATCHERS = (4, 1, 6) if LONG else (3, 1, 4)  # at start, fewest, most
FAULT_CHANCE = 0.15  # per edit
CONVERGE_MS = 60_000  # per watcher, after the round's last edit


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
    converge_s: list[float] = field(default_factory=list)  # from the round's last edit
    after_sent_s: list[float] = field(default_factory=list)  # from the streamer's last ack
    drain_s: list[float] = field(default_factory=list)  # last edit -> streamer's last ack
    queued: list[int] = field(default_factory=list)  # streamer's unsent deltas at round end
    errors: Counter[str] = field(default_factory=Counter)


class Soak:
    """One streamer page, a changing set of watcher pages, and the faults done to them.

    Steps are edits; after an edit, now and then, a fault (a join or leave, a service close
    or TCP drop of a random connection, a few seconds without network); planned per round:
    one join, one leave and, every other round, a function host kill. `log` keeps what
    happened, step by step, for the failure message.
    """

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
        self.figures.errors.update(probe.errors)
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
        streamer_before = self.streamer.state()
        self.streamer.wait_sent(timeout=CONVERGE_MS)
        sent = time.monotonic()
        self.figures.drain_s.append(sent - last_edit)
        self.figures.queued.append(streamer_before["queued"])
        self.note(
            f"streamer sent all in {time.monotonic() - last_edit:.2f} s from {streamer_before}"
        )
        expected = self.streamer.doc()
        for w in self.watchers:
            try:
                w.page.wait_doc(expected, timeout=CONVERGE_MS)
                w.page.expect_status("live")
            except AssertionError as exc:
                raise AssertionError(f"{w.name} (round {index}): {exc}\n" + self.tail()) from exc
            self.figures.converge_s.append(time.monotonic() - last_edit)
            self.figures.after_sent_s.append(time.monotonic() - sent)
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

    def summary(self, host: SplitHost, wall_s: float) -> dict[str, Any]:
        """The run's figures, as printed and recorded."""
        for w in self.watchers:
            self._count_errors(w.probe)
        syncs, snapshots = self.resyncs()
        figures, counts = self.figures, self.editor.counts
        return {
            "seed": SEED,
            "chaos_s": round(SECONDS),
            "wall_s": round(wall_s),
            "sessions": figures.sessions,
            "edits": counts.edits,
            "chars typed/pasted": f"{counts.typed_chars}/{counts.pasted_chars}",
            "faults": dict(sorted((figures.faults + self.faults.counts).items())),
            "syncs sent (pages)": syncs,
            "sync events handled (host)": host.events()["sync"],
            "snapshots": snapshots,
            "worst converge_s": round(max(figures.converge_s), 2),
            "of which streamer backlog_s": round(max(figures.drain_s), 2),
            "worst converge after last ack_s": round(max(figures.after_sent_s), 2),
            "most deltas queued": max(figures.queued),
            "refused by the app": dict(figures.errors),
        }


def record(path: Path, s: dict[str, Any]) -> None:
    """Append one row to RESULTS.md (machine, date and the run's figures)."""
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    models = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")]
    cpu = models[0] if models else platform.processor() or "?"
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    faults = ", ".join(f"{k} {v}" for k, v in s["faults"].items())
    row = (
        f"| {when} | {cpu}, {os.cpu_count()} cores | {s['seed']} | {s['chaos_s']} | "
        f"{s['sessions']} | {s['edits']} ({s['chars typed/pasted']}) | {faults} | "
        f"{s['syncs sent (pages)']} / {s['sync events handled (host)']} | {s['snapshots']} | "
        f"{s['worst converge_s']} | {s['of which streamer backlog_s']} "
        f"({s['most deltas queued']}) | {s['worst converge after last ack_s']} |\n"
    )
    with path.open("a") as f:
        f.write(row)
