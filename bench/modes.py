"""The two designs being compared, as protocol-level streamer and watcher models.

OURS (CodeStream, protocol.md): deltas `{"type":"delta","epoch","v","changes":[[from,to,ins]],
"sel"}` batched with a leading edge and a 40 ms window (`static_web/src/core/batcher.js`), sent
one at a time with an ack (a batch queued behind an unacknowledged delta folds into it, as
`core/deltas.js` queueBatch), `noEcho`, on the reliable subprotocol; a joining watcher sends the
`sync` user event, the Function App asks the streamer (`sync-request`), the streamer answers with
a `snapshot` event that the Function App forwards to that one connection.

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
import secrets
import time
from collections.abc import Callable
from typing import Any

from bench.links import Link
from bench.session import Op

OURS = "ours"
REFERENCE = "reference"
MODES = (OURS, REFERENCE)

BATCH_WINDOW_S = 0.040  # static_web/src/core/batcher.js BATCH_WINDOW_MS
SNAPSHOT_CHUNK_CHARS = 128 * 1024  # one chunk for the documents benchmarked here
SYNC_RETRY_S = 4.0  # static_web/src/core/watcher-state.js SYNC_RETRY_MS
SYNC_RETRY_MAX_S = 30.0  # ... SYNC_RETRY_MAX_MS: the wait doubles up to this
REFERENCE_FLUSH_S = 0.200  # the sample's setInterval(flush, 200)
STREAMER_FIRST_ACK_ID = 1_000_000_000  # streamer.js: its own ack ids, far from the SDK's

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


# ---------------------------------------------------------------- ours


class OursStreamer(Streamer):
    def __init__(self, link: Link, stream_id: str, doc: str) -> None:
        self.link = link
        self.stream_id = stream_id
        self.doc = doc
        self.sel = [len(doc), len(doc)]
        self.epoch = secrets.token_urlsafe(9)  # 12 characters, as deltas.js newEpoch
        self.v = 0
        self.pending: list[list[Any]] = []
        self.dirty = False
        self.window_end: float | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.outbox: list[dict[str, Any]] = []
        self.sealed = 0
        self.sending = False
        self.sent_messages = 0
        self.change_bytes = 0
        self.snapshots = 0
        self.answering: set[str] = set()  # watchers whose snapshot is in flight
        self.snapshot_ns: list[int] = []  # sync-request answered -> its snapshot acknowledged
        self.errors: list[Any] = []
        self.watcher_counts: list[int] = []
        self._pump_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent_at: dict[int, int] = {}  # v -> when it went on the wire
        link.on_message = self._on_message

    async def start(self) -> None:
        if hasattr(self.link, "first_ack_id"):
            self.link.first_ack_id(STREAMER_FIRST_ACK_ID)
        await self.link.open()
        self._push([], self.sel)  # the page announces its epoch with an empty delta

    def edit(self, op: Op) -> None:
        if op.delete or op.insert:
            self.doc = _apply(self.doc, op.at, op.delete, op.insert)
            changes = [[op.at, op.at + op.delete, op.insert]]
        else:
            changes = []
        self.sel = list(op.sel)
        self._push(changes, self.sel)

    # the batcher: leading edge, then one batch per window while changes keep coming
    def _push(self, changes: list[list[Any]], sel: list[int]) -> None:
        self.pending += changes
        self.sel = sel
        self.dirty = True
        now = time.monotonic()
        if self.window_end is None or now >= self.window_end:
            self._take(now)
        elif self.timer is None:
            self._arm()

    def _arm(self) -> None:
        assert self.window_end is not None
        delay = max(0.0, self.window_end - time.monotonic())
        self.timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        now = time.monotonic()
        if not self.dirty:
            self.window_end = None
            return
        self._take(now)

    def _take(self, now: float) -> None:
        tail = self.outbox[-1] if len(self.outbox) > 1 else None  # queued, never sent
        if tail is not None and tail["v"] == self.v and self.v > self.sealed:
            # deltas.js queueBatch: fold into the unsent tail rather than queue another
            tail["changes"] = tail["changes"] + self.pending
            tail["sel"] = list(self.sel)
            delta = None
        else:
            self.v += 1
            delta = {"type": "delta", "epoch": self.epoch, "v": self.v, "changes": self.pending}
            delta["sel"] = list(self.sel)
        self.pending = []
        self.dirty = False
        self.window_end = now + BATCH_WINDOW_S
        if self.timer is not None:
            self.timer.cancel()
        self._arm()
        if delta is not None:
            self.outbox.append(delta)
        if not self.sending:
            self._pump_task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        """One delta in flight, each acknowledged (streamer.js `pump`)."""
        self.sending = True
        try:
            while self.outbox:
                self.sent_at[self.outbox[0]["v"]] = time.monotonic_ns()
                await self.link.send_to_group(
                    self.stream_id, self.outbox[0], ack=True, no_echo=True
                )
                self.change_bytes += _json_len(self.outbox.pop(0)["changes"])
                self.sent_messages += 1
        finally:
            self.sending = False

    def _on_message(self, kind: str, data: Any, now_ns: int) -> None:
        if not isinstance(data, dict):
            return
        if data.get("type") == "sync-request":
            # static_web/src/core/snapshot-queue.js: one snapshot in flight per watcher; a
            # repeat of the request while it is in flight shares it
            if data["connectionId"] in self.answering:
                return
            task = asyncio.create_task(self._answer(data["connectionId"]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif data.get("type") == "watchers":
            self.watcher_counts.append(data["count"])
        elif data.get("type") == "error":
            self.errors.append(data)

    async def _answer(self, connection_id: str) -> None:
        self.answering.add(connection_id)
        try:
            await self._send_snapshot(connection_id)
        finally:
            self.answering.discard(connection_id)

    async def _send_snapshot(self, connection_id: str) -> None:
        if self.dirty:  # a snapshot is taken at a numbered version: flush pending edits first
            self._take(time.monotonic())
        doc, v = self.doc, self.v
        self.sealed = v  # no later edit may be folded into the delta this snapshot includes
        started = time.monotonic_ns()
        parts = [
            doc[i : i + SNAPSHOT_CHUNK_CHARS] for i in range(0, len(doc), SNAPSHOT_CHUNK_CHARS)
        ] or [""]
        for i, part in enumerate(parts):
            data = {
                "streamId": self.stream_id,
                "to": connection_id,
                "epoch": self.epoch,
                "v": v,
                "doc": part,
                "lang": "python",
                "title": "",
                "chunk": [i, len(parts)],
            }
            await self.link.send_event("snapshot", data, ack=True)
        self.snapshots += 1
        self.snapshot_ns.append(time.monotonic_ns() - started)

    async def idle(self) -> None:
        """Everything typed so far has been sent and acknowledged (bounded)."""
        await poll(lambda: not (self.dirty or self.outbox or self.sending), 20, 0.005)

    async def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await self.link.close()


class OursWatcher(Watcher):
    """protocol.md's watcher state machine (static_web/src/core/watcher-state.js)."""

    def __init__(self, link: Link, stream_id: str, index: int, on_doc: OnDoc) -> None:
        self.link = link
        self.stream_id = stream_id
        self.index = index
        self.on_doc = on_doc
        self.doc: str | None = None
        self.epoch: str | None = None
        self.v = 0
        self.buffer: list[dict[str, Any]] = []
        self.chunks: list[str] = []
        self.connect_started_ns = 0
        self.synced_ns: int | None = None
        self.problems: list[str] = []
        self.syncs = 0
        self._retry: asyncio.Task[None] | None = None
        link.on_message = self._on_message

    async def start(self) -> None:
        self.connect_started_ns = time.monotonic_ns()
        await self.link.open()  # the token joined the stream group at connect
        await self._sync()

    async def _sync(self, retry: bool = True) -> None:
        self.syncs += 1
        have = None if self.epoch is None else {"epoch": self.epoch, "v": self.v}
        await self.link.send_event("sync", {"streamId": self.stream_id, "have": have}, ack=True)
        if retry and (self._retry is None or self._retry.done()):
            self._retry = asyncio.create_task(self._retry_later())

    async def _retry_later(self) -> None:
        wait = SYNC_RETRY_S
        while self.synced_ns is None:
            await asyncio.sleep(wait)
            if self.synced_ns is None:
                await self._sync(retry=False)
            wait = min(wait * 2, SYNC_RETRY_MAX_S)

    def _on_message(self, kind: str, data: Any, now_ns: int) -> None:
        if not isinstance(data, dict):
            return
        kind_ = data.get("type")
        if kind_ == "delta":
            self._delta(data, now_ns)
        elif kind_ == "snapshot":
            self._snapshot(data, now_ns)
        elif kind_ == "error":
            self.problems.append(f"server error {data.get('code')}")

    def _delta(self, d: dict[str, Any], now_ns: int) -> None:
        if self.doc is None:
            self.buffer.append(d)
            return
        if d["epoch"] == self.epoch and d["v"] <= self.v:
            return  # already in the snapshot
        if d["epoch"] != self.epoch or d["v"] != self.v + 1:
            self.problems.append(f"gap: have {self.v}, got {d['v']}")
            return
        try:
            self._apply(d)
        except ValueError as exc:
            self.problems.append(str(exc))
            return
        self.on_doc(self, now_ns)

    def _apply(self, d: dict[str, Any]) -> None:
        doc = self.doc or ""
        for at, to, insert in d["changes"]:
            doc = _apply(doc, at, to - at, insert)
        self.doc, self.v = doc, d["v"]

    def _snapshot(self, s: dict[str, Any], now_ns: int) -> None:
        if self.doc is not None:
            return
        i, n = s["chunk"]
        if i == 0:
            self.chunks = []
        self.chunks.append(s["doc"])
        if i + 1 < n:
            return
        self.doc, self.epoch, self.v = "".join(self.chunks), s["epoch"], s["v"]
        for d in self.buffer:
            if d["epoch"] == self.epoch and d["v"] == self.v + 1:
                self._apply(d)
        self.buffer = []
        self.synced_ns = now_ns
        self.on_doc(self, now_ns)


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
