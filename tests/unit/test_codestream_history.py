"""Keyframe and segment bodies: what is accepted, stored (canonical) and named, and the exact
refusal of everything else, one row each."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from codestream.contract import CONTRACT
from codestream.delta import DeltaError
from codestream.errors import Code, Refusal
from codestream.history import (
    Controls,
    Keyframe,
    Segment,
    apply_segment_length,
    canonical_json,
    parse_keyframe,
    parse_segment,
    replay,
)

KF = {"epoch": "e1", "v": 4, "t": 1000, "doc": "print('é😀')\n", "lang": "python", "title": "T"}
SEG = {
    "epoch": "e1",
    "from": 5,
    "to": 6,
    "t0": 2000,
    "deltas": [[0, [[0, 0, "# "]], [2, 2]], [40, [[1, 2.0, ""]], None]],
    "controls": [[10, {"title": "T2"}], [10, {"lang": "text"}], [50, {"ended": True}]],
}


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def test_a_keyframe_is_stored_canonically_and_named_by_its_content() -> None:
    spaced = json.dumps(KF, indent=2, ensure_ascii=True).encode()
    kf = parse_keyframe(spaced)
    assert isinstance(kf, Keyframe)
    assert (kf.epoch, kf.v, kf.t, kf.lang, kf.title) == ("e1", 4, 1000, "python", "T")
    assert kf.doc_length == 13  # UTF-16: the emoji counts 2
    assert kf.body == canonical_json(KF)
    assert kf.body == json.dumps(KF, ensure_ascii=False, separators=(",", ":")).encode()
    assert kf.name == f"k/e1/4-{hashlib.sha256(kf.body).hexdigest()[:8]}"
    assert parse_keyframe(dumps(KF)) == kf  # formatting does not change the name


def test_a_segment_is_stored_canonically() -> None:
    seg = parse_segment(dumps(SEG))
    assert isinstance(seg, Segment)
    assert (seg.from_v, seg.to_v, seg.t0, seg.t1) == (
        5,
        6,
        2000,
        2050,
    )  # the latest of its deltas and controls
    assert seg.controls == Controls(lang="text", title="T2", ended=True)
    stored = json.loads(seg.body)
    assert stored["deltas"][1] == [40, [[1, 2, ""]], None]  # 2.0 is 2, as in JavaScript
    assert seg.name == f"s/e1/5-6-{hashlib.sha256(seg.body).hexdigest()[:8]}"


def test_a_controls_only_segment_follows_the_head() -> None:
    seg = parse_segment(dumps({**SEG, "from": 7, "to": 6, "deltas": []}))
    assert isinstance(seg, Segment)
    assert seg.deltas == ()
    assert seg.name.startswith("s/e1/7-6-")


def test_lone_surrogates_are_stored_as_javascript_writes_them() -> None:
    kf = parse_keyframe(dumps({**KF, "doc": "a\ud800b"}))
    assert isinstance(kf, Keyframe)
    assert kf.body.decode("utf-8")  # valid UTF-8
    assert b'"a\\ud800b"' in kf.body
    assert json.loads(kf.body)["doc"] == "a\ud800b"


def without(value: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k != name}


LIMIT = CONTRACT.keyframe_bytes


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{", Code.BAD_JSON),
        (b"\xff", Code.BAD_JSON),
        (b"[" * 5000, Code.BAD_JSON),
        (b"[]", Code.BAD_SCHEMA),
        (dumps(without(KF, "doc")), Code.BAD_SCHEMA),
        (dumps(without(KF, "t")), Code.BAD_SCHEMA),
        (dumps({**KF, "x": 1}), Code.BAD_SCHEMA),
        (dumps({**KF, "epoch": "a b"}), Code.BAD_SCHEMA),
        (dumps({**KF, "v": -1}), Code.BAD_SCHEMA),
        (dumps({**KF, "v": 2**53}), Code.BAD_SCHEMA),
        (dumps({**KF, "v": 1.0}), Code.BAD_SCHEMA),
        (dumps({**KF, "v": True}), Code.BAD_SCHEMA),
        (dumps({**KF, "t": "now"}), Code.BAD_SCHEMA),
        (dumps({**KF, "doc": None}), Code.BAD_SCHEMA),
        (dumps({**KF, "doc": "a\r\nb"}), Code.BAD_SCHEMA),
        (dumps({**KF, "lang": "c sharp"}), Code.BAD_SCHEMA),
        (dumps({**KF, "title": 3}), Code.BAD_SCHEMA),
        (dumps({**KF, "title": "t" * (CONTRACT.title_chars + 1)}), Code.TOO_LARGE),
        (dumps({**KF, "doc": "x" * LIMIT}), Code.TOO_LARGE),
    ],
)
def test_keyframe_refusals(body: bytes, code: Code) -> None:
    result = parse_keyframe(body)
    assert isinstance(result, Refusal)
    assert (result.code, bool(result.message)) == (code, True)


def test_a_keyframe_at_the_size_limit_is_taken() -> None:
    overhead = len(dumps({**KF, "doc": ""}))
    assert isinstance(parse_keyframe(dumps({**KF, "doc": "x" * (LIMIT - overhead)})), Keyframe)
    assert isinstance(parse_keyframe(dumps({**KF, "doc": "x" * (LIMIT - overhead + 1)})), Refusal)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{", Code.BAD_JSON),
        (dumps(None), Code.BAD_SCHEMA),
        (dumps(without(SEG, "controls")), Code.BAD_SCHEMA),
        (dumps(without(SEG, "deltas")), Code.BAD_SCHEMA),
        (dumps({**SEG, "sel": None}), Code.BAD_SCHEMA),
        (dumps({**SEG, "to": 7}), Code.BAD_SCHEMA),  # to != from + len(deltas) - 1
        (dumps({**SEG, "from": 0, "to": 1}), Code.BAD_SCHEMA),
        (dumps({**SEG, "deltas": [], "controls": []}), Code.BAD_SCHEMA),  # empty
        (dumps({**SEG, "deltas": {}}), Code.BAD_SCHEMA),
        (dumps({**SEG, "deltas": [[0, [], None, 1], [0, [], None]]}), Code.BAD_SCHEMA),
        (dumps({**SEG, "deltas": [[-1, [], None], [0, [], None]]}), Code.BAD_SCHEMA),
        (dumps({**SEG, "deltas": [[5, [], None], [4, [], None]]}), Code.BAD_SCHEMA),  # dt back
        (dumps({**SEG, "deltas": [[0, [], None], [1.5, [], None]]}), Code.BAD_SCHEMA),
        (dumps({**SEG, "deltas": [[0, [[1, 0, ""]], None], [0, [], None]]}), Code.BAD_SCHEMA),
        (dumps({**SEG, "deltas": [[0, [[0, 0, "\r"]], None], [0, [], None]]}), Code.BAD_SCHEMA),
        (dumps({**SEG, "deltas": [[0, [[0, 0]], None], [0, [], None]]}), Code.BAD_SCHEMA),
        (dumps({**SEG, "deltas": [[0, [], [1]], [0, [], None]]}), Code.BAD_SCHEMA),
        (dumps({**SEG, "deltas": [[0, [], [-1, 0]], [0, [], None]]}), Code.BAD_SCHEMA),
        (dumps({**SEG, "controls": [[0, {}]]}), Code.BAD_SCHEMA),
        (dumps({**SEG, "controls": [[0, {"ended": False}]]}), Code.BAD_SCHEMA),
        (dumps({**SEG, "controls": [[0, {"mode": 1}]]}), Code.BAD_SCHEMA),
        (dumps({**SEG, "controls": [[0, {"lang": "a b"}]]}), Code.BAD_SCHEMA),
        (dumps({**SEG, "controls": [[0, {"title": "t" * 121}]]}), Code.TOO_LARGE),
        (dumps({**SEG, "controls": [[5, {"title": "a"}], [4, {"title": "b"}]]}), Code.BAD_SCHEMA),
        (dumps({**SEG, "controls": [0, {"title": "a"}]}), Code.BAD_SCHEMA),
        (b" " * (CONTRACT.segment_bytes + 1), Code.TOO_LARGE),
    ],
)
def test_segment_refusals(body: bytes, code: Code) -> None:
    result = parse_segment(body)
    assert isinstance(result, Refusal)
    assert (result.code, bool(result.message)) == (code, True)


def test_segment_changes_are_checked_against_the_tracked_length() -> None:
    seg = parse_segment(dumps(SEG))
    assert isinstance(seg, Segment)
    assert apply_segment_length(3, seg) == 4  # "abc" -> "# abc" -> "#abc"
    outside = parse_segment(
        dumps({**SEG, "deltas": [[0, [[0, 0, "ab"]], None], [0, [[1, 4, ""]], None]]})
    )
    assert isinstance(outside, Segment)
    with pytest.raises(DeltaError, match="v=6"):  # [1, 4] of a document of length 3
        apply_segment_length(1, outside)
    assert apply_segment_length(2, outside) == 1
    far_sel = {**SEG, "deltas": [[0, [[0, 0, "ab"]], [3, 0]], [0, [], None]]}
    with pytest.raises(DeltaError, match="sel"):
        apply_segment_length(0, parse_segment(dumps(far_sel)))  # type: ignore[arg-type]


def test_replay_applies_segments_to_the_keyframe() -> None:
    kf = {"epoch": "e1", "v": 4, "t": 0, "doc": "abc"}
    segments = [json.loads(parse_segment(dumps(SEG)).body)]  # type: ignore[union-attr]
    assert replay(kf, segments) == ("#abc", 6)
    with pytest.raises(DeltaError):
        replay({**kf, "v": 3}, segments)  # not contiguous
