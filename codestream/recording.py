"""A stream's recording as anyone with the link reads it: the index (the manifest less what
is the server's own) and the JSON Lines download. Pure: documents from a manifest and from
stored bodies, spliced as stored, so a download holds exactly the bytes that were accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from codestream.contract import CONTRACT, Contract
from codestream.history import canonical_json
from codestream.manifest import Manifest, marker_json

KEYFRAME = "keyframe"
SEGMENT = "segment"
_LINE_PREFIX = {KEYFRAME: b'{"type":"keyframe",', SEGMENT: b'{"type":"segment",'}


def index_document(manifest: Manifest) -> bytes:
    """`GET /api/streams/{id}/recording`: what a player needs to find and fetch any moment.
    Not the manifest's head length, entry sequence numbers or upload bucket."""
    head = manifest.head
    doc: dict[str, Any] = {
        "streamId": manifest.stream_id,
        "title": manifest.title,
        "lang": manifest.lang,
        "ended": manifest.ended,
        "record": manifest.record,
        "createdAt": manifest.created_at,
        "updatedAt": manifest.updated_at,
        "head": {"epoch": head.epoch, "v": head.v, "t": head.t},
        "keyframes": [
            {"name": k.name, "epoch": k.epoch, "v": k.v, "t": k.t, "bytes": k.bytes}
            for k in manifest.keyframes
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
            }
            for s in manifest.segments
        ],
        "gaps": [{"epoch": g.epoch, "from": g.from_v, "to": g.to_v} for g in manifest.gaps],
        "markers": [marker_json(m) for m in manifest.markers],
    }
    return canonical_json(doc)


@dataclass(frozen=True)
class Entry:
    kind: str  # KEYFRAME or SEGMENT
    name: str
    bytes: int


def download_order(manifest: Manifest) -> list[Entry]:
    """Every keyframe and segment in the order they were accepted."""
    entries = [(k.seq, Entry(KEYFRAME, k.name, k.bytes)) for k in manifest.keyframes]
    entries += [(s.seq, Entry(SEGMENT, s.name, s.bytes)) for s in manifest.segments]
    return [entry for _seq, entry in sorted(entries, key=lambda pair: pair[0])]


def header_line(manifest: Manifest, c: Contract = CONTRACT) -> bytes:
    doc = {
        "type": "recording",
        "format": c.replay.recording_format,
        "streamId": manifest.stream_id,
        "title": manifest.title,
        "lang": manifest.lang,
        "createdAt": manifest.created_at,
        "updatedAt": manifest.updated_at,
        "ended": manifest.ended,
    }
    return canonical_json(doc) + b"\n"


def entry_line(kind: str, body: bytes) -> bytes:
    """`{"type": kind, ...body}` and a newline, from a stored body (a canonical JSON object
    with at least one field, so it starts with `{"`)."""
    if not body.startswith(b'{"'):
        raise ValueError("a stored body is a JSON object with fields")
    return _LINE_PREFIX[kind] + body[1:] + b"\n"


def download_size(manifest: Manifest, c: Contract = CONTRACT) -> int:
    """The exact length of the download, known before reading a single body."""
    size = len(header_line(manifest, c))
    for entry in download_order(manifest):
        size += len(_LINE_PREFIX[entry.kind]) + entry.bytes  # less its "{", plus "\n"
    return size


def download_filename(stream_id: str) -> str:
    return f"codestream-{stream_id}.jsonl"
