"""The original sample's design, as protocol-level streamer and watcher models.

OURS is not modelled here: bench/ours.py runs CodeStream's shipped client cores under Node
(harness/node/bench-ours.mjs), so the figures are those of the code the pages run.

REFERENCE (the original Azure Web PubSub "CodeStream" sample, `samples/javascript/codestream`
of Azure/azure-webpubsub, described in bench/README.md): the streamer keeps the editor's change
events and sends them every 200 ms as `{"type":"delta","version","changes":[event...]}` where
an event is Monaco's `IModelContentChangedEvent`; a watcher joins the stream group itself, then
sends `"sync"` to the `<id>-control` group; the streamer answers every `sync` by sending
`{"type":"full","version","content"}` to the whole stream group. No server code sees any of it.

Both models keep the real document and check it: a watcher's `doc` must equal the streamer's
when the stream goes quiet. `on_doc(watcher, now_ns)` is called after every change a watcher
applies, which is where latency is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from bench.links import Link
from bench.session import Op

OURS = "ours"
REFERENCE = "reference"
MODES = (OURS, REFERENCE)

REFERENCE_FLUSH_S = 0.200  # the sample's setInterval(flush, 200)

OnDoc = Callable[["Watcher", int], None]


class Streamer:
    """The streamer page: an editor document plus what the design sends for each edit."""

    doc: str
    link: Link
    sent_messages: int
    change_bytes: int  # JSON of the change descriptions sent, without any envelope

    async def start(self) -> None: ...
    def edit(self, op: Op) -> None: ...
    async def idle(self) -> None: ...
    async def stop(self) -> None: ...


class Watcher:
    doc: str | None
    link: Link
    index: int
    connect_started_ns: int
    synced_ns: int | None
    problems: list[str]

    async def start(self) -> None: ...


def line_col(doc: str, offset: int) -> tuple[int, int]:
    """Monaco's 1-based line number and column of a string offset."""
    line = doc.count("\n", 0, offset) + 1
    column = offset - (doc.rfind("\n", 0, offset) + 1) + 1
    return line, column


def monaco_event(doc: str, op: Op, version_id: int) -> dict[str, Any]:
    """What Monaco's onDidChangeContent hands the sample for this edit (its public fields)."""
    start_line, start_col = line_col(doc, op.at)
    end_line, end_col = line_col(doc, op.at + op.delete)
    change = {
        "range": {
            "startLineNumber": start_line,
            "startColumn": start_col,
            "endLineNumber": end_line,
            "endColumn": end_col,
        },
        "rangeLength": op.delete,
        "text": op.insert,
        "rangeOffset": op.at,
    }
    return {
        "changes": [change],
        "eol": "\n",
        "versionId": version_id,
        "isUndoing": op.kind == "undo",
        "isRedoing": op.kind == "redo",
        "isFlush": False,
    }


async def poll(done: Callable[[], bool], wait_s: float, step: float = 0.01) -> bool:
    """Waits until `done()` (state several tasks change, so there is no one event to await)."""
    deadline = time.monotonic() + wait_s
    while True:
        if done():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)


def _json_len(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def _apply(doc: str, at: int, delete: int, insert: str) -> str:
    if not 0 <= at <= at + delete <= len(doc):
        raise ValueError(f"change [{at}, {at + delete}] outside a document of {len(doc)}")
    return doc[:at] + insert + doc[at + delete :]


# ---------------------------------------------------------------- reference


class ReferenceStreamer(Streamer):
    def __init__(self, link: Link, stream_id: str, doc: str) -> None:
        self.link = link
        self.stream_id = stream_id
        self.doc = doc
        self.changes: list[dict[str, Any]] = []
        self.version = 0
        self.version_id = 1  # Monaco's model version
        # the sample's `content`, the text as of the last flush (the page starts empty; here
        # the document was typed before anyone joined)
        self.content = doc
        self.sent_messages = 0
        self.change_bytes = 0
        self.fulls = 0
        self.sent_at: dict[int, int] = {}  # version -> when it went on the wire
        self._flusher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        link.on_message = self._on_message

    async def start(self) -> None:
        await self.link.open()
        await self.link.join_group(f"{self.stream_id}-control")
        self._flusher = asyncio.create_task(self._flush_every_interval())

    def edit(self, op: Op) -> None:
        if not (op.delete or op.insert):
            return  # cursor moves raise no content event
        self.version_id += 1
        self.changes.append(monaco_event(self.doc, op, self.version_id))
        self.doc = _apply(self.doc, op.at, op.delete, op.insert)

    async def _flush_every_interval(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += REFERENCE_FLUSH_S
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            await self._flush()

    async def _flush(self) -> None:
        if not self.changes:
            return
        delta = {"type": "delta", "version": self.version, "changes": self.changes}
        self.version += 1
        self.changes = []
        self.content = self.doc
        self.sent_at[delta["version"]] = time.monotonic_ns()
        await self.link.send_to_group(self.stream_id, delta, ack=False)
        self.change_bytes += _json_len(delta["changes"])
        self.sent_messages += 1

    def _on_message(self, kind: str, data: Any, now_ns: int) -> None:
        if data == "sync":
            full = {"type": "full", "version": self.version, "content": self.content}
            task = asyncio.create_task(self.link.send_to_group(self.stream_id, full, ack=False))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            self.fulls += 1

    async def idle(self) -> None:
        await poll(lambda: not self.changes, 20)
        await asyncio.sleep(0.01)  # the flush in progress, if any, reaches the socket

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.link.close()


class ReferenceWatcher(Watcher):
    def __init__(self, link: Link, stream_id: str, index: int, on_doc: OnDoc) -> None:
        self.link = link
        self.stream_id = stream_id
        self.index = index
        self.on_doc = on_doc
        self.doc: str | None = None
        self.version = -1
        self.connect_started_ns = 0
        self.synced_ns: int | None = None
        self.problems: list[str] = []
        self.fulls_applied = 0
        link.on_message = self._on_message

    async def start(self) -> None:
        self.connect_started_ns = time.monotonic_ns()
        await self.link.open()
        await self.link.join_group(self.stream_id)  # the sample waits for this ack
        await self.link.send_to_group(f"{self.stream_id}-control", "sync", ack=False)

    def _on_message(self, kind: str, data: Any, now_ns: int) -> None:
        if not isinstance(data, dict):
            return
        if data.get("type") == "delta":
            if self.doc is not None:  # before its first full the sample edits an empty model
                doc = self.doc
                try:
                    for event in data["changes"]:
                        for c in event["changes"]:
                            doc = _apply(doc, c["rangeOffset"], c["rangeLength"], c["text"])
                except ValueError as exc:
                    self.problems.append(str(exc))
                    return
                self.doc = doc
                self.on_doc(self, now_ns)
            self.version = data["version"]
        elif data.get("type") == "full":
            if self.version >= data["version"]:
                return
            self.doc, self.version = data["content"], data["version"]
            self.fulls_applied += 1
            if self.synced_ns is None:
                self.synced_ns = now_ns
            self.on_doc(self, now_ns)
