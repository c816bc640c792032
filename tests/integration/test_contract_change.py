"""One edit to codestream/contract.json changes the server's refusal and the client's
behaviour together. The test copies the contract and the client's core modules into a
scratch tree (the core imports the contract by relative path, as the build bundles it),
changes one limit there, and drives both sides from that copy."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from codestream.contract import CONTRACT_FILE, read_contract
from codestream.messages import Checked, check_user_event
from codestream.state import ConnState, Role
from harness.processes import REPO_ROOT

pytestmark = pytest.mark.node

STREAM = "abcdefghijkl0001"
CHUNK_BYTES = 1024  # instead of the shipped 384 KiB
DOC = "x" * 2500 + "é" * 300  # 3,100 bytes of JSON


def scratch_tree(tmp_path: Path) -> Path:
    core = tmp_path / "static_web" / "src" / "core"
    shutil.copytree(REPO_ROOT / "static_web" / "src" / "core", core)
    (tmp_path / "codestream").mkdir()
    contract = json.loads(CONTRACT_FILE.read_text())
    contract["limits"]["snapshotChunkBytes"] = CHUNK_BYTES
    envelope = contract["limits"]["eventEnvelopeBytes"]
    contract["events"]["snapshot"]["maxBytes"] = CHUNK_BYTES + envelope
    (tmp_path / "codestream" / "contract.json").write_text(json.dumps(contract))
    return tmp_path


def client_chunks(tree: Path) -> list[str]:
    script = (
        "import { chunkString } from './static_web/src/core/split.js';"
        f"process.stdout.write(JSON.stringify(chunkString({json.dumps(DOC)})));"
    )
    node = shutil.which("node")
    assert node, "node is not on PATH"
    done = subprocess.run(
        [node, "--input-type=module", "-e", script],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    chunks: list[str] = json.loads(done.stdout)
    return chunks


def snapshot(doc: str, i: int, n: int) -> bytes:
    data = {"streamId": STREAM, "to": "c1", "ticket": "t" * 43, "epoch": "e1", "v": 1,
            "doc": doc, "chunk": [i, n]}  # fmt: skip
    return json.dumps(data).encode()


def test_a_smaller_snapshot_chunk_changes_both_sides(tmp_path: Path) -> None:
    tree = scratch_tree(tmp_path)
    contract = read_contract(tree / "codestream" / "contract.json")
    streamer = ConnState(Role.STREAMER, STREAM)

    chunks = client_chunks(tree)
    assert "".join(chunks) == DOC
    assert len(chunks) == 4  # the shipped contract sends this document in one chunk

    for i, chunk in enumerate(chunks):  # what the client sends, the server takes...
        result = check_user_event("snapshot", snapshot(chunk, i, 4), True, streamer, 0, contract)
        assert isinstance(result, Checked)

    too_big = snapshot("x" * (CHUNK_BYTES + 1), 0, 1)  # ...and one byte more it refuses
    refused = check_user_event("snapshot", too_big, True, streamer, 0, contract)
    assert not isinstance(refused, Checked)
    assert refused.refusal.code == "too_large"
    # the shipped contract still takes it
    assert isinstance(check_user_event("snapshot", too_big, True, streamer, 0), Checked)
