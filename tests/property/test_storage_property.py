"""The upload core under any sequence of uploads a streamer (or anyone with its key) can make:
genuine, duplicated, replayed late, lost on the way, out of order, rate limited, corrupt or
garbage. Run the way the shell runs it (parse, decide, create-only blob write, manifest
write), on an in-memory store, after every step:

- the manifest is one this code can read back (round trip);
- no accepted segment or keyframe ever leaves the manifest, and no stored blob changes;
- the stored join state (latest keyframe + tail) replays to exactly the document the
  streamer had at the stored head, whose tracked length is that document's;
- the head never moves back (within an epoch, nor to an epoch that is over);
- every refusal is one of the documented codes, and nothing ever raises.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from codestream.delta import utf16_length
from codestream.errors import Code, Refusal
from codestream.history import parse_keyframe, parse_segment, replay
from codestream.manifest import (
    Accept,
    AlreadyStored,
    Manifest,
    Refuse,
    decide_keyframe,
    decide_segment,
    join_document,
    parse_manifest,
)
from harness.history_model import StreamerModel
from harness.strategies import hostile_bodies

SID = "stream-prop-0001"
UPLOAD_CODES = {
    Code.BAD_JSON,
    Code.BAD_SCHEMA,
    Code.TOO_LARGE,
    Code.BAD_DELTA,
    Code.NO_STREAM,
    Code.OUT_OF_ORDER,
    Code.RATE_LIMITED,
    Code.HISTORY_FULL,
}


@dataclass
class Store:
    """What the shell keeps in blob storage, with its write rules."""

    manifest: Manifest | None = None
    blobs: dict[str, bytes] = field(default_factory=dict)
    accepted: set[str] = field(default_factory=set)
    now: float = 1_700_000_000.0
    epochs: list[str] = field(default_factory=list)  # in the order the head took them
    head_v: int = -1

    def upload(self, kind: str, body: bytes) -> Accept | AlreadyStored | Refuse | Refusal:
        parsed = parse_keyframe(body) if kind == "k" else parse_segment(body)
        if isinstance(parsed, Refusal):
            return parsed
        if kind == "k":
            decision = decide_keyframe(self.manifest, SID, parsed, self.now)  # type: ignore[arg-type]
        else:
            decision = decide_segment(self.manifest, SID, parsed, self.now)  # type: ignore[arg-type]
        if isinstance(decision, Accept):
            self.blobs.setdefault(decision.name, decision.body)  # If-None-Match: *
            self.manifest = decision.manifest
            self.accepted.add(decision.name)
        return decision

    def check(self, model: StreamerModel) -> None:
        if self.manifest is None:
            return
        manifest = self.manifest
        assert parse_manifest(json.loads(manifest.to_json()), SID) == manifest
        names = {e.name for e in (*manifest.keyframes, *manifest.segments)}
        assert self.accepted <= names  # nothing accepted was lost
        for name in names:  # nothing stored was overwritten: content still matches its name
            assert name.rsplit("-", 1)[1] == hashlib.sha256(self.blobs[name]).hexdigest()[:8]
        kf = self.blobs[manifest.latest_keyframe().name]
        tail = [self.blobs[s.name] for s in manifest.tail()]
        joined = json.loads(join_document(manifest, kf, tail))
        doc, v = replay(joined["keyframe"], joined["segments"])
        head = manifest.head
        assert v == head.v
        assert doc == model.history[(head.epoch, head.v)]
        assert utf16_length(doc) == head.length
        # the head only moves forward: within its epoch, or to an epoch never seen before
        if self.epochs and self.epochs[-1] == head.epoch:
            assert head.v >= self.head_v
        else:
            assert head.epoch not in self.epochs
            self.epochs.append(head.epoch)
        self.head_v = head.v


edits = st.tuples(
    st.floats(0, 1),
    st.integers(0, 12),
    st.text(st.characters(blacklist_characters="\r"), max_size=8)
    | st.sampled_from(["😀", "é", "\n", "\ud83d", "👩‍💻"]),
)
steps = st.one_of(
    st.tuples(st.just("edit"), edits),
    st.tuples(st.just("cut"), st.none()),
    st.tuples(st.just("lose"), st.none()),  # a segment that never arrives
    st.tuples(st.just("keyframe"), st.none()),
    st.tuples(st.just("control"), st.sampled_from(["python", "rust", "", "a" * 40])),
    st.tuples(st.just("end"), st.none()),
    st.tuples(st.just("epoch"), st.none()),
    st.tuples(st.just("replay"), st.integers(0, 1000)),  # an earlier upload, again
    st.tuples(st.just("hold"), st.none()),  # an upload made now that arrives later...
    st.tuples(st.just("late"), st.integers(0, 1000)),  # ...here, after later ones
    st.tuples(st.just("corrupt"), st.integers(0, 1000)),  # an earlier upload, one field broken
    st.tuples(st.just("garbage"), hostile_bodies()),
    st.tuples(st.just("wait"), st.floats(0, 30)),
)


@given(st.lists(steps, min_size=1, max_size=60))
@example([("cut", None), ("edit", (0.0, 0, "a")), ("cut", None)])
@example([("edit", (0.5, 3, "😀")), ("lose", None), ("edit", (0.0, 1, "")), ("cut", None)])
def test_any_upload_sequence_keeps_storage_consistent(plan: list[tuple[str, Any]]) -> None:
    model = StreamerModel(doc="hello\nwörld 😀\n")
    store = Store()
    sent: list[tuple[str, bytes]] = []
    held: list[tuple[str, bytes]] = []

    def send(kind: str, body: bytes, recover: bool = True) -> None:
        sent.append((kind, body))
        result = store.upload(kind, body)
        if isinstance(result, Refusal):
            assert result.code in UPLOAD_CODES
            return
        if isinstance(result, Refuse):
            assert result.refusal.code in UPLOAD_CODES, result
            if result.refusal.code is Code.RATE_LIMITED and result.retry_after:
                store.now += result.retry_after  # the client waits, then retries
                send(kind, body, recover)
            elif result.refusal.code in (Code.OUT_OF_ORDER, Code.NO_STREAM) and recover:
                # the client's recovery: a keyframe at its current version, then on
                send("k", dump(model.keyframe()), recover=False)

    send("k", dump(model.keyframe()))
    for op, arg in plan:
        store.now += 0.1
        if op == "edit":
            frac, deleted, text = arg
            start = int(frac * model.length)
            model.replace(start, start + deleted, text)
        elif op in ("cut", "lose"):
            segment = model.cut()
            if segment is not None and op == "cut":
                send("s", dump(segment))
        elif op == "keyframe":
            if (segment := model.cut()) is not None:
                send("s", dump(segment))
            send("k", dump(model.keyframe()))
        elif op == "control":
            model.control(lang=arg)
        elif op == "end":
            model.control(ended=True)
        elif op == "epoch":
            model.new_epoch(f"epoch{len(sent)}")  # random in the client: never reused
            send("k", dump(model.keyframe()))
        elif op == "replay" and sent:
            store.upload(*sent[arg % len(sent)])
        elif op == "hold":
            segment = model.cut()
            held.append(("s", dump(segment)) if segment else ("k", dump(model.keyframe())))
        elif op == "late" and held:
            store.upload(*held.pop(arg % len(held)))
        elif op == "corrupt" and sent:
            kind, body = sent[arg % len(sent)]
            value = json.loads(body)
            key = sorted(value)[arg % len(value)]
            value[key] = "corrupt" if not isinstance(value[key], str) else 7
            result = store.upload(kind, dump(value))
            assert not isinstance(result, Accept)
        elif op == "garbage":
            for kind in ("k", "s"):
                result = store.upload(kind, arg)
                assert not isinstance(result, Accept) or result.body != arg
        elif op == "wait":
            store.now += arg
        store.check(model)


def dump(value: Any) -> bytes:
    return json.dumps(value).encode()


@given(hostile_bodies())
def test_any_body_parses_or_is_refused(body: bytes) -> None:
    for parse in (parse_keyframe, parse_segment):
        result = parse(body)
        if isinstance(result, Refusal):
            assert result.code in UPLOAD_CODES
            assert result.message
        else:
            assert parse(result.body) == result  # the stored form parses to itself
