"""A stream's manifest and the decision on every upload. Pure: no I/O, the time is an argument.

The manifest (`<streamId>/manifest.json`) is the one mutable blob of a stream and the
serialization point of its uploads: the shell reads it with its ETag, asks `decide`, writes the
new blob (if any) and then the new manifest with If-Match on that ETag. So whatever `decide`
accepts is consistent with everything accepted before it, and a lost race is simply decided
again on the newer manifest.

The server tracks the document's length only (UTF-16 code units), never its text: that is
enough to check that every change of every segment applies (`delta.check_changes`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from codestream.contract import CONTRACT, Contract
from codestream.delta import DeltaError
from codestream.errors import Code, Refusal
from codestream.history import Keyframe, Segment, apply_segment_length, canonical_json
from codestream.ratelimit import Bucket, Limit, take

FORMAT = 1


class ManifestError(ValueError):
    """A stored manifest that is not one this code wrote."""


@dataclass(frozen=True)
class Head:
    epoch: str
    v: int
    length: int  # of the document at v, in UTF-16 code units
    t: int  # streamer's ms time of version v

    def position(self) -> dict[str, Any]:
        """What answers and refusals tell the client."""
        return {"epoch": self.epoch, "v": self.v}


@dataclass(frozen=True)
class KeyframeEntry:
    name: str
    epoch: str
    v: int
    t: int
    bytes: int
    seq: int  # acceptance order across keyframes and segments (1, 2, ...)


@dataclass(frozen=True)
class SegmentEntry:
    name: str
    epoch: str
    from_v: int
    to_v: int
    t0: int
    t1: int
    bytes: int
    seq: int


@dataclass(frozen=True)
class Gap:
    """Versions of an epoch whose documents storage cannot rebuild (a keyframe jumped)."""

    epoch: str
    from_v: int
    to_v: int


@dataclass(frozen=True)
class MarkerEntry:
    """A named point of the stream: `n` counts from 1 in the order markers were stored."""

    n: int
    label: str
    epoch: str
    v: int  # the version of the document it labels
    t: int  # streamer's ms time


@dataclass(frozen=True)
class Tombstone:
    """What the manifest becomes when the owner deletes the recording: every later read is
    410 and every later upload 409, for good (a new stream id starts afresh)."""

    deleted_at: int  # server ms

    def to_json(self) -> bytes:
        return canonical_json({"format": FORMAT, "deleted": True, "deletedAt": self.deleted_at})


@dataclass(frozen=True)
class Manifest:
    stream_id: str
    created_at: int  # server ms
    updated_at: int
    title: str | None
    lang: str | None
    ended: bool
    head: Head
    keyframes: tuple[KeyframeEntry, ...]
    segments: tuple[SegmentEntry, ...]
    gaps: tuple[Gap, ...]
    upload: Bucket  # rate of accepted uploads (tokens, unix seconds)
    record: bool = True  # "Record this stream": False keeps only what late joiners need
    markers: tuple[MarkerEntry, ...] = ()

    @property
    def entries(self) -> int:
        return len(self.keyframes) + len(self.segments) + len(self.gaps)

    @property
    def next_seq(self) -> int:
        """Never reused, also after older entries were pruned."""
        seqs = [k.seq for k in self.keyframes] + [s.seq for s in self.segments]
        return max(seqs, default=0) + 1

    def blob_names(self) -> tuple[str, ...]:
        return (*(k.name for k in self.keyframes), *(s.name for s in self.segments))

    def latest_keyframe(self) -> KeyframeEntry:
        """Always of the head's epoch, at or before the head: every keyframe either starts a
        new epoch or moves the head of the current one up to itself."""
        return self.keyframes[-1]

    def tail(self) -> tuple[SegmentEntry, ...]:
        """The segments accepted after the latest keyframe, in order: what a join applies."""
        after = self.latest_keyframe().seq
        count = 0
        for entry in reversed(self.segments):
            if entry.seq < after:
                break
            count += 1
        return self.segments[len(self.segments) - count :]

    def to_json(self) -> bytes:
        doc = {
            "format": FORMAT,
            "streamId": self.stream_id,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "title": self.title,
            "lang": self.lang,
            "ended": self.ended,
            "record": self.record,
            "head": {
                "epoch": self.head.epoch,
                "v": self.head.v,
                "length": self.head.length,
                "t": self.head.t,
            },
            "keyframes": [
                {
                    "name": k.name,
                    "epoch": k.epoch,
                    "v": k.v,
                    "t": k.t,
                    "bytes": k.bytes,
                    "seq": k.seq,
                }
                for k in self.keyframes
            ],
            "segments": [
                {
                    "name": s.name,
                    "epoch": s.epoch,
                    "from": s.from_v,
                    "to": s.to_v,
                    "t0": s.t0,
                    "t1": s.t1,
                    "bytes": s.bytes,
                    "seq": s.seq,
                }
                for s in self.segments
            ],
            "gaps": [{"epoch": g.epoch, "from": g.from_v, "to": g.to_v} for g in self.gaps],
            "markers": [marker_json(m) for m in self.markers],
            "upload": {"tokens": self.upload.tokens, "at": self.upload.at},
        }
        return canonical_json(doc)


def marker_json(m: MarkerEntry) -> dict[str, Any]:
    return {"n": m.n, "label": m.label, "epoch": m.epoch, "v": m.v, "t": m.t}


def _get(doc: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = doc.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ManifestError(f"manifest field {name!r} is missing or of a wrong type")
    return value


def _opt_str(doc: dict[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if value is not None and not isinstance(value, str):
        raise ManifestError(f"manifest field {name!r} must be a string or null")
    return value


def _record(doc: dict[str, Any]) -> bool:
    value = doc.get("record", True)  # manifests written before the setting existed: on
    if not isinstance(value, bool):
        raise ManifestError("manifest field 'record' must be true or false")
    return value


def parse_stored(doc: Any, stream_id: str) -> Manifest | Tombstone:
    """A stored manifest, or the tombstone of a deleted recording; ManifestError otherwise."""
    if isinstance(doc, dict) and doc.get("deleted") is True:
        deleted_at = doc.get("deletedAt")
        if doc.get("format") != FORMAT or type(deleted_at) is not int:
            raise ManifestError("a tombstone needs format 1 and an integer deletedAt")
        return Tombstone(deleted_at)
    return parse_manifest(doc, stream_id)


def parse_manifest(doc: Any, stream_id: str) -> Manifest:
    """A stored manifest back into a Manifest; ManifestError if it is not one of ours."""
    try:
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ManifestError("not a format-1 manifest")
        if doc.get("streamId") != stream_id:
            raise ManifestError("manifest of another stream")
        head = _get(doc, "head", dict)
        upload = _get(doc, "upload", dict)
        return Manifest(
            stream_id=stream_id,
            created_at=_get(doc, "createdAt", int),
            updated_at=_get(doc, "updatedAt", int),
            title=_opt_str(doc, "title"),
            lang=_opt_str(doc, "lang"),
            ended=_get(doc, "ended", bool),
            head=Head(
                _get(head, "epoch", str),
                _get(head, "v", int),
                _get(head, "length", int),
                _get(head, "t", int),
            ),
            keyframes=tuple(
                KeyframeEntry(k["name"], k["epoch"], k["v"], k["t"], k["bytes"], k["seq"])
                for k in _get(doc, "keyframes", list)
            ),
            segments=tuple(
                SegmentEntry(
                    s["name"],
                    s["epoch"],
                    s["from"],
                    s["to"],
                    s["t0"],
                    s["t1"],
                    s["bytes"],
                    s["seq"],
                )
                for s in _get(doc, "segments", list)
            ),
            gaps=tuple(Gap(g["epoch"], g["from"], g["to"]) for g in _get(doc, "gaps", list)),
            upload=Bucket(float(_get(upload, "tokens", (int, float))), float(upload["at"])),
            record=_record(doc),
            markers=tuple(
                MarkerEntry(m["n"], m["label"], m["epoch"], m["v"], m["t"])
                for m in doc.get("markers", [])
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ManifestError):
            raise
        raise ManifestError(f"manifest is malformed: {exc!r}") from None


# ---------------------------------------------------------------- decisions


@dataclass(frozen=True)
class Accept:
    """Write `body` as blob `name` (If-None-Match: *), then `manifest` (If-Match); then
    delete the blobs in `prune` (entries the new manifest no longer names: "record" off)."""

    manifest: Manifest
    name: str
    body: bytes
    prune: tuple[str, ...] = ()


@dataclass(frozen=True)
class AlreadyStored:
    """An identical upload was accepted before: answer as then, write nothing."""

    head: Head


@dataclass(frozen=True)
class Refuse:
    refusal: Refusal
    head: Head | None = None  # the stored head, for out_of_order: the client recovers from it
    retry_after: int | None = None  # seconds, for rate_limited


@dataclass(frozen=True)
class DeleteStream:
    """The stream ended while "record" is off: delete every blob of it, then the manifest
    (If-Match), and answer with `head`; later reads are 404 no_stream."""

    head: Head


Decision = Accept | AlreadyStored | Refuse | DeleteStream
Stored = Manifest | Tombstone | None


def upload_limit(c: Contract = CONTRACT) -> Limit:
    return Limit(c.storage.upload_burst, c.storage.upload_per_second)


def _out_of_order(message: str, head: Head) -> Refuse:
    return Refuse(Refusal(Code.OUT_OF_ORDER, message), head)


def deleted_refusal(for_upload: bool) -> Refusal:
    """Reads answer 410 (gone for good); uploads 409 (a state conflict the client resolves
    by starting a new stream)."""
    msg = "the owner deleted this stream's recording"
    if for_upload:
        return Refusal(Code.DELETED, msg + "; start a new stream", 409)
    return Refusal(Code.DELETED, msg)


def _rate(bucket: Bucket | None, now: float, c: Contract) -> Bucket | Refuse:
    limit = upload_limit(c)
    allowed, charged = take(bucket, limit, now)
    if not allowed:
        wait = max(1, math.ceil((1.0 - charged.tokens) / limit.per_second))
        msg = (
            f"too many uploads; at most {limit.per_second:g}/s after a burst of {limit.capacity:g}"
        )
        return Refuse(Refusal(Code.RATE_LIMITED, msg), None, wait)
    return charged


def _charge(manifest: Manifest | None, entries: int, now: float, c: Contract) -> Bucket | Refuse:
    """The checks every accepted upload passes last: room in the manifest (`entries`: how
    many it would hold), then the rate."""
    if manifest is not None and entries > c.storage.manifest_entries:
        msg = f"this stream's history is full ({c.storage.manifest_entries} entries)"
        return Refuse(Refusal(Code.HISTORY_FULL, msg), manifest.head)
    return _rate(manifest.upload if manifest else None, now, c)


def decide_keyframe(
    manifest: Stored,
    stream_id: str,
    keyframe: Keyframe,
    now: float,
    c: Contract = CONTRACT,
) -> Decision:
    if isinstance(manifest, Tombstone):
        return Refuse(deleted_refusal(for_upload=True))
    now_ms = int(now * 1000)
    name = keyframe.name
    head = Head(keyframe.epoch, keyframe.v, keyframe.doc_length, keyframe.t)
    record = keyframe.record if keyframe.record is not None else True
    if manifest is None:
        bucket = _charge(None, 1, now, c)
        if isinstance(bucket, Refuse):
            return bucket
        entry = KeyframeEntry(name, keyframe.epoch, keyframe.v, keyframe.t, len(keyframe.body), 1)
        created = Manifest(
            stream_id,
            now_ms,
            now_ms,
            keyframe.title,
            keyframe.lang,
            False,
            head,
            (entry,),
            (),
            (),
            bucket,
            record,
        )
        return Accept(created, name, keyframe.body)
    if any(k.name == name for k in manifest.keyframes):
        if keyframe.record is None or keyframe.record == manifest.record:
            return AlreadyStored(manifest.head)
        return _set_record(manifest, keyframe, now, c)  # same document, the setting changed
    stored = manifest.head
    gaps: tuple[Gap, ...] = ()
    ended = manifest.ended
    if keyframe.epoch != stored.epoch:
        if any(k.epoch == keyframe.epoch for k in manifest.keyframes):
            return _out_of_order(f"epoch {keyframe.epoch!r} is over; start a new one", stored)
        ended = False  # a new page epoch: the streamer is back
    elif keyframe.v < stored.v:
        return _out_of_order(f"stored history is at v={stored.v}, after this keyframe", stored)
    elif keyframe.v == stored.v:
        if keyframe.doc_length != stored.length:
            msg = (
                f"the document at v={stored.v} is {stored.length} UTF-16 code units long in "
                f"stored history, not {keyframe.doc_length}"
            )
            return Refuse(Refusal(Code.BAD_DELTA, msg), stored)
    elif keyframe.v > stored.v + 1:  # storage fell behind: the documents between are lost
        gaps = (Gap(stored.epoch, stored.v + 1, keyframe.v - 1),)
    record = keyframe.record if keyframe.record is not None else manifest.record
    entry = KeyframeEntry(
        name, keyframe.epoch, keyframe.v, keyframe.t, len(keyframe.body), manifest.next_seq
    )
    prune: tuple[str, ...] = ()
    if record:
        keyframes, segments = (*manifest.keyframes, entry), manifest.segments
        all_gaps = (*manifest.gaps, *gaps)
    else:  # only what a late joiner needs: this keyframe; what came before goes
        keyframes, segments, all_gaps, prune = (entry,), (), (), manifest.blob_names()
    bucket = _charge(manifest, len(keyframes) + len(segments) + len(all_gaps), now, c)
    if isinstance(bucket, Refuse):
        return bucket
    updated = replace(
        manifest,
        updated_at=now_ms,
        title=keyframe.title if keyframe.title is not None else manifest.title,
        lang=keyframe.lang if keyframe.lang is not None else manifest.lang,
        ended=ended,
        head=head,
        keyframes=keyframes,
        segments=segments,
        gaps=all_gaps,
        upload=bucket,
        record=record,
    )
    return Accept(updated, name, keyframe.body, prune)


def _set_record(manifest: Manifest, keyframe: Keyframe, now: float, c: Contract) -> Decision:
    """A keyframe stored before, sent again with the other "record" setting: the setting
    changes; turned off, only the latest keyframe and its tail are kept."""
    bucket = _rate(manifest.upload, now, c)
    if isinstance(bucket, Refuse):
        return bucket
    updated = replace(
        manifest, updated_at=int(now * 1000), upload=bucket, record=bool(keyframe.record)
    )
    prune: tuple[str, ...] = ()
    if not keyframe.record:
        tail = manifest.tail()
        kept = {manifest.latest_keyframe().name, *(s.name for s in tail)}
        prune = tuple(n for n in manifest.blob_names() if n not in kept)
        updated = replace(updated, keyframes=(manifest.latest_keyframe(),), segments=tail, gaps=())
    return Accept(updated, keyframe.name, keyframe.body, prune)


def decide_segment(
    manifest: Stored,
    stream_id: str,
    segment: Segment,
    now: float,
    c: Contract = CONTRACT,
) -> Decision:
    if isinstance(manifest, Tombstone):
        return Refuse(deleted_refusal(for_upload=True))
    if manifest is None:
        msg = "nothing is stored for this stream: upload a keyframe first"
        return Refuse(Refusal(Code.NO_STREAM, msg))
    name = segment.name
    if any(s.name == name for s in manifest.segments):
        return AlreadyStored(manifest.head)
    stored = manifest.head
    if segment.epoch != stored.epoch or segment.from_v != stored.v + 1:
        return _out_of_order(
            f"stored history is at epoch {stored.epoch!r} v={stored.v}: the next segment "
            f"starts at v={stored.v + 1}; upload a keyframe to continue from elsewhere",
            stored,
        )
    tail = manifest.tail()
    tail_bytes = sum(s.bytes for s in tail) + len(segment.body)
    if tail_bytes > c.storage.tail_max_bytes or len(tail) + 1 > c.storage.tail_max_segments:
        return _out_of_order(
            f"{len(tail)} segments ({tail_bytes - len(segment.body)} bytes) since the latest "
            "keyframe: upload a keyframe first",
            stored,
        )
    try:
        length = apply_segment_length(stored.length, segment)
    except DeltaError as exc:
        return Refuse(Refusal(Code.BAD_DELTA, str(exc)), stored)
    placed = segment.placed_markers(c)
    if len(manifest.markers) + len(placed) > c.replay.max_markers:
        msg = f"this stream has {len(manifest.markers)} markers; at most {c.replay.max_markers}"
        return Refuse(Refusal(Code.HISTORY_FULL, msg), stored)
    bucket = _charge(manifest, manifest.entries + 1, now, c)
    if isinstance(bucket, Refuse):
        return bucket
    controls = segment.controls
    new_head = Head(stored.epoch, segment.to_v, length, segment.t1)
    if controls.ended and not manifest.record:
        return DeleteStream(new_head)
    entry = SegmentEntry(
        name,
        segment.epoch,
        segment.from_v,
        segment.to_v,
        segment.t0,
        segment.t1,
        len(segment.body),
        manifest.next_seq,
    )
    first_n = manifest.markers[-1].n + 1 if manifest.markers else 1
    markers = tuple(
        MarkerEntry(first_n + i, m.label, segment.epoch, m.v, m.t) for i, m in enumerate(placed)
    )
    updated = replace(
        manifest,
        updated_at=int(now * 1000),
        title=controls.title if controls.title is not None else manifest.title,
        lang=controls.lang if controls.lang is not None else manifest.lang,
        ended=manifest.ended or controls.ended,
        head=new_head,
        segments=(*manifest.segments, entry),
        upload=bucket,
        markers=(*manifest.markers, *markers),
    )
    return Accept(updated, name, segment.body)


# ---------------------------------------------------------------- deleting a recording


@dataclass(frozen=True)
class WriteTombstone:
    """Replace the manifest (If-Match; If-None-Match: * when there is none) with
    `tombstone`, then delete every other blob of the stream."""

    tombstone: Tombstone


@dataclass(frozen=True)
class AlreadyDeleted:
    """Deleted before: make sure no blob is left (a sweep may have been cut short)."""


def decide_delete(
    manifest: Stored, now: float, c: Contract = CONTRACT
) -> WriteTombstone | AlreadyDeleted | Refuse:
    """Rate-limited like uploads (it writes the manifest), and idempotent."""
    if isinstance(manifest, Tombstone):
        return AlreadyDeleted()
    if manifest is not None:
        charged = _rate(manifest.upload, now, c)
        if isinstance(charged, Refuse):
            return charged
    return WriteTombstone(Tombstone(int(now * 1000)))


# ---------------------------------------------------------------- the join state


def join_document(manifest: Manifest, keyframe: bytes, segments: list[bytes]) -> bytes:
    """What `GET /api/streams/{id}` answers, spliced from the stored bodies as they are."""
    head = manifest.head
    prefix = canonical_json(
        {
            "streamId": manifest.stream_id,
            "title": manifest.title,
            "lang": manifest.lang,
            "ended": manifest.ended,
            "head": {"epoch": head.epoch, "v": head.v, "t": head.t},
            "markers": [marker_json(m) for m in manifest.markers],
        }
    )
    return b"".join(
        [prefix[:-1], b',"keyframe":', keyframe, b',"segments":[', b",".join(segments), b"]}"]
    )
