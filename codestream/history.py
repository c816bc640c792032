"""A stream's stored history: keyframe and segment bodies, their names, and replay. Pure.

A keyframe is the whole document at a version; a segment is a run of consecutive deltas with
their times (and the control changes made meanwhile). Both are immutable blobs named after
their content (`k/<epoch>/<v>-<hash8>`, `s/<epoch>/<from>-<to>-<hash8>`), so a retry of the
same upload finds the same name and nothing is ever overwritten. What is stored is the
canonical JSON of the validated body (known fields only, no whitespace), so the name does not
depend on how a client formats its JSON.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from codestream import fields
from codestream.contract import CONTRACT, Contract
from codestream.delta import DeltaError, apply_changes, check_changes, check_shape, utf16_length
from codestream.errors import Code, Refusal
from codestream.markers import PlacedMarker, parse_label, place_markers
from codestream.messages import parse_selection

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def canonical_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, with a lone surrogate escaped as \\uXXXX as JavaScript's
    JSON.stringify writes it (raw, it would not be UTF-8)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text.encode("utf-8")


def content_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:8]


@dataclass(frozen=True)
class Keyframe:
    epoch: str
    v: int
    t: int
    doc_length: int  # UTF-16 code units
    lang: str | None
    title: str | None
    body: bytes  # canonical JSON: what is stored
    record: bool | None = None  # the "Record this stream" setting; None: unchanged

    @property
    def name(self) -> str:
        return f"k/{self.epoch}/{self.v}-{content_hash(self.body)}"


@dataclass(frozen=True)
class Controls:
    """The control changes of a segment, folded: the last lang/title wins, ended sticks;
    markers are kept, each with its dt, in order."""

    lang: str | None = None
    title: str | None = None
    ended: bool = False
    markers: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class Segment:
    epoch: str
    from_v: int
    to_v: int
    t0: int
    t1: int  # time of its last delta or control
    deltas: tuple[tuple[int, list[Any], tuple[int, int] | None], ...]
    controls: Controls
    body: bytes

    @property
    def name(self) -> str:
        return f"s/{self.epoch}/{self.from_v}-{self.to_v}-{content_hash(self.body)}"

    def placed_markers(self, c: Contract = CONTRACT) -> tuple[PlacedMarker, ...]:
        placed = place_markers(
            self.from_v, self.t0, [d[0] for d in self.deltas], list(self.controls.markers)
        )
        return tuple(PlacedMarker(m.label, m.v, min(m.t, c.max_version)) for m in placed)


def parse_keyframe(body: bytes, c: Contract = CONTRACT) -> Keyframe | Refusal:
    value = fields.json_object(body, c.keyframe_bytes, "keyframe")
    if isinstance(value, Refusal):
        return value
    if refusal := fields.exact_keys(value, {"epoch", "v", "t", "doc"}, {"lang", "title", "record"}):
        return refusal
    epoch = fields.epoch(value["epoch"], "epoch", c)
    if isinstance(epoch, Refusal):
        return epoch
    v = fields.version(value["v"], "v", c)
    if isinstance(v, Refusal):
        return v
    t = fields.version(value["t"], "t", c)
    if isinstance(t, Refusal):
        return t
    doc = value["doc"]
    if not isinstance(doc, str):
        return Refusal(Code.BAD_SCHEMA, "doc must be a string")
    if "\r" in doc:
        return Refusal(Code.BAD_SCHEMA, "doc holds a \\r; line breaks are \\n")
    stored: dict[str, Any] = {"epoch": epoch, "v": v, "t": t, "doc": doc}
    lang = title = None
    if "lang" in value:
        checked_lang = fields.lang(value["lang"], c)
        if isinstance(checked_lang, Refusal):
            return checked_lang
        lang = stored["lang"] = checked_lang
    if "title" in value:
        checked_title = fields.title(value["title"], c)
        if isinstance(checked_title, Refusal):
            return checked_title
        title = stored["title"] = checked_title
    record = None
    if "record" in value:
        if not isinstance(value["record"], bool):
            return Refusal(Code.BAD_SCHEMA, "record must be true or false")
        record = stored["record"] = value["record"]
    body = canonical_json(stored)
    return Keyframe(epoch, v, t, utf16_length(doc), lang, title, body, record)


def _dt(value: Any, previous: int, where: str, c: Contract) -> int | Refusal:
    if type(value) is not int or not previous <= value <= c.max_version:
        msg = f"{where}: dt must be an integer of ms after t0, never decreasing"
        return Refusal(Code.BAD_SCHEMA, msg)
    return value


def _deltas(
    raw: Any, c: Contract
) -> tuple[tuple[int, list[Any], tuple[int, int] | None], ...] | Refusal:
    if not isinstance(raw, list):
        return Refusal(Code.BAD_SCHEMA, "deltas must be an array")
    deltas = []
    previous = 0
    for i, item in enumerate(raw):
        if not isinstance(item, list) or len(item) != 3:
            return Refusal(Code.BAD_SCHEMA, f"deltas[{i}] must be [dt, changes, sel|null]")
        dt = _dt(item[0], previous, f"deltas[{i}]", c)
        if isinstance(dt, Refusal):
            return dt
        previous = dt
        try:
            check_shape(item[1])
        except DeltaError as exc:
            return Refusal(Code.BAD_SCHEMA, f"deltas[{i}]: {exc}")
        changes = [[int(a), int(b), s] for a, b, s in item[1]]  # 3.0 is 3, as in JavaScript
        sel = None if item[2] is None else parse_selection(item[2])
        if item[2] is not None and sel is None:
            return Refusal(Code.BAD_SCHEMA, f"deltas[{i}]: sel must be null or [anchor, head]")
        deltas.append((dt, changes, sel))
    return tuple(deltas)


def _controls(raw: Any, c: Contract) -> tuple[list[Any], Controls, int] | Refusal:
    if not isinstance(raw, list):
        return Refusal(Code.BAD_SCHEMA, "controls must be an array")
    stored: list[Any] = []
    folded = Controls()
    previous = 0
    for i, item in enumerate(raw):
        if not isinstance(item, list) or len(item) != 2 or not isinstance(item[1], dict):
            return Refusal(
                Code.BAD_SCHEMA, f"controls[{i}] must be [dt, {{lang?, title?, ended?, marker?}}]"
            )
        dt = _dt(item[0], previous, f"controls[{i}]", c)
        if isinstance(dt, Refusal):
            return dt
        previous = dt
        change = item[1]
        if refusal := fields.exact_keys(change, set(), {"lang", "title", "ended", "marker"}):
            return Refusal(refusal.code, f"controls[{i}]: {refusal.message}")
        if not change:
            return Refusal(Code.BAD_SCHEMA, f"controls[{i}] changes nothing")
        out: dict[str, Any] = {}
        lang, title, ended, markers = folded.lang, folded.title, folded.ended, folded.markers
        if "lang" in change:
            checked_lang = fields.lang(change["lang"], c)
            if isinstance(checked_lang, Refusal):
                return checked_lang
            lang = out["lang"] = checked_lang
        if "title" in change:
            checked_title = fields.title(change["title"], c)
            if isinstance(checked_title, Refusal):
                return checked_title
            title = out["title"] = checked_title
        if "ended" in change:
            if change["ended"] is not True:
                return Refusal(Code.BAD_SCHEMA, f"controls[{i}]: ended can only be true")
            ended = out["ended"] = True
        if "marker" in change:
            label = parse_label(change["marker"], c)
            if isinstance(label, Refusal):
                return Refusal(label.code, f"controls[{i}]: {label.message}")
            out["marker"] = label
            markers = (*markers, (dt, label))
        folded = Controls(lang, title, ended, markers)
        stored.append([dt, out])
    return stored, folded, previous


def parse_segment(body: bytes, c: Contract = CONTRACT) -> Segment | Refusal:
    value = fields.json_object(body, c.segment_bytes, "segment")
    if isinstance(value, Refusal):
        return value
    if refusal := fields.exact_keys(
        value, {"epoch", "from", "to", "t0", "deltas", "controls"}, set()
    ):
        return refusal
    epoch = fields.epoch(value["epoch"], "epoch", c)
    if isinstance(epoch, Refusal):
        return epoch
    from_v = fields.version(value["from"], "from", c)
    if isinstance(from_v, Refusal):
        return from_v
    to_v = fields.version(value["to"], "to", c)
    if isinstance(to_v, Refusal):
        return to_v
    t0 = fields.version(value["t0"], "t0", c)
    if isinstance(t0, Refusal):
        return t0
    deltas = _deltas(value["deltas"], c)
    if isinstance(deltas, Refusal):
        return deltas
    controls = _controls(value["controls"], c)
    if isinstance(controls, Refusal):
        return controls
    stored_controls, folded, last_control_dt = controls
    if not deltas and not stored_controls:
        return Refusal(Code.BAD_SCHEMA, "a segment holds at least one delta or control")
    if to_v != from_v + len(deltas) - 1:
        return Refusal(Code.BAD_SCHEMA, "to must be from + len(deltas) - 1")
    if from_v == 0:
        return Refusal(Code.BAD_SCHEMA, "from must be at least 1 (a delta takes v-1 to v)")
    last_delta_dt = deltas[-1][0] if deltas else 0
    stored = {
        "epoch": epoch,
        "from": from_v,
        "to": to_v,
        "t0": t0,
        "deltas": [[dt, changes, list(sel) if sel else None] for dt, changes, sel in deltas],
        "controls": stored_controls,
    }
    t1 = min(t0 + max(last_delta_dt, last_control_dt), c.max_version)
    return Segment(epoch, from_v, to_v, t0, t1, deltas, folded, canonical_json(stored))


def apply_segment_length(length: int, segment: Segment) -> int:
    """The document length after `segment`, checking every change against the tracked
    length and every selection against the document it follows; DeltaError otherwise."""
    for i, (_dt, changes, sel) in enumerate(segment.deltas):
        try:
            length = check_changes(length, changes)
        except DeltaError as exc:
            raise DeltaError(f"delta v={segment.from_v + i}: {exc}") from None
        if sel is not None and max(sel) > length:
            raise DeltaError(f"delta v={segment.from_v + i}: sel outside the document")
    return length


def replay(keyframe: dict[str, Any], segments: list[dict[str, Any]]) -> tuple[str, int]:
    """The document and version a join state stands for: the keyframe's document with every
    segment's deltas applied in order, as a watcher applies them. DeltaError if they do not."""
    doc, v = keyframe["doc"], keyframe["v"]
    for segment in segments:
        if segment["from"] != v + 1:
            raise DeltaError(f"segment from {segment['from']} does not follow v={v}")
        for _dt, changes, _sel in segment["deltas"]:
            doc = apply_changes(doc, changes)
        v = segment["to"]
    return doc, v
