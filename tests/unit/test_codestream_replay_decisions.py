"""The replay decisions, one row each: markers stored with their n, epoch, v and t; the record
setting and what it prunes; the end of an unrecorded stream; deleting a recording and what
its tombstone refuses; the recording index and the JSON Lines download, byte for byte."""

from __future__ import annotations

import json
from typing import Any

import pytest

from codestream.contract import CONTRACT
from codestream.errors import Code
from codestream.history import Keyframe, Segment, parse_keyframe, parse_segment
from codestream.manifest import (
    Accept,
    AlreadyDeleted,
    AlreadyStored,
    DeleteStream,
    Head,
    Manifest,
    ManifestError,
    MarkerEntry,
    Refuse,
    Tombstone,
    WriteTombstone,
    decide_delete,
    decide_keyframe,
    decide_segment,
    join_document,
    parse_stored,
)
from codestream.recording import (
    download_order,
    download_size,
    entry_line,
    header_line,
    index_document,
)
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


def refused(decision: Any, code: Code, status: int) -> Refuse:
    assert isinstance(decision, Refuse), decision
    assert (decision.refusal.code, decision.refusal.status) == (code, status), decision
    assert decision.refusal.message
    return decision


def started(record: bool | None = None) -> tuple[StreamerModel, Manifest]:
    model = StreamerModel(doc="hello")
    body = model.keyframe() | ({} if record is None else {"record": record})
    return model, accept(decide_keyframe(None, SID, keyframe(body), NOW))


# ---------------------------------------------------------------- markers


def test_segment_markers_are_indexed_in_order_with_version_and_time() -> None:
    model, manifest = started()
    model.control(marker=" step 1 ", advance_ms=5)  # before any delta of the segment
    model.replace(0, 0, "a")
    model.control(marker="step 2")
    model.replace(0, 0, "b")
    first = segment(model.cut())
    manifest = accept(decide_segment(manifest, SID, first, NOW))
    t0 = first.t0
    assert manifest.markers == (
        MarkerEntry(1, "step 1", "e1", 0, t0),
        MarkerEntry(2, "step 2", "e1", 1, t0 + 50),
    )
    stored = json.loads(first.body)
    assert stored["controls"] == [[0, {"marker": "step 1"}], [50, {"marker": "step 2"}]]
    model.control(marker="step 3")
    second = segment(model.cut())  # controls only: at the head
    manifest = accept(decide_segment(manifest, SID, second, NOW))
    assert manifest.markers[-1] == MarkerEntry(3, "step 3", "e1", 2, second.t0)
    joined = json.loads(join_document(manifest, b'{"doc":""}', []))
    assert joined["markers"] == [
        {"n": 1, "label": "step 1", "epoch": "e1", "v": 0, "t": t0},
        {"n": 2, "label": "step 2", "epoch": "e1", "v": 1, "t": t0 + 50},
        {"n": 3, "label": "step 3", "epoch": "e1", "v": 2, "t": second.t0},
    ]
    assert parse_stored(json.loads(manifest.to_json()), SID) == manifest


@pytest.mark.parametrize(
    ("marker", "code"),
    [
        ("", Code.BAD_SCHEMA),
        ("x" * 81, Code.TOO_LARGE),
        ("a\nb", Code.BAD_SCHEMA),
        (1, Code.BAD_SCHEMA),
    ],
)
def test_a_bad_marker_refuses_the_segment(marker: object, code: Code) -> None:
    model = StreamerModel(doc="x")
    model.control(marker="placeholder")
    body = model.cut()
    assert body is not None
    body["controls"][0][1]["marker"] = marker
    refusal = parse_segment(json.dumps(body).encode())
    assert not isinstance(refusal, Segment)
    assert refusal.code == code
    assert refusal.message.startswith("controls[0]: ")


def test_markers_beyond_the_limit_are_history_full() -> None:
    model, manifest = started()
    for _ in range(CONTRACT.replay.max_markers):
        model.control(marker="m", advance_ms=0)
    manifest = accept(decide_segment(manifest, SID, segment(model.cut()), NOW))
    assert len(manifest.markers) == CONTRACT.replay.max_markers
    model.control(marker="one more")
    refused(decide_segment(manifest, SID, segment(model.cut()), NOW + 1), Code.HISTORY_FULL, 409)


# ---------------------------------------------------------------- the record setting


def test_record_is_on_by_default_and_unchanged_when_a_keyframe_does_not_say() -> None:
    model, manifest = started()
    assert manifest.record is True
    model.replace(0, 0, "a")
    manifest = accept(decide_segment(manifest, SID, segment(model.cut()), NOW))
    off = accept(
        decide_keyframe(manifest, SID, keyframe(model.keyframe() | {"record": False}), NOW)
    )
    assert off.record is False
    model.replace(0, 0, "b")
    off = accept(decide_segment(off, SID, segment(model.cut()), NOW))
    silent = decide_keyframe(off, SID, keyframe(model.keyframe()), NOW)
    assert isinstance(silent, Accept)
    assert silent.manifest.record is False  # a keyframe without "record" keeps the setting


def test_record_off_keeps_only_the_latest_keyframe_and_its_tail() -> None:
    model, manifest = started()
    for ch in "abc":
        model.replace(0, 0, ch)
        manifest = accept(decide_segment(manifest, SID, segment(model.cut()), NOW))
    model.control(marker="kept")
    manifest = accept(decide_segment(manifest, SID, segment(model.cut()), NOW))
    before = manifest.blob_names()
    assert len(before) == 5
    decision = decide_keyframe(
        manifest, SID, keyframe(model.keyframe() | {"record": False}), NOW + 1
    )
    assert isinstance(decision, Accept)
    pruned = decision.manifest
    assert decision.prune == before  # every blob the new manifest no longer names
    assert pruned.blob_names() == (decision.name,)
    assert pruned.head == Head("e1", 3, 8, model.t)
    assert [k.seq for k in pruned.keyframes] == [6]  # seq never goes back
    assert [m.label for m in pruned.markers] == ["kept"]
    model.replace(0, 0, "d")
    tail = segment(model.cut())
    after = accept(decide_segment(pruned, SID, tail, NOW + 2))
    assert [s.seq for s in after.segments] == [7]
    assert after.tail() == after.segments
    # the next keyframe prunes again: the keyframe and the segment before it
    again = decide_keyframe(after, SID, keyframe(model.keyframe()), NOW + 3)
    assert isinstance(again, Accept)
    assert again.prune == (decision.name, tail.name)
    assert again.manifest.blob_names() == (again.name,)


def test_record_off_drops_gaps_and_a_new_epoch_prunes_the_old_one() -> None:
    model, manifest = started(record=False)
    model.replace(0, 0, "a")
    manifest = accept(decide_segment(manifest, SID, segment(model.cut()), NOW))
    model.replace(0, 0, "b")
    model.cut()  # lost on the way: the next keyframe jumps, which would be a gap
    model.replace(0, 0, "c")
    model.cut()
    jumped = decide_keyframe(manifest, SID, keyframe(model.keyframe()), NOW)
    assert isinstance(jumped, Accept)
    assert jumped.manifest.gaps == ()
    model.new_epoch("e2")
    reloaded = decide_keyframe(jumped.manifest, SID, keyframe(model.keyframe()), NOW)
    assert isinstance(reloaded, Accept)
    assert reloaded.prune == (jumped.name,)
    assert reloaded.manifest.head.epoch == "e2"


def test_record_on_again_keeps_what_comes_next() -> None:
    model, manifest = started(record=False)
    on = decide_keyframe(manifest, SID, keyframe(model.keyframe() | {"record": True}), NOW)
    assert isinstance(on, Accept)
    assert on.prune == ()
    assert on.manifest.record is True
    assert len(on.manifest.keyframes) == 2


def test_the_end_of_an_unrecorded_stream_deletes_it() -> None:
    model, manifest = started(record=False)
    model.replace(0, 0, "a")
    model.control(ended=True)
    decision = decide_segment(manifest, SID, segment(model.cut()), NOW)
    assert decision == DeleteStream(Head("e1", 1, 6, model.t))
    model2, recorded = started()
    model2.control(ended=True)
    assert isinstance(decide_segment(recorded, SID, segment(model2.cut()), NOW), Accept)


# ---------------------------------------------------------------- deleting


def test_delete_writes_a_tombstone_once_and_is_idempotent() -> None:
    _model, manifest = started()
    decision = decide_delete(manifest, NOW)
    assert decision == WriteTombstone(Tombstone(int(NOW * 1000)))
    assert json.loads(decision.tombstone.to_json()) == {
        "format": 1,
        "deleted": True,
        "deletedAt": int(NOW * 1000),
    }
    assert decide_delete(None, NOW) == WriteTombstone(Tombstone(int(NOW * 1000)))
    assert decide_delete(Tombstone(1), NOW) == AlreadyDeleted()


def test_delete_is_rate_limited_like_uploads() -> None:
    model, manifest = started()
    for _ in range(int(CONTRACT.storage.upload_burst) - 1):
        model.replace(0, 0, "a")
        manifest = accept(decide_segment(manifest, SID, segment(model.cut()), NOW))
    decision = refused(decide_delete(manifest, NOW), Code.RATE_LIMITED, 429)
    assert decision.retry_after == 1
    assert isinstance(decide_delete(manifest, NOW + 1), WriteTombstone)


def test_a_tombstone_refuses_every_upload_for_good() -> None:
    model = StreamerModel(doc="x")
    tombstone = Tombstone(5)
    for body in (model.keyframe(), model.keyframe() | {"record": True}):
        refused(decide_keyframe(tombstone, SID, keyframe(body), NOW), Code.DELETED, 409)
    model.new_epoch("e2")  # not even a new page epoch resurrects it
    refused(decide_keyframe(tombstone, SID, keyframe(model.keyframe()), NOW), Code.DELETED, 409)
    model.replace(0, 0, "a")
    refused(decide_segment(tombstone, SID, segment(model.cut()), NOW), Code.DELETED, 409)


@pytest.mark.parametrize(
    "doc",
    [
        {"format": 1, "deleted": True},
        {"format": 2, "deleted": True, "deletedAt": 1},
        {"format": 1, "deleted": True, "deletedAt": "1"},
        {"format": 1, "deleted": "yes", "deletedAt": 1},  # not a tombstone: a bad manifest
    ],
)
def test_what_is_not_a_tombstone_is_refused(doc: dict[str, Any]) -> None:
    with pytest.raises(ManifestError):
        parse_stored(doc, SID)


def test_manifests_from_before_replay_read_as_recorded_without_markers() -> None:
    _model, manifest = started()
    doc = json.loads(manifest.to_json())
    del doc["record"], doc["markers"]
    old = parse_stored(doc, SID)
    assert isinstance(old, Manifest)
    assert (old.record, old.markers) == (True, ())
    with pytest.raises(ManifestError):
        parse_stored({**doc, "record": "no"}, SID)
    with pytest.raises(ManifestError):
        parse_stored({**doc, "markers": [{"n": 1}]}, SID)


# ---------------------------------------------------------------- the index and the download


def recorded() -> tuple[Manifest, dict[str, bytes]]:
    model = StreamerModel(doc="print(1)\n")
    model.title, model.lang = "Demo", "python"
    kf = keyframe(model.keyframe())
    manifest = accept(decide_keyframe(None, SID, kf, NOW))
    bodies = {kf.name: kf.body}
    model.replace(0, 0, "# ")
    model.control(marker="start")
    seg = segment(model.cut())
    manifest = accept(decide_segment(manifest, SID, seg, NOW + 1))
    bodies[seg.name] = seg.body
    kf2 = keyframe(model.keyframe())
    manifest = accept(decide_keyframe(manifest, SID, kf2, NOW + 2))
    bodies[kf2.name] = kf2.body
    return manifest, bodies


def test_the_index_is_the_manifest_less_its_private_fields() -> None:
    manifest, _bodies = recorded()
    k1, k2 = manifest.keyframes
    (s1,) = manifest.segments
    assert json.loads(index_document(manifest)) == {
        "streamId": SID,
        "title": "Demo",
        "lang": "python",
        "ended": False,
        "record": True,
        "createdAt": int(NOW * 1000),
        "updatedAt": int((NOW + 2) * 1000),
        "head": {"epoch": "e1", "v": 1, "t": manifest.head.t},
        "keyframes": [
            {"name": k.name, "epoch": "e1", "v": k.v, "t": k.t, "bytes": k.bytes} for k in (k1, k2)
        ],
        "segments": [
            {
                "name": s1.name,
                "epoch": "e1",
                "from": 1,
                "to": 1,
                "t0": s1.t0,
                "t1": s1.t1,
                "bytes": s1.bytes,
            }
        ],
        "gaps": [],
        "markers": [{"n": 1, "label": "start", "epoch": "e1", "v": 1, "t": s1.t1}],
    }


def test_the_download_lines_are_exact() -> None:
    manifest, bodies = recorded()
    order = download_order(manifest)
    assert [(e.kind, e.name) for e in order] == [
        ("keyframe", manifest.keyframes[0].name),
        ("segment", manifest.segments[0].name),
        ("keyframe", manifest.keyframes[1].name),
    ]
    lines = [header_line(manifest)] + [entry_line(e.kind, bodies[e.name]) for e in order]
    assert lines[0] == (
        b'{"type":"recording","format":1,"streamId":"stream-abc-123","title":"Demo",'
        b'"lang":"python","createdAt":1700000000000,"updatedAt":1700000002000,"ended":false}\n'
    )
    for line, entry in zip(lines[1:], order, strict=True):
        assert line.endswith(b"\n")
        assert line.count(b"\n") == 1
        assert json.loads(line) == {"type": entry.kind, **json.loads(bodies[entry.name])}
        assert line == b'{"type":"' + entry.kind.encode() + b'",' + bodies[entry.name][1:] + b"\n"
    assert download_size(manifest) == sum(len(line) for line in lines)


def test_an_empty_body_cannot_make_a_line() -> None:
    with pytest.raises(ValueError, match="fields"):
        entry_line("segment", b"{}")


def test_the_same_keyframe_sent_with_the_other_setting_changes_it() -> None:
    # found by tests/property/test_replay_property.py: on, then off with the very document
    # of an earlier keyframe, was "already stored" and recording stayed on
    model, manifest = started(record=False)
    first = manifest.keyframes[0].name
    on = accept(decide_keyframe(manifest, SID, keyframe(model.keyframe() | {"record": True}), NOW))
    assert (on.record, len(on.keyframes)) == (True, 2)
    off = decide_keyframe(on, SID, keyframe(model.keyframe() | {"record": False}), NOW)
    assert isinstance(off, Accept)
    assert off.name == first  # stored already: the shell's create-only write is a no-op
    assert off.manifest.record is False
    assert off.manifest.blob_names() == (on.keyframes[1].name,)  # the latest, and its tail
    assert off.prune == (first,)
    again = decide_keyframe(off.manifest, SID, keyframe(model.keyframe() | {"record": False}), NOW)
    assert isinstance(again, Accept | AlreadyStored)
