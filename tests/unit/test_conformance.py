"""The server's half of the conformance vectors (tests/vectors/); the client's half is
static_web/test/conformance.test.js. Both read the same files, so the two sides cannot drift
apart on what a delta means, how sizes are counted, or which events are refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from codestream.contract import CONTRACT
from codestream.delta import DeltaError, apply_changes
from codestream.errors import Refusal
from codestream.history import Keyframe, Segment, parse_keyframe, parse_segment, replay
from codestream.manifest import (
    Accept,
    AlreadyStored,
    Manifest,
    Refuse,
    decide_keyframe,
    decide_segment,
    join_document,
)
from codestream.messages import Checked, check_user_event, json_string_bytes
from codestream.negotiate import plan
from codestream.state import ConnState, Role
from harness import vectors

DELTAS = vectors.load("deltas")["cases"]
SPLIT = vectors.load("split")
NEGOTIATE = vectors.load("negotiate")
EVENTS = vectors.load("user-events")
STORAGE = vectors.load("storage")
HISTORY = vectors.load("history")
LIMITS: dict[str, int] = CONTRACT.raw["limits"]


@pytest.mark.parametrize("case", DELTAS, ids=[c["name"] for c in DELTAS])
def test_delta_application(case: dict[str, Any]) -> None:
    if case.get("error"):
        with pytest.raises(DeltaError):
            apply_changes(case["doc"], case["changes"])
    else:
        assert apply_changes(case["doc"], case["changes"]) == case["result"]


@pytest.mark.parametrize("case", SPLIT["jsonStringBytes"], ids=lambda c: repr(c["text"]))
def test_json_string_bytes(case: dict[str, Any]) -> None:
    assert json_string_bytes(case["text"]) == case["bytes"]


def test_the_vectors_overhead_is_the_contracts() -> None:
    assert SPLIT["overhead"] == LIMITS["deltaChangeOverheadBytes"]


@pytest.mark.parametrize("case", SPLIT["splitChanges"], ids=lambda c: c["name"])
def test_split_deltas_mean_the_same_edit(case: dict[str, Any]) -> None:
    """The client's pieces, applied one after the other, are the original edit, and each piece
    is within the budget as the server counts bytes (a piece of one change may exceed it only
    when a single code point does)."""
    whole = apply_changes(case["doc"], case["changes"])
    doc = case["doc"]
    for piece in case["pieces"]:
        doc = apply_changes(doc, piece)
        cost = sum(json_string_bytes(c[2]) + SPLIT["overhead"] for c in piece)
        assert cost <= case["budget"] or len(piece) == 1
    assert doc == whole


@pytest.mark.parametrize("case", SPLIT["chunkString"], ids=lambda c: repr(c["text"]))
def test_snapshot_chunks(case: dict[str, Any]) -> None:
    assert "".join(case["chunks"]) == case["text"]
    for chunk in case["chunks"]:
        assert json_string_bytes(chunk) <= case["budget"] or len(chunk) == 1


@pytest.mark.parametrize("case", NEGOTIATE["requests"], ids=lambda c: c["name"])
def test_negotiate_requests(case: dict[str, Any]) -> None:
    grant = plan(case["body"].encode(), NEGOTIATE["secret"])
    if "code" in case:
        assert isinstance(grant, Refusal)
        assert (grant.status, str(grant.code)) == (case["status"], case["code"])
        return
    assert not isinstance(grant, Refusal)
    assert str(grant.role) == case["grant"]
    if case.get("new"):
        assert CONTRACT.stream_id.fullmatch(grant.stream_id)
    else:
        assert grant.stream_id == case["streamId"]
    if grant.role is Role.STREAMER:
        assert grant.owner_key is not None
        if "ownerKey" in case:
            assert grant.owner_key == case["ownerKey"]


@pytest.mark.parametrize("purpose", sorted(NEGOTIATE["client"]))
def test_what_clients_send_to_negotiate_is_granted(purpose: str) -> None:
    body = json.dumps(NEGOTIATE["client"][purpose]).encode()
    grant = plan(body, NEGOTIATE["secret"])
    assert not isinstance(grant, Refusal)
    assert str(grant.role) == ("watcher" if purpose == "watch" else "streamer")


@pytest.mark.parametrize("case", EVENTS["cases"], ids=lambda c: c["name"])
def test_user_events(case: dict[str, Any]) -> None:
    state = ConnState(Role(case["role"]), EVENTS["stream"])
    data = vectors.expand(case["data"], LIMITS)
    body = json.dumps(data).encode()
    result = check_user_event(case["event"], body, True, state, 1_700_000_000.0)
    if case.get("accepted"):
        assert isinstance(result, Checked), result
    else:
        assert not isinstance(result, Checked)
        assert str(result.refusal.code) == case["code"]


@pytest.mark.parametrize(
    ("kind", "case"),
    [("keyframe", c) for c in STORAGE["keyframes"]] + [("segment", c) for c in STORAGE["segments"]],
    ids=lambda c: c["name"] if isinstance(c, dict) else c,
)
def test_upload_bodies(kind: str, case: dict[str, Any]) -> None:
    body = json.dumps(vectors.expand(case["body"], LIMITS)).encode()
    result = parse_keyframe(body) if kind == "keyframe" else parse_segment(body)
    if case.get("accepted"):
        assert isinstance(result, Keyframe | Segment), result
    else:
        assert isinstance(result, Refusal)
        assert str(result.code) == case["code"]


def test_an_upload_session() -> None:
    manifest: Manifest | None = None
    blobs: dict[str, bytes] = {}
    now = 1_700_000_000.0
    for step in STORAGE["session"]["steps"]:
        now += 1
        body = json.dumps(step["body"]).encode()
        if step["kind"] == "keyframe":
            kf = parse_keyframe(body)
            assert isinstance(kf, Keyframe)
            decision = decide_keyframe(manifest, "abcdefghijkl0001", kf, now)
        else:
            seg = parse_segment(body)
            assert isinstance(seg, Segment)
            decision = decide_segment(manifest, "abcdefghijkl0001", seg, now)
        if "code" in step:
            assert isinstance(decision, Refuse), step
            assert str(decision.refusal.code) == step["code"]
            continue
        assert isinstance(decision, Accept | AlreadyStored), (step, decision)
        if isinstance(decision, Accept):
            manifest = decision.manifest
            blobs[decision.name] = decision.body
        assert manifest is not None
        assert manifest.head.position() == step["head"]
    assert manifest is not None
    joined = json.loads(
        join_document(
            manifest,
            blobs[manifest.latest_keyframe().name],
            [blobs[s.name] for s in manifest.tail()],
        )
    )
    session = STORAGE["session"]
    assert replay(joined["keyframe"], joined["segments"])[0] == session["document"]
    assert (joined["title"], joined["lang"]) == (session["title"], session["lang"])


@pytest.mark.parametrize("case", HISTORY["joins"], ids=lambda c: c["name"])
def test_join_states_replay_as_the_client_replays_them(case: dict[str, Any]) -> None:
    state = case["state"]
    if case.get("error"):
        with pytest.raises(DeltaError):
            replay(state["keyframe"], state["segments"])
    else:
        assert replay(state["keyframe"], state["segments"]) == (case["document"], case["v"])


@pytest.mark.parametrize("case", HISTORY["compaction"], ids=lambda c: c["name"])
def test_compacted_catchups_mean_the_deltas_and_are_accepted(case: dict[str, Any]) -> None:
    doc = case["doc"]
    for changes in case["deltas"]:
        doc = apply_changes(doc, changes)
    assert doc == case["result"]
    assert apply_changes(case["doc"], case["compacted"]) == case["result"]
    catchup = {
        "streamId": EVENTS["stream"],
        "to": "conn-1",
        "ticket": "t" * 43,
        "epoch": "k3J9",
        "from": 1,
        "v": 1 + len(case["deltas"]),
        "changes": case["compacted"],
    }
    # as the browser sends it: JSON.stringify escapes a lone surrogate
    body = json.dumps(catchup).encode()
    state = ConnState(Role.STREAMER, EVENTS["stream"])
    assert isinstance(check_user_event("catchup", body, True, state, 1_700_000_000.0), Checked)


REPLAY = vectors.load("replay")


@pytest.mark.parametrize("case", REPLAY["labels"], ids=lambda c: repr(c["raw"])[:40])
def test_marker_labels(case: dict[str, Any]) -> None:
    from codestream.markers import parse_label

    raw = vectors.expand(case["raw"], LIMITS)
    result = parse_label(raw)
    if "code" in case:
        assert isinstance(result, Refusal)
        assert result.code == case["code"]
    else:
        assert result == vectors.expand(case["label"], LIMITS)


@pytest.mark.parametrize("case", REPLAY["links"], ids=lambda c: c["url"][-40:])
def test_stream_links(case: dict[str, Any]) -> None:
    from codestream.oembed import parse_link

    link = parse_link(case["url"], REPLAY["site"])
    if case["link"] is None:
        assert link is None
    else:
        assert link is not None
        found = {"streamId": link.stream_id, "t": link.time, "m": link.marker}
        assert {k: v for k, v in found.items() if v is not None} == case["link"]
