"""A streamer's document and stored history, modelled as the browser client uploads them
(docs/protocol.md, "Storage"): numbered deltas with UTF-16 offsets and times, cut into
segments, keyframes at the start of each epoch and on demand, control changes in the segment.

Tests, property tests and the fuzzer use it to produce genuine uploads and to know what
document a stored history must replay to. It applies changes with `codestream.delta`, the
Python twin of the client's delta application.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from codestream.delta import apply_changes, utf16_length


@dataclass
class StreamerModel:
    epoch: str = "e1"
    t: int = 1_700_000_000_000  # ms, the streamer's clock
    doc: str = ""
    v: int = 0
    lang: str | None = None
    title: str | None = None
    pending: list[list[Any]] = field(default_factory=list)  # [dt, changes, sel]
    pending_controls: list[list[Any]] = field(default_factory=list)  # [dt, {...}]
    segment_from: int = 1
    segment_t0: int | None = None
    history: dict[tuple[str, int], str] = field(default_factory=dict)  # (epoch, v) -> doc

    def __post_init__(self) -> None:
        self.history[(self.epoch, self.v)] = self.doc

    @property
    def length(self) -> int:
        return utf16_length(self.doc)

    def _dt(self, advance_ms: int) -> int:
        self.t += advance_ms
        if self.segment_t0 is None:
            self.segment_t0 = self.t
        return self.t - self.segment_t0

    def edit(self, changes: list[list[Any]], advance_ms: int = 40, sel: bool = True) -> None:
        """One numbered delta: `changes` in order, each [from, to, insert] in UTF-16 units."""
        self.doc = apply_changes(self.doc, changes)
        self.v += 1
        caret = [self.length, self.length] if sel else None
        self.pending.append([self._dt(advance_ms), changes, caret])
        self.history[(self.epoch, self.v)] = self.doc

    def replace(self, start: int, end: int, insert: str, advance_ms: int = 40) -> None:
        n = self.length
        start, end = sorted((min(start, n), min(end, n)))
        self.edit([[start, end, insert]], advance_ms)

    def control(self, advance_ms: int = 10, **change: Any) -> None:
        """lang=, title=, ended=True: goes into the next segment."""
        self.pending_controls.append([self._dt(advance_ms), dict(change)])
        self.lang = change.get("lang", self.lang)
        self.title = change.get("title", self.title)

    def cut(self) -> dict[str, Any] | None:
        """The segment of everything since the last cut (None if nothing happened)."""
        if not self.pending and not self.pending_controls:
            return None
        segment = {
            "epoch": self.epoch,
            "from": self.segment_from,
            "to": self.segment_from + len(self.pending) - 1,
            "t0": self.segment_t0 if self.segment_t0 is not None else self.t,
            "deltas": self.pending,
            "controls": self.pending_controls,
        }
        self.segment_from += len(self.pending)
        self.pending, self.pending_controls, self.segment_t0 = [], [], None
        return segment

    def keyframe(self) -> dict[str, Any]:
        """The whole document at the current version (cut what is pending first)."""
        body: dict[str, Any] = {"epoch": self.epoch, "v": self.v, "t": self.t, "doc": self.doc}
        if self.lang is not None:
            body["lang"] = self.lang
        if self.title is not None:
            body["title"] = self.title
        return body

    def new_epoch(self, epoch: str) -> None:
        """The page restarted: a new epoch at v=0 with the same document; pending is lost."""
        self.epoch, self.v = epoch, 0
        self.pending, self.pending_controls, self.segment_t0 = [], [], None
        self.segment_from = 1
        self.history[(epoch, 0)] = self.doc
