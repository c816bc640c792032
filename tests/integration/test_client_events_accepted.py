"""What the shipped client cores send, the Function App accepts: every user event the real
JS state machines emit in the usual situations (harness/node/client-events.mjs) goes through
the server's validator, with the contract both sides read; every history upload the streamer
core makes is accepted in order by the server's decisions, and the stored join state rebuilds
exactly the streamer's document."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from codestream.contract import CONTRACT
from codestream.history import Keyframe, Segment, parse_keyframe, parse_segment, replay
from codestream.manifest import Accept, Manifest, decide_keyframe, decide_segment, join_document
from codestream.messages import Checked, check_user_event
from codestream.state import ConnState, Role
from harness.processes import REPO_ROOT

pytestmark = pytest.mark.node

SCRIPT = REPO_ROOT / "harness" / "node" / "client-events.mjs"
STREAM = "abcdefghijkl0001"


@pytest.fixture(scope="module")
def emitted() -> list[dict[str, Any]]:
    node = shutil.which("node")
    assert node, "node is not on PATH"
    done = subprocess.run(
        [node, str(SCRIPT)], capture_output=True, text=True, timeout=60, check=True
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def events(emitted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in emitted if "event" in e]


def test_the_client_emits_every_kind_of_event(emitted: list[dict[str, Any]]) -> None:
    kinds = [(e["sender"], e["event"]) for e in events(emitted)]
    assert kinds.count(("watcher", "sync")) == 3  # join, the gap, a join from storage
    assert kinds.count(("streamer", "snapshot")) == 2  # two chunks
    assert kinds.count(("streamer", "catchup")) == 1
    assert kinds.count(("streamer", "watchers")) == 2  # at connect, then once joins came
    assert kinds.count(("streamer", "control")) == 3  # title, language, end
    syncs = [e["data"]["have"] for e in events(emitted) if e["event"] == "sync"]
    assert syncs[2] == {"epoch": "e1", "v": 1}  # the stored head


def test_every_event_the_client_emits_is_accepted(emitted: list[dict[str, Any]]) -> None:
    for n, event in enumerate(events(emitted)):
        state = ConnState(Role(event["sender"]), STREAM)
        # as the browser sends it: JSON.stringify, compact, raw UTF-8
        body = json.dumps(event["data"], ensure_ascii=False, separators=(",", ":")).encode()
        result = check_user_event(event["event"], body, True, state, 1_700_000_000.0 + n)
        assert isinstance(result, Checked), (event["event"], result)


def test_the_client_cuts_the_title_where_the_server_would_refuse_it(
    emitted: list[dict[str, Any]],
) -> None:
    titles = [e["data"]["title"] for e in events(emitted) if "title" in e["data"]]
    assert titles[-1] == "t" * CONTRACT.title_chars


def test_the_stored_history_is_accepted_and_rebuilds_the_document(
    emitted: list[dict[str, Any]],
) -> None:
    uploads = [e for e in emitted if "upload" in e]
    assert [u["upload"] for u in uploads][:2] == ["keyframes", "segments"]
    manifest: Manifest | None = None
    blobs: dict[str, bytes] = {}
    for n, upload in enumerate(uploads):
        body = json.dumps(upload["body"], ensure_ascii=False, separators=(",", ":")).encode()
        parsed = parse_keyframe(body) if upload["upload"] == "keyframes" else parse_segment(body)
        assert isinstance(parsed, Keyframe | Segment), (n, parsed)
        now = 1_700_000_000.0 + n
        if isinstance(parsed, Keyframe):
            decision = decide_keyframe(manifest, STREAM, parsed, now)
        else:
            decision = decide_segment(manifest, STREAM, parsed, now)
        assert isinstance(decision, Accept), (n, decision)
        manifest = decision.manifest
        blobs[decision.name] = decision.body
    assert manifest is not None
    end = emitted[-1]
    assert manifest.head.position() == end["head"]
    assert (manifest.lang, manifest.ended) == ("javascript", True)
    assert manifest.title == "t" * CONTRACT.title_chars
    joined = json.loads(
        join_document(
            manifest,
            blobs[manifest.latest_keyframe().name],
            [blobs[s.name] for s in manifest.tail()],
        )
    )
    assert replay(joined["keyframe"], joined["segments"]) == (end["document"], end["head"]["v"])
