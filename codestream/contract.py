"""The wire contract's numbers and patterns, read from `contract.json`.

The same file is bundled into the browser client, so a limit changed there changes what the
server refuses and what the client sends, together. `load_contract` takes any document of
that shape (tests use it to prove exactly that); `CONTRACT` is the shipped one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONTRACT_FILE = Path(__file__).with_name("contract.json")


class ContractError(ValueError):
    """contract.json is missing a value or its values disagree."""


@dataclass(frozen=True)
class EventContract:
    sender: str  # "watcher" or "streamer"
    max_bytes: int
    burst: float
    per_second: float


@dataclass(frozen=True)
class StorageContract:
    """The stream storage numbers (docs/protocol.md, "Storage")."""

    container: str
    segment_bytes: int  # the client cuts a segment at this many bytes of JSON
    tail_max_bytes: int  # bytes of segments after the latest keyframe the server takes
    tail_max_segments: int
    manifest_entries: int  # keyframes + segments + gaps one stream may record
    upload_burst: float
    upload_per_second: float
    join_cache_ms: int
    retention_days: int


@dataclass(frozen=True)
class ReplayContract:
    """The recording, marker and embedding numbers (docs/protocol.md, "Replay")."""

    recording_format: int  # `format` of the JSON Lines download's first line
    max_markers: int  # markers one stream may record
    download_max_bytes: int  # the largest JSON Lines download, uncompressed
    blob_max_age_seconds: int  # Cache-Control max-age of the immutable blobs
    oembed_max_age_seconds: int
    oembed_width: int  # the default (and largest) embed size
    oembed_height: int
    oembed_default_title: str
    oembed_provider: str


@dataclass(frozen=True)
class Contract:
    protocol_version: int
    stream_id: re.Pattern[str]
    epoch: re.Pattern[str]
    lang: re.Pattern[str]
    connection_id: re.Pattern[str]
    blob_name: re.Pattern[str]  # a keyframe's or segment's name within its stream
    deep_link_time: re.Pattern[str]
    deep_link_marker: re.Pattern[str]
    streamer_prefix: str
    watcher_prefix: str
    send_role_prefix: str
    streamer_replaced_reason: str  # why an older streamer connection is closed (pages read it)
    negotiate_bytes: int
    owner_key_chars: int
    title_chars: int
    max_version: int
    delta_message_bytes: int
    snapshot_chunk_bytes: int
    snapshot_chunks: int
    event_envelope_bytes: int
    connection_state_chars: int
    ticket_chars: int
    keyframe_bytes: int
    segment_bytes: int  # the largest segment upload
    catchup_bytes: int
    marker_chars: int
    token_minutes: int
    events: dict[str, EventContract]
    storage: StorageContract
    replay: ReplayContract
    raw: dict[str, Any]


def _int(doc: dict[str, Any], section: str, name: str) -> int:
    try:
        value = doc[section][name]
    except (KeyError, TypeError):
        raise ContractError(f"{section}.{name} is missing") from None
    if type(value) is not int or value < 0:
        raise ContractError(f"{section}.{name} must be a non-negative integer")
    return value


def _str(doc: dict[str, Any], section: str, name: str) -> str:
    value = doc.get(section, {}).get(name)
    if not isinstance(value, str):
        raise ContractError(f"{section}.{name} must be a string")
    return value


def _pattern(doc: dict[str, Any], name: str) -> re.Pattern[str]:
    try:
        return re.compile(_str(doc, "patterns", name))
    except re.error as exc:
        raise ContractError(f"patterns.{name} is not a regular expression: {exc}") from None


def _event(doc: dict[str, Any], name: str) -> EventContract:
    raw = doc.get("events", {}).get(name)
    if not isinstance(raw, dict) or raw.get("sender") not in ("watcher", "streamer"):
        raise ContractError(f"events.{name} needs a sender of watcher or streamer")
    return EventContract(
        sender=raw["sender"],
        max_bytes=_int(doc["events"], name, "maxBytes"),
        burst=float(_int(doc["events"], name, "burst")),
        per_second=float(_int(doc["events"], name, "perSecond")),
    )


EVENT_NAMES = ("sync", "snapshot", "control", "catchup", "watchers")


def _storage(doc: dict[str, Any]) -> StorageContract:
    container = _str(doc, "storage", "container")
    if not re.fullmatch(r"[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]", container):
        raise ContractError("storage.container must be a valid blob container name")
    return StorageContract(
        container=container,
        segment_bytes=_int(doc, "storage", "segmentBytes"),
        tail_max_bytes=_int(doc, "storage", "tailMaxBytes"),
        tail_max_segments=_int(doc, "storage", "tailMaxSegments"),
        manifest_entries=_int(doc, "storage", "manifestEntries"),
        upload_burst=float(_int(doc, "storage", "uploadBurst")),
        upload_per_second=float(_int(doc, "storage", "uploadPerSecond")),
        join_cache_ms=_int(doc, "storage", "joinCacheMs"),
        retention_days=_int(doc, "storage", "retentionDays"),
    )


def _replay(doc: dict[str, Any]) -> ReplayContract:
    replay = ReplayContract(
        recording_format=_int(doc, "replay", "recordingFormat"),
        max_markers=_int(doc, "replay", "maxMarkers"),
        download_max_bytes=_int(doc, "replay", "downloadMaxBytes"),
        blob_max_age_seconds=_int(doc, "replay", "blobMaxAgeSeconds"),
        oembed_max_age_seconds=_int(doc, "replay", "oembedMaxAgeSeconds"),
        oembed_width=_int(doc, "replay", "oembedWidth"),
        oembed_height=_int(doc, "replay", "oembedHeight"),
        oembed_default_title=_str(doc, "replay", "oembedDefaultTitle"),
        oembed_provider=_str(doc, "replay", "oembedProvider"),
    )
    if replay.oembed_width * 9 != replay.oembed_height * 16:
        raise ContractError("replay.oembedWidth x oembedHeight must be 16:9")
    if replay.oembed_width < 16:
        raise ContractError("replay.oembedWidth must be at least 16")
    return replay


def _check_storage(contract: Contract) -> None:
    """The storage numbers only work together: say which pair disagrees."""
    storage, raw = contract.storage, contract.raw
    if contract.segment_bytes < contract.delta_message_bytes + storage.segment_bytes:
        # the client cuts at storage.segmentBytes, so one delta may land on top of a full cut
        raise ContractError(
            "limits.segmentBytes must hold storage.segmentBytes + limits.deltaMessageBytes"
        )
    if storage.tail_max_bytes < contract.keyframe_bytes + contract.segment_bytes:
        raise ContractError(
            "storage.tailMaxBytes must hold limits.keyframeBytes + limits.segmentBytes: the "
            "client's keyframe policy lets the tail grow to about one document"
        )
    if contract.events["catchup"].max_bytes != contract.catchup_bytes:
        raise ContractError("events.catchup.maxBytes must be limits.catchupBytes")
    keepalive = _int(raw, "storage", "keepaliveBytes")
    if keepalive > 65536 or keepalive > contract.segment_bytes:
        raise ContractError("storage.keepaliveBytes must fit fetch keepalive's 64 KiB")
    if storage.upload_per_second <= 0 or storage.upload_burst < 1:
        raise ContractError("storage.uploadBurst must be >= 1 and uploadPerSecond > 0")


def load_contract(doc: dict[str, Any]) -> Contract:
    """Check and type a contract document; raises ContractError naming what is wrong."""
    events = {name: _event(doc, name) for name in EVENT_NAMES}
    contract = Contract(
        protocol_version=_int({"contract": doc}, "contract", "protocolVersion"),
        stream_id=_pattern(doc, "streamId"),
        epoch=_pattern(doc, "epoch"),
        lang=_pattern(doc, "lang"),
        connection_id=_pattern(doc, "connectionId"),
        blob_name=_pattern(doc, "blobName"),
        deep_link_time=_pattern(doc, "deepLinkTime"),
        deep_link_marker=_pattern(doc, "deepLinkMarker"),
        streamer_prefix=_str(doc, "prefixes", "streamerUser"),
        watcher_prefix=_str(doc, "prefixes", "watcherUser"),
        send_role_prefix=_str(doc, "prefixes", "sendToGroupRole"),
        streamer_replaced_reason=_str(doc, "closeReasons", "streamerReplaced"),
        negotiate_bytes=_int(doc, "limits", "negotiateBytes"),
        owner_key_chars=_int(doc, "limits", "ownerKeyChars"),
        title_chars=_int(doc, "limits", "titleChars"),
        max_version=_int(doc, "limits", "maxVersion"),
        delta_message_bytes=_int(doc, "limits", "deltaMessageBytes"),
        snapshot_chunk_bytes=_int(doc, "limits", "snapshotChunkBytes"),
        snapshot_chunks=_int(doc, "limits", "snapshotChunks"),
        event_envelope_bytes=_int(doc, "limits", "eventEnvelopeBytes"),
        connection_state_chars=_int(doc, "limits", "connectionStateChars"),
        ticket_chars=_int(doc, "limits", "ticketChars"),
        keyframe_bytes=_int(doc, "limits", "keyframeBytes"),
        segment_bytes=_int(doc, "limits", "segmentBytes"),
        catchup_bytes=_int(doc, "limits", "catchupBytes"),
        marker_chars=_int(doc, "limits", "markerChars"),
        token_minutes=_int(doc, "tokens", "minutes"),
        events=events,
        storage=_storage(doc),
        replay=_replay(doc),
        raw=doc,
    )
    snapshot_bytes = contract.snapshot_chunk_bytes + contract.event_envelope_bytes
    if events["snapshot"].max_bytes != snapshot_bytes:
        raise ContractError(
            "events.snapshot.maxBytes must be limits.snapshotChunkBytes + eventEnvelopeBytes"
        )
    if _int(doc, "limits", "deltaChangesBytes") >= contract.delta_message_bytes:
        raise ContractError("limits.deltaChangesBytes must leave room below deltaMessageBytes")
    _check_storage(contract)
    # a control with a title and a marker at their limits (6 JSON bytes a character, \uXXXX)
    if contract.marker_chars < 1 or 6 * (contract.title_chars + contract.marker_chars) + 512 > (
        events["control"].max_bytes
    ):
        raise ContractError("a title and a marker at their limits must fit events.control")
    return contract


def read_contract(path: Path = CONTRACT_FILE) -> Contract:
    return load_contract(json.loads(path.read_text(encoding="utf-8")))


CONTRACT = read_contract()
