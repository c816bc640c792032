"""What the shipped client cores send, the Function App accepts: every user event the real
JS state machines emit in the usual situations (harness/node/client-events.mjs) goes through
the server's validator, with the contract both sides read."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from codestream.contract import CONTRACT
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


def test_the_client_emits_every_kind_of_event(emitted: list[dict[str, Any]]) -> None:
    kinds = [(e["sender"], e["event"]) for e in emitted]
    assert kinds.count(("watcher", "sync")) == 2  # join, then the gap
    assert kinds.count(("streamer", "snapshot")) == 2  # two chunks
    assert kinds.count(("streamer", "control")) == 3  # title, language, end


def test_every_event_the_client_emits_is_accepted(emitted: list[dict[str, Any]]) -> None:
    for n, event in enumerate(emitted):
        state = ConnState(Role(event["sender"]), STREAM)
        # as the browser sends it: JSON.stringify, compact, raw UTF-8
        body = json.dumps(event["data"], ensure_ascii=False, separators=(",", ":")).encode()
        result = check_user_event(event["event"], body, True, state, 1_700_000_000.0 + n)
        assert isinstance(result, Checked), (event["event"], result)


def test_the_client_cuts_the_title_where_the_server_would_refuse_it(
    emitted: list[dict[str, Any]],
) -> None:
    titles = [e["data"]["title"] for e in emitted if "title" in e["data"]]
    assert titles[-1] == "t" * CONTRACT.title_chars
