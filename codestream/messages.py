"""Schemas of everything clients send to the Function App, and of what it sends back.

Pure: each parser takes bytes (or a decoded value) and returns a typed value or a `Refusal`;
nothing here does I/O. The rules per user event (who may send it, how big, how often) are one
table, `EVENT_RULES`, so the policy can be read in one place.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from codestream import fields
from codestream.contract import CONTRACT, Contract
from codestream.delta import DeltaError, check_shape
from codestream.errors import Code, Refusal
from codestream.markers import parse_label
from codestream.ratelimit import Limit, take
from codestream.state import ConnState, Role

MAX_NEGOTIATE_BYTES = CONTRACT.negotiate_bytes
# JSON bytes of one snapshot chunk's text, measured as the client measures them (split.js)
MAX_DOC_CHUNK_BYTES = CONTRACT.snapshot_chunk_bytes
MAX_CHUNKS = CONTRACT.snapshot_chunks
MAX_TITLE_CHARS = CONTRACT.title_chars
MAX_VERSION = CONTRACT.max_version  # JavaScript's largest safe integer


# ---------------------------------------------------------------- negotiate


@dataclass(frozen=True)
class NewStream:
    pass


@dataclass(frozen=True)
class ResumeStream:
    stream_id: str
    owner_key: str


@dataclass(frozen=True)
class WatchStream:
    stream_id: str


NegotiateRequest = NewStream | ResumeStream | WatchStream


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def json_string_bytes(text: str) -> int:
    """UTF-8 bytes of `text` inside a JSON string, counted as the client counts them
    (`jsonStringBytes` in split.js): JavaScript escapes a lone surrogate as \\uXXXX (6 bytes)
    where Python would write its 3 raw bytes."""
    raw = len(json.dumps(text, ensure_ascii=False).encode("utf-8", "surrogatepass")) - 2
    return raw + 3 * len(_LONE_SURROGATE.findall(text))


def _stream_id(value: dict[str, Any], c: Contract = CONTRACT) -> str | Refusal:
    stream_id = value.get("streamId")
    if stream_id is None:
        return Refusal(Code.BAD_SCHEMA, "streamId is required")
    if not isinstance(stream_id, str) or not c.stream_id.fullmatch(stream_id):
        return Refusal(Code.BAD_STREAM_ID, "streamId must be 12-32 characters of [A-Za-z0-9_-]")
    return stream_id


def parse_negotiate(body: bytes, c: Contract = CONTRACT) -> NegotiateRequest | Refusal:
    value = fields.json_object(body or b"{}", c.negotiate_bytes)
    if isinstance(value, Refusal):
        return value
    if refusal := fields.unknown_keys(value, {"streamId", "ownerKey"}):
        return refusal
    if not value:
        return NewStream()
    stream_id = _stream_id(value, c)
    if isinstance(stream_id, Refusal):
        return stream_id
    if "ownerKey" not in value:
        return WatchStream(stream_id)
    key = value["ownerKey"]
    if not isinstance(key, str) or not key or len(key) > c.owner_key_chars:
        return Refusal(Code.BAD_SCHEMA, "ownerKey must be a non-empty string")
    return ResumeStream(stream_id, key)


# ---------------------------------------------------------------- user events


@dataclass(frozen=True)
class Have:
    epoch: str
    v: int


@dataclass(frozen=True)
class Sync:
    stream_id: str
    have: Have | None


@dataclass(frozen=True)
class Snapshot:
    stream_id: str
    to: str
    ticket: str  # from the sync-request: proves `to` a watcher of this stream
    epoch: str
    v: int
    doc: str
    chunk: tuple[int, int]
    lang: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class Control:
    stream_id: str
    lang: str | None = None
    title: str | None = None
    ended: bool = False
    marker: str | None = None  # a marker's label, trimmed


@dataclass(frozen=True)
class Catchup:
    """Only the deltas a watcher at (epoch, from) misses, as one sequential change list."""

    stream_id: str
    to: str
    ticket: str
    epoch: str
    from_v: int
    v: int
    changes: tuple[Any, ...]
    sel: tuple[int, int] | None = None
    # as in a snapshot: a watcher joining from storage may have read them before they changed
    lang: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class Watchers:
    """The streamer asks for its watcher count (answered in the event's reply)."""

    stream_id: str


UserEvent = Sync | Snapshot | Control | Catchup | Watchers


def _lang_title(value: dict[str, Any], c: Contract) -> tuple[str | None, str | None] | Refusal:
    lang, title = value.get("lang"), value.get("title")
    if lang is not None and isinstance(checked := fields.lang(lang, c), Refusal):
        return checked
    if title is not None and isinstance(checked := fields.title(title, c), Refusal):
        return checked
    return lang, title


def parse_sync(value: dict[str, Any], stream_id: str, c: Contract) -> Sync | Refusal:
    if refusal := fields.unknown_keys(value, {"streamId", "have"}):
        return refusal
    if "have" not in value:
        return Refusal(Code.BAD_SCHEMA, "have is required (null or {epoch, v})")
    have = value["have"]
    if have is None:
        return Sync(stream_id, None)
    if not isinstance(have, dict) or set(have) != {"epoch", "v"}:
        return Refusal(Code.BAD_SCHEMA, "have must be null or exactly {epoch, v}")
    epoch = fields.epoch(have["epoch"], "have.epoch", c)
    v = fields.version(have["v"], "have.v", c)
    if isinstance(epoch, Refusal):
        return epoch
    if isinstance(v, Refusal):
        return v
    return Sync(stream_id, Have(epoch, v))


def _to_and_ticket(value: dict[str, Any], c: Contract) -> tuple[str, str] | Refusal:
    to, ticket = value["to"], value["ticket"]
    if not isinstance(to, str) or not c.connection_id.fullmatch(to):
        return Refusal(Code.BAD_SCHEMA, "to must be a connection id")
    if not isinstance(ticket, str) or not 0 < len(ticket) <= c.ticket_chars:
        msg = "ticket must be the string of the sync-request being answered"
        return Refusal(Code.BAD_SCHEMA, msg)
    return to, ticket


def parse_snapshot(value: dict[str, Any], stream_id: str, c: Contract) -> Snapshot | Refusal:
    allowed = {"streamId", "to", "ticket", "epoch", "v", "doc", "chunk", "lang", "title"}
    if refusal := fields.unknown_keys(value, allowed):
        return refusal
    if refusal := fields.missing_keys(value, {"to", "ticket", "epoch", "v", "doc", "chunk"}):
        return refusal
    target = _to_and_ticket(value, c)
    if isinstance(target, Refusal):
        return target
    epoch = fields.epoch(value["epoch"], "epoch", c)
    if isinstance(epoch, Refusal):
        return epoch
    v = fields.version(value["v"], "v", c)
    if isinstance(v, Refusal):
        return v
    doc = value["doc"]
    if not isinstance(doc, str):
        return Refusal(Code.BAD_SCHEMA, "doc must be a string")
    if json_string_bytes(doc) > c.snapshot_chunk_bytes:
        limit = c.snapshot_chunk_bytes
        return Refusal(Code.TOO_LARGE, f"doc chunk is over {limit} bytes of JSON")
    chunk = value["chunk"]
    if (
        not isinstance(chunk, list)
        or len(chunk) != 2
        or any(type(c) is not int for c in chunk)
        or not 0 <= chunk[0] < chunk[1] <= c.snapshot_chunks
    ):
        msg = f"chunk must be [i, n] with 0 <= i < n <= {c.snapshot_chunks}"
        return Refusal(Code.BAD_SCHEMA, msg)
    lang_title = _lang_title(value, c)
    if isinstance(lang_title, Refusal):
        return lang_title
    return Snapshot(stream_id, *target, epoch, v, doc, (chunk[0], chunk[1]), *lang_title)


def parse_selection(value: Any) -> tuple[int, int] | None:
    """`[anchor, head]`, offsets in UTF-16 code units; None if it is not one."""
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(type(x) is int and 0 <= x <= MAX_VERSION for x in value)
    ):
        return value[0], value[1]
    return None


def parse_catchup(value: dict[str, Any], stream_id: str, c: Contract) -> Catchup | Refusal:
    allowed = {"streamId", "to", "ticket", "epoch", "from", "v", "changes", "sel", "lang", "title"}
    if refusal := fields.unknown_keys(value, allowed):
        return refusal
    if refusal := fields.missing_keys(value, {"to", "ticket", "epoch", "from", "v", "changes"}):
        return refusal
    target = _to_and_ticket(value, c)
    if isinstance(target, Refusal):
        return target
    epoch = fields.epoch(value["epoch"], "epoch", c)
    if isinstance(epoch, Refusal):
        return epoch
    from_v = fields.version(value["from"], "from", c)
    if isinstance(from_v, Refusal):
        return from_v
    v = fields.version(value["v"], "v", c)
    if isinstance(v, Refusal):
        return v
    if from_v > v:
        return Refusal(Code.BAD_SCHEMA, "from must not be after v")
    changes = value["changes"]
    try:
        check_shape(changes)
    except DeltaError as exc:
        return Refusal(Code.BAD_SCHEMA, f"changes: {exc}")
    if from_v == v and changes:
        return Refusal(Code.BAD_SCHEMA, "a catchup with from == v has no changes")
    sel = None
    if "sel" in value:
        sel = parse_selection(value["sel"])
        if sel is None:
            return Refusal(Code.BAD_SCHEMA, "sel must be [anchor, head], non-negative integers")
    lang_title = _lang_title(value, c)
    if isinstance(lang_title, Refusal):
        return lang_title
    return Catchup(stream_id, *target, epoch, from_v, v, tuple(changes), sel, *lang_title)


def parse_watchers(value: dict[str, Any], stream_id: str, c: Contract) -> Watchers | Refusal:
    if refusal := fields.unknown_keys(value, {"streamId"}):
        return refusal
    return Watchers(stream_id)


def parse_control(value: dict[str, Any], stream_id: str, c: Contract) -> Control | Refusal:
    if refusal := fields.unknown_keys(value, {"streamId", "lang", "title", "ended", "marker"}):
        return refusal
    if not {"lang", "title", "ended", "marker"} & set(value):
        msg = "control needs at least one of lang, title, ended, marker"
        return Refusal(Code.BAD_SCHEMA, msg)
    if "ended" in value and value["ended"] is not True:
        return Refusal(Code.BAD_SCHEMA, "ended can only be true")
    lang_title = _lang_title(value, c)
    if isinstance(lang_title, Refusal):
        return lang_title
    marker = None
    if "marker" in value:
        label = parse_label(value["marker"], c)
        if isinstance(label, Refusal):
            return label
        marker = label
    return Control(stream_id, *lang_title, ended="ended" in value, marker=marker)


@dataclass(frozen=True)
class EventRule:
    role: Role
    max_bytes: int
    limit: Limit
    parse: Callable[[dict[str, Any], str, Contract], UserEvent | Refusal]


_PARSERS: dict[str, Callable[[dict[str, Any], str, Contract], UserEvent | Refusal]] = {
    # watcher asks for the document: on join and after a gap
    "sync": parse_sync,
    # streamer answers sync-requests; one event per chunk, many watchers may join at once
    "snapshot": parse_snapshot,
    # language/title changes and the end of the stream
    "control": parse_control,
    # streamer answers a sync-request with only the deltas the watcher misses
    "catchup": parse_catchup,
    # streamer asks for its watcher count: after it connects, then coalesced
    "watchers": parse_watchers,
}


def event_rules(contract: Contract) -> dict[str, EventRule]:
    """Who may send each user event, how big and how often: straight from the contract."""
    return {
        name: EventRule(
            Role(rule.sender), rule.max_bytes, Limit(rule.burst, rule.per_second), _PARSERS[name]
        )
        for name, rule in contract.events.items()
    }


EVENT_RULES = event_rules(CONTRACT)


@dataclass(frozen=True)
class Checked:
    """A user event that passed every rule; `state` is what to store for the connection."""

    event: UserEvent
    state: ConnState


@dataclass(frozen=True)
class Refused:
    refusal: Refusal
    state: ConnState | None  # changed state to store even though the event was refused


def check_user_event(
    name: str,
    body: bytes,
    is_json: bool,
    state: ConnState | None,
    now: float,
    contract: Contract = CONTRACT,
) -> Checked | Refused:
    """Every rule, in order: known event, accepted connection, role, size, rate, JSON, schema,
    stream. Rate is charged before parsing so that a flood of junk is throttled too."""
    rules = EVENT_RULES if contract is CONTRACT else event_rules(contract)
    rule = rules.get(name)
    if rule is None:
        known = ", ".join(sorted(rules))
        return Refused(Refusal(Code.UNKNOWN_EVENT, f"unknown event {name!r}; known: {known}"), None)
    if state is None:
        return Refused(Refusal(Code.NO_STATE, "connection has no accepted role"), None)
    if state.role is not rule.role:
        msg = f"only a {rule.role} may send {name!r}; this connection is a {state.role}"
        return Refused(Refusal(Code.WRONG_ROLE, msg), None)
    if len(body) > rule.max_bytes:
        msg = f"{name!r} is {len(body)} bytes; the limit is {rule.max_bytes}"
        return Refused(Refusal(Code.TOO_LARGE, msg), None)
    allowed, bucket = take(state.buckets.get(name), rule.limit, now)
    state = state.with_bucket(name, bucket)
    if not allowed:
        msg = f"too many {name!r} events; at most {rule.limit.per_second:g}/s"
        return Refused(Refusal(Code.RATE_LIMITED, msg), state)
    if not is_json:
        return Refused(Refusal(Code.BAD_JSON, f"send {name!r} with dataType json"), state)
    value = fields.json_object(body, rule.max_bytes)
    if isinstance(value, Refusal):
        return Refused(value, state)
    stream_id = _stream_id(value, contract)
    if isinstance(stream_id, Refusal):
        return Refused(stream_id, state)
    if stream_id != state.stream_id:
        msg = "streamId is not the stream this connection belongs to"
        return Refused(Refusal(Code.OTHER_STREAM, msg), state)
    event = rule.parse(value, stream_id, contract)
    if isinstance(event, Refusal):
        return Refused(event, state)
    return Checked(event, state)


# ---------------------------------------------------------------- server -> clients


def status_message(state: str) -> dict[str, str]:
    return {"type": "status", "state": state}


def watchers_message(count: int) -> dict[str, Any]:
    return {"type": "watchers", "count": count}


def sync_request_message(connection_id: str, have: Have | None, ticket: str) -> dict[str, Any]:
    have_json = None if have is None else {"epoch": have.epoch, "v": have.v}
    return {
        "type": "sync-request",
        "connectionId": connection_id,
        "have": have_json,
        "ticket": ticket,
    }


def catchup_message(c: Catchup) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "catchup",
        "streamId": c.stream_id,
        "epoch": c.epoch,
        "from": c.from_v,
        "v": c.v,
        "changes": list(c.changes),
    }
    if c.sel is not None:
        message["sel"] = list(c.sel)
    if c.lang is not None:
        message["lang"] = c.lang
    if c.title is not None:
        message["title"] = c.title
    return message


def snapshot_message(s: Snapshot) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "snapshot",
        "streamId": s.stream_id,
        "epoch": s.epoch,
        "v": s.v,
        "doc": s.doc,
        "chunk": list(s.chunk),
    }
    if s.lang is not None:
        message["lang"] = s.lang
    if s.title is not None:
        message["title"] = s.title
    return message


def control_message(c: Control, now_ms: int = 0) -> dict[str, Any]:
    """`now_ms`: the server's time, the time of the marker if `c` carries one."""
    message: dict[str, Any] = {"type": "control", "streamId": c.stream_id}
    if c.lang is not None:
        message["lang"] = c.lang
    if c.title is not None:
        message["title"] = c.title
    if c.ended:
        message["ended"] = True
    if c.marker is not None:
        message["marker"] = {"label": c.marker, "t": now_ms}
    return message
