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
from codestream.messages import Checked, check_user_event, json_string_bytes
from codestream.negotiate import plan
from codestream.state import ConnState, Role
from harness import vectors

DELTAS = vectors.load("deltas")["cases"]
SPLIT = vectors.load("split")
NEGOTIATE = vectors.load("negotiate")
EVENTS = vectors.load("user-events")
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
