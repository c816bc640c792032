"""Every upload decision, one row each: what is accepted (and the manifest after it), what is
answered as already stored, and the exact refusal otherwise."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from codestream.contract import CONTRACT, load_contract
from codestream.errors import Code
from codestream.history import Keyframe, Segment, parse_keyframe, parse_segment
from codestream.manifest import (
    Accept,
    AlreadyStored,
    Gap,
    Head,
    Manifest,
    ManifestError,
    Refuse,
    decide_keyframe,
    decide_segment,
    join_document,
    parse_manifest,
)
from codestream.ratelimit import Bucket
from harness.history_model import StreamerModel

SID = "stream-abc-123"
NOW = 1_700_000_000.0


def keyframe(body: dict[str, Any]) -> Keyframe:
    kf = parse_keyframe(json.dumps(body).encode())
    assert isinstance(kf, Keyframe), kf
    return kf


def segment(body: dict[str, Any] | None) -> Segment:
    assert body is not None
    seg = parse_segment(json.dumps(body).encode())
    assert isinstance(seg, Segment), seg
    return seg


def accept(decision: Any) -> Manifest:
    assert isinstance(decision, Accept), decision
    return decision.manifest


def refused(decision: Any, code: Code) -> Refuse:
    assert isinstance(decision, Refuse), decision
    assert decision.refusal.code == code, decision
    assert decision.refusal.message
    return decision


def started(doc: str = "hello") -> tuple[StreamerModel, Manifest]:
    model = StreamerModel(doc=doc)
    model.title, model.lang = "T", "python"
    return model, accept(decide_keyframe(None, SID, keyframe(model.keyframe()), NOW))


def test_the_first_keyframe_creates_the_manifest() -> None:
    model, manifest = started("héllo 😀")
    assert manifest.head == Head("e1", 0, 8, model.t)
    assert (manifest.created_at, manifest.updated_at) == (int(NOW * 1000),) * 2
    assert (manifest.title, manifest.lang, manifest.ended) == ("T", "python", False)
    assert [(k.epoch, k.v, k.seq) for k in manifest.keyframes] == [("e1", 0, 1)]
    assert manifest.segments == manifest.gaps == ()
    assert manifest.upload == Bucket(CONTRACT.storage.upload_burst - 1, NOW)
    assert manifest.tail() == ()


def test_a_segment_before_any_keyframe_is_no_stream() -> None:
    model = StreamerModel()
    model.replace(0, 0, "x")
    assert (
        refused(decide_segment(None, SID, segment(model.cut()), NOW), Code.NO_STREAM).head is None
    )


def test_segments_follow_the_head_and_track_its_length() -> None:
    model, manifest = started()
    model.replace(5, 5, " world")
    model.replace(0, 1, "H")
    model.control(title="Step 2")
    seg = segment(model.cut())
    decision = decide_segment(manifest, SID, seg, NOW + 1)
    after = accept(decision)
    assert isinstance(decision, Accept)
    assert (decision.name, decision.body) == (seg.name, seg.body)
    assert after.head == Head("e1", 2, 11, seg.t1)
    assert after.title == "Step 2"
    assert [(s.from_v, s.to_v, s.seq) for s in after.segments] == [(1, 2, 2)]
    assert after.tail() == after.segments
    assert after.updated_at == int((NOW + 1) * 1000)


def test_a_retried_segment_is_already_stored_even_after_the_head_moved() -> None:
    model, manifest = started()
    model.replace(0, 0, "a")
    first = segment(model.cut())
    manifest = accept(decide_segment(manifest, SID, first, NOW))
    model.replace(0, 0, "b")
    manifest = accept(decide_segment(manifest, SID, segment(model.cut()), NOW))
    assert decide_segment(manifest, SID, first, NOW) == AlreadyStored(manifest.head)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"from": 3, "to": 3}, Code.OUT_OF_ORDER),  # a gap
        ({"from": 1, "to": 1, "t0": 5}, Code.OUT_OF_ORDER),  # behind the head, not stored
        ({"epoch": "other"}, Code.OUT_OF_ORDER),
        ({"deltas": [[0, [[9, 9, "x"]], None]]}, Code.BAD_DELTA),  # outside "hello!"
        ({"deltas": [[0, [[0, 0, "x"]], [9, 9]]]}, Code.BAD_DELTA),  # sel outside
    ],
)
def test_segment_refusals(change: dict[str, Any], code: Code) -> None:
    model, manifest = started()
    model.replace(5, 5, "!")
    manifest = accept(decide_segment(manifest, SID, segment(model.cut()), NOW))
    model.replace(0, 0, "x")
    body = {**(model.cut() or {}), **change}
    decision = refused(decide_segment(manifest, SID, segment(body), NOW), code)
    assert decision.head == manifest.head  # the client recovers from the stored head


def test_keyframe_at_the_head_restarts_the_tail() -> None:
    model, manifest = started()
    model.replace(0, 0, "a")
    manifest = accept(decide_segment(manifest, SID, segment(model.cut()), NOW))
    after = accept(decide_keyframe(manifest, SID, keyframe(model.keyframe()), NOW))
    assert after.head == Head("e1", 1, 6, model.t)  # the keyframe's own time
    assert after.latest_keyframe().v == 1
    assert after.tail() == ()
    assert [e.seq for e in (*after.keyframes, *after.segments)] == [1, 3, 2]


def test_keyframe_at_the_head_with_another_length_is_bad_delta() -> None:
    model, manifest = started()
    wrong = {**model.keyframe(), "doc": "hello!"}
    assert refused(decide_keyframe(manifest, SID, keyframe(wrong), NOW), Code.BAD_DELTA).head


def test_keyframe_behind_the_head_is_out_of_order() -> None:
    model, manifest = started()
    old = model.keyframe()
    model.replace(0, 0, "a")
    manifest = accept(decide_keyframe(manifest, SID, keyframe(model.keyframe()), NOW))
    assert refused(
        decide_keyframe(manifest, SID, keyframe({**old, "t": 1}), NOW), Code.OUT_OF_ORDER
    )


def test_keyframe_ahead_of_the_head_records_the_gap() -> None:
    model, manifest = started()
    for _ in range(4):
        model.replace(0, 0, "a")
    model.cut()  # lost: storage fell behind
    after = accept(decide_keyframe(manifest, SID, keyframe(model.keyframe()), NOW))
    assert after.gaps == (Gap("e1", 1, 3),)  # v=4 is the keyframe's own document
    assert after.head == Head("e1", 4, 9, model.t)
    model.replace(0, 0, "b")
    next_one = accept(decide_keyframe(after, SID, keyframe(model.keyframe()), NOW))
    assert next_one.gaps == after.gaps  # v = head.v + 1: nothing is lost


def test_a_new_epoch_resets_the_head_and_an_old_epoch_is_over() -> None:
    model, manifest = started()
    model.control(ended=True)
    manifest = accept(decide_segment(manifest, SID, segment(model.cut()), NOW))
    assert manifest.ended
    first_epoch = model.keyframe()
    model.new_epoch("e2")
    after = accept(decide_keyframe(manifest, SID, keyframe(model.keyframe()), NOW))
    assert after.head == Head("e2", 0, 5, model.t)
    assert not after.ended  # the streamer is back
    back = {**first_epoch, "v": 7}
    assert refused(decide_keyframe(after, SID, keyframe(back), NOW), Code.OUT_OF_ORDER)


def test_a_retried_keyframe_is_already_stored() -> None:
    model, manifest = started()
    kf = keyframe(model.keyframe())
    assert decide_keyframe(manifest, SID, kf, NOW) == AlreadyStored(manifest.head)


def test_uploads_are_rate_limited_in_the_manifest() -> None:
    model, manifest = started()
    accepted = 1
    for _ in range(25):
        model.replace(0, 0, "a")
        seg = segment(model.cut())
        decision = decide_segment(manifest, SID, seg, NOW)
        if not isinstance(decision, Accept):
            break
        manifest, accepted = decision.manifest, accepted + 1
    assert accepted == CONTRACT.storage.upload_burst
    assert refused(decision, Code.RATE_LIMITED).retry_after == 1
    # a refusal spends nothing: half a second later (2/s) the retry is taken, one only
    manifest = accept(decide_segment(manifest, SID, seg, NOW + 0.5))
    model.replace(0, 0, "a")
    refused(decide_segment(manifest, SID, segment(model.cut()), NOW + 0.5), Code.RATE_LIMITED)


def small_contract(**storage: int) -> Any:
    raw = copy.deepcopy(CONTRACT.raw)
    raw["storage"].update(storage)
    return load_contract(raw)


def test_the_tail_after_a_keyframe_is_bounded() -> None:
    c = small_contract(tailMaxSegments=2)
    model, manifest = started()
    for _ in range(2):
        model.replace(0, 0, "a")
        manifest = accept(decide_segment(manifest, SID, segment(model.cut()), NOW, c))
    model.replace(0, 0, "a")
    decision = refused(
        decide_segment(manifest, SID, segment(model.cut()), NOW, c), Code.OUT_OF_ORDER
    )
    assert "keyframe" in decision.refusal.message
    # the client's recovery: a keyframe at its version (a gap), then segments again
    manifest = accept(decide_keyframe(manifest, SID, keyframe(model.keyframe()), NOW, c))
    model.replace(0, 0, "b")
    accept(decide_segment(manifest, SID, segment(model.cut()), NOW, c))


def test_a_full_history_is_refused() -> None:
    c = small_contract(manifestEntries=2)
    model, manifest = started()
    model.replace(0, 0, "a")
    manifest = accept(decide_segment(manifest, SID, segment(model.cut()), NOW, c))
    model.replace(0, 0, "b")
    refused(decide_segment(manifest, SID, segment(model.cut()), NOW, c), Code.HISTORY_FULL)
    refused(decide_keyframe(manifest, SID, keyframe(model.keyframe()), NOW, c), Code.HISTORY_FULL)


def test_the_manifest_round_trips_and_refuses_what_it_did_not_write() -> None:
    model, manifest = started()
    model.replace(0, 0, "a")
    manifest = accept(decide_segment(manifest, SID, segment(model.cut()), NOW))
    doc = json.loads(manifest.to_json())
    assert parse_manifest(doc, SID) == manifest
    assert set(doc) == {
        "format", "streamId", "createdAt", "updatedAt", "title", "lang", "ended", "record",
        "head", "keyframes", "segments", "gaps", "markers", "upload",
    }  # fmt: skip
    for broken in (
        None,
        [],
        {**doc, "format": 2},
        {**doc, "streamId": "stream-other-1"},
        {k: v for k, v in doc.items() if k != "head"},
        {**doc, "head": {"epoch": "e1"}},
        {**doc, "segments": [{"name": "x"}]},
        {**doc, "ended": "no"},
        {**doc, "createdAt": True},
    ):
        with pytest.raises(ManifestError):
            parse_manifest(broken, SID)


def test_the_join_document_is_spliced_from_stored_bodies() -> None:
    model, manifest = started()
    model.replace(0, 0, "a")
    seg = segment(model.cut())
    manifest = accept(decide_segment(manifest, SID, seg, NOW))
    kf = keyframe(StreamerModel(doc="hello").keyframe() | {"lang": "python", "title": "T"})
    joined = json.loads(join_document(manifest, kf.body, [seg.body]))
    assert joined == {
        "streamId": SID,
        "title": "T",
        "lang": "python",
        "ended": False,
        "head": {"epoch": "e1", "v": 1, "t": seg.t1},
        "markers": [],
        "keyframe": json.loads(kf.body),
        "segments": [json.loads(seg.body)],
    }
    assert json.loads(join_document(manifest, kf.body, []))["segments"] == []
