"""Fuzz the running dev host's `/api/negotiate`, `/api/webpubsub/events`, the stream
storage endpoints (`/api/streams/{id}`, `.../keyframes`, `.../segments`) and the replay
endpoints (`.../recording`, `.../recording.jsonl`, `.../blobs/{name}`, `DELETE
/api/streams/{id}`, `/api/oembed`).

`python -m tools.fuzz.http --requests 5000 --storage-requests 5000 --replay-requests 5000`
starts its own dev host (with its emulator and Azurite), sends that many generated requests
of each kind (malformed, oversized, forged, replayed, every method, binary garbage, correctly
signed events with hostile contents; uploads with missing, wrong, altered and other streams'
owner keys, genuine uploads racing each other, corrupt and out-of-order ones, conditional and
compressed reads; recording reads with real, forged, traversing and malformed blob names,
deletes with every kind of key, oEmbed with hostile links and parameters), tallies the
answers, and fails on any 5xx, on a forged event, upload or delete being accepted, on a
traceback in the server's log, or on the server dying. At the end a normal streamer and
watcher must still work end to end, storage included, the fuzzed stream's stored history
must still replay and its download hold one line per stored body, and a recording deleted by
its owner during the run must be 410 on every read.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import secrets
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

from codestream import ids, signature
from codestream.contract import CONTRACT
from codestream.delta import DeltaError
from codestream.history import Segment, parse_segment, replay
from codestream.state import ConnState, Role
from codestream.tickets import Tickets
from harness.devhost import Peer, RunningDevHost, start_devhost
from harness.history_model import StreamerModel
from harness.streams_http import StreamsClient

from .report import Tally, arguments

CONCURRENCY = 16
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "PROPFIND"]
SYSTEM = ["connect", "connected", "disconnected"]
USER = ["sync", "snapshot", "control", "catchup", "watchers"]
LIMITS = CONTRACT.raw["limits"]


@dataclass(frozen=True)
class Request:
    kind: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    forged: bool = False  # must never be answered 2xx


@dataclass
class Known:
    """Facts from real traffic that a replay reuses: a stream, its key, a watcher's id."""

    stream_id: str
    owner_key: str
    other_stream_id: str
    access_key: str
    tickets: Tickets
    other_owner_key: str = ""  # of a second real stream, for replays across streams
    model: StreamerModel | None = None  # the fuzzed stream's genuine history
    victim_id: str = ""  # a third stream, the only one the fuzz deletes with its real key
    victim_key: str = ""
    names: list[str] = field(default_factory=list)  # blob names of genuine uploads
    victim_deleted: bool = False


def _junk_json(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(9 if depth < 3 else 6)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice([0, -1, 2**53, 2**64, -(2**63), 1.5, 1e308])
    if choice == 3:
        return "".join(chr(rng.randrange(0x20, 0x2FFF)) for _ in range(rng.randrange(0, 12)))
    if choice == 4:
        return rng.choice(["", "streamer", "watcher", "sync", "\ud800", "a" * 300])
    if choice == 5:
        return rng.choice([[], {}, [0, 1], [1, 0], [-1, 2**40]])
    if choice in (6, 7):
        return [_junk_json(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    keys = ["streamId", "ownerKey", "have", "epoch", "v", "to", "doc", "chunk", "title", "x"]
    return {rng.choice(keys): _junk_json(rng, depth + 1) for _ in range(rng.randrange(0, 5))}


def _body(rng: random.Random, known: Known, *valid: dict[str, Any]) -> bytes:
    """Anything from valid JSON to garbage, incl. sizes over every limit."""
    roll = rng.random()
    if roll < 0.25 and valid:
        value = dict(rng.choice(valid))
        if rng.random() < 0.7:  # one field broken
            value[rng.choice([*value, "extra"])] = _junk_json(rng)
        return json.dumps(value).encode()
    if roll < 0.45:
        return json.dumps(_junk_json(rng)).encode()
    if roll < 0.55:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    if roll < 0.65:
        text = json.dumps({"streamId": known.stream_id, "have": None})
        cut = rng.randrange(len(text))
        return (text[:cut] + rng.choice(["", "\x00", "}", "{", '"', "\\"])).encode()
    if roll < 0.72:
        depth = rng.choice([500, 1000, 2000, 50_000])
        return b"[" * depth + b"]" * depth
    if roll < 0.8:
        # just over a limit: negotiate 4 KiB, sync 1 KiB, control 4 KiB, connect 64 KiB
        size = rng.choice([1025, 4097, 65 * 1024, 2 * 1024 * 1024 + 5000])
        return json.dumps({"streamId": known.stream_id, "title": "x" * size}).encode()
    if roll < 0.805:
        return b"{" + b" " * (9 * 1024 * 1024) + b"}"  # over the dev host's 8 MiB body limit
    if roll < 0.85:
        return b""
    return json.dumps(_junk_json(rng)).encode("utf-8")


def negotiate_request(rng: random.Random, known: Known) -> Request:
    valid = [
        {},
        {"streamId": known.stream_id},
        {"streamId": known.stream_id, "ownerKey": known.owner_key},
        # replays: a real owner key on another stream, a truncated or altered one
        {"streamId": known.other_stream_id, "ownerKey": known.owner_key},
        {"streamId": known.stream_id, "ownerKey": known.owner_key[:-1]},
        {"streamId": known.stream_id, "ownerKey": known.owner_key.upper()},
    ]
    method = "POST" if rng.random() < 0.85 else rng.choice(METHODS)
    headers = {"Content-Type": rng.choice(["application/json", "text/plain", "", "x/y"])}
    return Request("negotiate", method, "/api/negotiate", headers, _body(rng, known, *valid))


def _state(rng: random.Random, known: Known) -> str | None:
    choice = rng.randrange(7)
    if choice == 0:
        return None
    if choice == 1:
        return ConnState(Role.WATCHER, known.stream_id).encode()
    if choice == 2:
        return ConnState(Role.STREAMER, known.stream_id).encode()
    if choice == 3:
        return ConnState(rng.choice(list(Role)), ids.new_stream_id()).encode()
    if choice == 4:
        return base64.b64encode(json.dumps(_junk_json(rng)).encode()).decode()
    if choice == 5:
        return base64.b64encode(b"[" * 1500 + b"]" * 1500).decode()
    return "".join(rng.choice("ab=+/!é") for _ in range(rng.randrange(1, 40)))


def event_request(rng: random.Random, known: Known) -> Request:
    name = rng.choice(SYSTEM + USER + ["message", "shout", "", "sync sync", "ßync"])
    system = name in SYSTEM if rng.random() < 0.9 else name not in SYSTEM
    conn = rng.choice([secrets.token_urlsafe(8), "conn-1", "", "a" * 300])
    signature_kind = rng.choices(
        ["good", "missing", "forged", "other-connection", "wrong-key", "junk"],
        weights=[6, 1, 1, 1, 1, 1],
    )[0]
    good = signature.sign(conn, known.access_key) if conn else ""
    sig = {
        "good": good,
        "missing": None,
        "forged": "sha256=" + secrets.token_hex(32),
        "other-connection": signature.sign(conn + "x", known.access_key),
        "wrong-key": signature.sign(conn, "guessed-key"),
        "junk": rng.choice(["sha256=", "sha1=abc", ",,,", good.upper(), good[:-1], good[7:]]),
    }[signature_kind]
    headers: dict[str, str] = {
        "ce-specversion": rng.choice(["1.0"] * 9 + ["0.3"]),
        "ce-type": ("azure.webpubsub.sys." if system else "azure.webpubsub.user.") + name,
        "ce-eventName": name if rng.random() < 0.9 else rng.choice(USER + SYSTEM),
        "ce-connectionId": conn,
        "ce-hub": rng.choice(["codestream"] * 8 + ["CodeStream", "other", ""]),
        "Content-Type": rng.choice(["application/json"] * 6 + ["text/plain", "x/y", ""]),
        "ce-awpsversion": "1.0",
    }
    if sig is not None:
        headers["ce-signature"] = sig
    state = _state(rng, known)
    if state is not None:
        headers["ce-connectionState"] = state
    user = rng.choice(
        [f"streamer:{known.stream_id}", f"watcher:{secrets.token_hex(3)}", "", "admin", None]
    )
    if user is not None:
        headers["ce-userId"] = user
    for header in rng.sample(sorted(headers), k=rng.choice([0, 0, 0, 1])):
        del headers[header]  # a required header missing
    to = conn or "c"
    ticket = rng.choice([known.tickets.issue(known.stream_id, to), "x" * 43, ""])
    valid = [
        {"streamId": known.stream_id, "have": None},
        {"streamId": known.stream_id, "have": {"epoch": "e1", "v": 3}},
        {"streamId": known.stream_id, "title": "t", "lang": "python"},
        {
            "streamId": known.stream_id,
            "to": to,
            "ticket": ticket,
            "epoch": "e1",
            "v": 1,
            "doc": "print(1)",
            "chunk": [0, 1],
        },
        {
            "streamId": known.stream_id,
            "to": to,
            "ticket": ticket,
            "epoch": "e1",
            "from": 1,
            "v": 2,
            "changes": [[0, 0, "x"]],
        },
        {"streamId": known.stream_id},
        {"claims": {"webpubsub.group": [known.stream_id]}},
        {"claims": {"role": [ids.send_role(known.stream_id)]}},
        {"reason": "gone"},
    ]
    method = "POST" if rng.random() < 0.85 else rng.choice(METHODS)
    if method == "OPTIONS":
        headers["WebHook-Request-Origin"] = rng.choice(["127.0.0.1", "evil.example", "*", ""])
    forged = signature_kind != "good" and method == "POST"
    body = _body(rng, known, *valid)
    return Request("events", method, "/api/webpubsub/events", headers, body, forged)


def raw_request(rng: random.Random, known: Known) -> Request:
    """What an HTTP library would not send: bytes that are not UTF-8 in headers, broken
    request lines, lying Content-Length, header injection. Sent over a bare socket."""
    conn = rng.choice([b"c1", b"c\xff", b"\xc3(", b""])
    sig = rng.choice([b"sha256=\xff\xfe", signature.sign("c1", known.access_key).encode(), b"\x00"])
    body = rng.choice([b"{}", b'{"streamId": "\xff"}', b"\xff\xfe\xfd", b""])
    path = rng.choice([b"/api/webpubsub/events", b"/api/negotiate", b"/api/negotiate?\xff=1"])
    lines = [
        b"POST " + path + b" HTTP/1.1",
        b"Host: 127.0.0.1",
        b"ce-specversion: 1.0",
        b"ce-type: azure.webpubsub.user." + rng.choice([b"sync", b"\xffync", b"sync\x00"]),
        b"ce-eventName: " + rng.choice([b"sync", b"\xffync"]),
        b"ce-connectionId: " + conn,
        b"ce-hub: " + rng.choice([b"codestream", b"codestr\xe9am"]),
        b"ce-signature: " + sig,
        b"ce-connectionState: " + rng.choice([b"\xff\xff", b"e30=", b"=" * 3000]),
        b"Content-Type: application/json; charset=" + rng.choice([b"utf-8", b"\xff", b"latin-1"]),
    ]
    length = len(body) + rng.choice([0, 0, 0, -1, 5, 10**12])
    if rng.random() < 0.1:
        lines.append(b"Transfer-Encoding: chunked")
        body = rng.choice([b"zz\r\n", b"5\r\nab\r\n0\r\n\r\n", b"0\r\n\r\n"])
    else:
        lines.append(b"Content-Length: " + str(length).encode())
    if rng.random() < 0.1:
        lines.insert(1, b"X-Long: " + b"a" * rng.choice([9000, 70_000]))
    if rng.random() < 0.1:
        lines[0] = rng.choice(
            [b"POST /api/negotiate HTTP/9.9", b"\xff\xfe", b"GET", b"POST  HTTP/1.1"]
        )
    head = b"\r\n".join(
        rng.sample(lines[1:], k=len(lines) - 1) if rng.random() < 0.3 else lines[1:]
    )
    raw = lines[0] + b"\r\n" + head + b"\r\nConnection: close\r\n\r\n" + body
    # "forged" here: the body is shorter than announced, so no answer may come
    return Request("raw", "RAW", "", {}, raw, forged=length > len(body))


def _stream_path(rng: random.Random, known: Known) -> tuple[str, str]:
    """(stream id as it goes into the path, the owner key that would be right for it)"""
    choice = rng.randrange(10)
    if choice < 6:
        return known.stream_id, known.owner_key
    if choice == 6:
        return known.other_stream_id, known.other_owner_key
    if choice == 7:
        return ids.new_stream_id(), ""
    # one path segment each (the route's {streamId}): what reaches the function to refuse
    junk = ["x", "a" * 33, "stream%20id%201", "ẞtream-ünicode", "%00%01", "a.b.c.d.e.f.g", "-" * 11]
    return rng.choice(junk), ""


def _authorization(rng: random.Random, known: Known, right: str) -> tuple[str | None, bool]:
    """(Authorization header or None, whether it is the right key for the stream)"""
    choice = rng.randrange(12)
    if choice < 7 and right:
        return f"Bearer {right}", True
    keys = [
        known.owner_key,  # another stream's real key (or the right one, counted as such)
        known.other_owner_key,
        right[:-1] + ("A" if right[-1:] != "A" else "B") if right else "x",
        right.upper() if right else "y",
        "k" * 5000,
        "",
    ]
    key = rng.choice(keys)
    header = rng.choice([f"Bearer {key}", f"bearer {key}", f"Basic {key}", key, f"Bearer  {key} "])
    if rng.random() < 0.15:
        return None, False
    good = bool(right) and key == right and header.lower().startswith("bearer ")
    return header, good


def _upload_body(rng: random.Random, known: Known, kind: str) -> bytes:
    model = known.model
    assert model is not None
    if rng.random() < 0.45:  # the genuine next upload (workers race for it)
        if kind == "keyframes":
            return json.dumps(model.keyframe()).encode()
        start = rng.randrange(model.length + 1)
        model.replace(start, start + rng.randrange(4), rng.choice(["a", "é", "😀", "\n", ""]))
        if rng.random() < 0.1:
            model.control(title=rng.choice(["t", "x" * 120]))
        if rng.random() < 0.1:
            model.control(marker=rng.choice([" step ", "é😀", "x" * 80, "<b>&</b>"]))
        segment = model.cut()
        data = json.dumps(segment).encode()
        parsed = parse_segment(data)
        if isinstance(parsed, Segment):
            known.names.append(parsed.name)
        return data
    roll = rng.random()
    if roll < 0.1:  # just over the limits
        size = LIMITS["keyframeBytes" if kind == "keyframes" else "segmentBytes"]
        return json.dumps({"epoch": "e1", "v": 1, "t": 1, "doc": "x" * size}).encode()
    if roll < 0.35:  # genuine shapes with hostile values
        shapes: list[dict[str, Any]] = [
            {"epoch": model.epoch, "v": model.v, "t": model.t, "doc": model.doc},
            {"epoch": model.epoch, "from": model.v + 1, "to": model.v + 1, "t0": model.t,
             "deltas": [[0, [[0, 0, "x"]], None]], "controls": []},
            {"epoch": model.epoch, "from": model.v + 1, "to": model.v, "t0": 0, "deltas": [],
             "controls": [[0, {"lang": "python"}]]},
            {"epoch": model.epoch, "from": model.v + 1, "to": model.v + 1, "t0": 0,
             "deltas": [[0, [[10**9, 10**9, "x"]], [1, 1]]], "controls": []},
        ]  # fmt: skip
        value = dict(rng.choice(shapes))
        value[rng.choice([*value, "extra"])] = _junk_json(rng)
        return json.dumps(value).encode()
    return _body(rng, known)


def storage_request(rng: random.Random, known: Known) -> Request:
    sid, right_key = _stream_path(rng, known)
    kind = rng.choice(["keyframes", "segments", "segments", ""])
    if kind == "":
        method = "GET" if rng.random() < 0.85 else rng.choice(METHODS)
        headers = {
            "Accept-Encoding": rng.choice(["gzip", "identity", "gzip;q=0", "br, gzip", "*", ""]),
        }
        if rng.random() < 0.3:
            headers["If-None-Match"] = rng.choice(['"x"', "*", 'W/"0x1"', "", "\x00" * 3])
        return Request("stream", method, f"/api/streams/{sid}", headers, b"")
    method = "POST" if rng.random() < 0.9 else rng.choice(METHODS)
    headers = {"Content-Type": rng.choice(["application/json", "text/plain", ""])}
    authorization, good = _authorization(rng, known, right_key)
    if authorization is not None:
        headers["Authorization"] = authorization
    body = _upload_body(rng, known, kind)
    forged = method == "POST" and not good
    return Request("upload", method, f"/api/streams/{sid}/{kind}", headers, body, forged)


BLOB_JUNK = [
    "manifest.json", "k/../manifest.json", "k/e1/0-zzzzzzzz", "s/e1/1-1-",
    "k/e1/0-abcdef12/", "k//0-abcdef12", "K/e1/0-abcdef12", "k/e1/99999999999999999-abcdef12",
    "%2e%2e%2fmanifest.json", "k/e1/0-abcdef12%00", "s/e1/1-1-00000000", "", "ẞ/é/1-1-aaaaaaaa",
]  # fmt: skip


def _blob_name(rng: random.Random, known: Known) -> str:
    roll = rng.random()
    if roll < 0.5 and known.names:
        return rng.choice(known.names)
    if roll < 0.6:
        epoch = rng.choice(["e1", "x" * 64, "x" * 65, "-", "_"])
        return f"k/{epoch}/{rng.randrange(10**6)}-{secrets.token_hex(4)}"
    return rng.choice(BLOB_JUNK)


def _oembed_query(rng: random.Random, known: Known, site: str) -> dict[str, str]:
    sid = rng.choice([known.stream_id, known.victim_id, ids.new_stream_id(), "bad!id", ""])
    time_value = rng.choice(["1:05", "99", "-1", '"><x>'])
    url = rng.choice(
        [
            f"{site}/watch.html#{sid}",
            f"{site}/embed.html?s={sid}",
            f"{site}/watch.html#{sid}&t={time_value}",
            f"{site}/watch.html#{sid}&m={rng.choice(['1', '0', 'x'])}",
            f"https://evil.example/watch.html#{sid}",
            f"{site}/index.html#{sid}",
            f"javascript:alert(1)//{site}/watch.html#{sid}",
            f"{site}/watch.html#{sid}" + "&x" * rng.choice([1, 1500]),
            "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(40))),
        ]
    )
    query: dict[str, str] = {}
    if rng.random() < 0.95:
        query["url"] = url
    if rng.random() < 0.3:
        query["format"] = rng.choice(["json", "xml", "", "JSON", "x" * 300])
    for bound in ("maxwidth", "maxheight"):
        if rng.random() < 0.3:
            query[bound] = rng.choice(["640", "0", "-5", "1", "99999999999", "1.5", "a", ""])
    return query


def replay_request(rng: random.Random, known: Known, site: str) -> Request:
    kind = rng.choice(["recording", "download", "blob", "blob", "delete", "oembed"])
    sid, right = _stream_path(rng, known)
    if kind != "delete" and rng.random() < 0.15:
        sid = known.victim_id
    method = "GET" if rng.random() < 0.9 else rng.choice(METHODS)
    headers = {"Accept-Encoding": rng.choice(["gzip", "identity", "gzip;q=0", "*", ""])}
    if rng.random() < 0.2:
        headers["If-None-Match"] = rng.choice(['"x"', "*", 'W/"0x1"', "", '"abcdef12-gzip"'])
    if kind == "oembed":
        query = "&".join(
            f"{k}={quote(v, safe='')}" for k, v in _oembed_query(rng, known, site).items()
        )
        return Request("oembed", method, f"/api/oembed?{query}", headers, b"")
    if kind == "recording":
        return Request("recording", method, f"/api/streams/{sid}/recording", headers, b"")
    if kind == "download":
        return Request("download", method, f"/api/streams/{sid}/recording.jsonl", headers, b"")
    if kind == "blob":
        name = _blob_name(rng, known)
        return Request("blob", method, f"/api/streams/{sid}/blobs/{name}", headers, b"")
    # DELETE: the fuzzed and other streams only with keys that are not theirs; the victim
    # sometimes with its own
    if rng.random() < 0.2 and sid == known.stream_id:
        sid, right = known.victim_id, known.victim_key
    authorization, good = _authorization(rng, known, right)
    if sid != known.victim_id and good:  # never delete the fuzzed streams themselves
        authorization, good = f"Bearer {right[::-1]}", False
    if authorization is not None:
        headers["Authorization"] = authorization
    method = "DELETE" if rng.random() < 0.9 else rng.choice(METHODS)
    forged = method == "DELETE" and not good
    if method == "DELETE" and good:
        known.victim_deleted = True
    return Request("delete", method, f"/api/streams/{sid}", headers, b"", forged)


def generate(rng: random.Random, known: Known) -> Request:
    roll = rng.random()
    if roll < 0.1:
        return raw_request(rng, known)
    if roll < 0.4:
        return negotiate_request(rng, known)
    return event_request(rng, known)


async def _send_raw(host: RunningDevHost, req: Request, tally: Tally) -> None:
    """One request on a bare socket; the status line is all we need."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", host.port), 10)
    except OSError as exc:
        tally.record("raw", "connect failed")
        tally.problem(f"raw: cannot connect ({exc})")
        return
    try:
        writer.write(req.body)
        await writer.drain()
        # a server waiting for the rest of a body we promised is right to wait: we give up
        # after a while and close, which must not trouble it either
        line = await asyncio.wait_for(reader.readline(), 3 if req.forged else 15)
    except (OSError, TimeoutError) as exc:
        line = f"no-answer {type(exc).__name__}".encode()
    finally:
        writer.close()
    parts = line.split()
    status = parts[1].decode(errors="replace") if len(parts) > 1 else "closed without answer"
    if status == "TimeoutError" and req.forged:
        status = "waited for the announced body"
    tally.record("raw", status)
    if status.startswith("5"):
        tally.problem(f"raw: {line!r} for {req.body[:300]!r}")


async def _send(
    session: aiohttp.ClientSession, host: RunningDevHost, req: Request, tally: Tally
) -> None:
    if req.kind == "raw":
        await _send_raw(host, req, tally)
        return
    base = host.url
    kind = f"{req.kind} {req.method}{' forged' if req.forged else ''}"
    try:
        async with session.request(
            req.method, base + req.path, headers=req.headers, data=req.body
        ) as resp:
            body = await resp.read()
            outcome = str(resp.status)
    except (aiohttp.ClientError, ValueError) as exc:
        # e.g. a header the client library itself refuses to send; or the server cut us off
        tally.record(kind, f"client error {type(exc).__name__}")
        if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError):
            tally.problem(f"{kind}: connection dropped ({exc})")
        return
    tally.record(kind, outcome)
    if resp.status >= 500 and not (resp.status == 501 and req.kind == "oembed"):
        tally.problem(f"{kind}: {resp.status} {body[:200]!r}")
    elif req.forged and 200 <= resp.status < 300:
        shown = {k: ("<redacted>" if k == "Authorization" else v) for k, v in req.headers.items()}
        tally.problem(f"{kind}: forged request accepted with {resp.status} {shown} {req.path}")
    elif resp.status >= 400 and req.method != "HEAD" and resp.status != 413:
        try:
            error = json.loads(body)["error"]
            assert isinstance(error["code"], str)
            assert isinstance(error["message"], str)
        except (ValueError, KeyError, TypeError, AssertionError):
            tally.problem(f"{kind}: {resp.status} without an error body: {body[:120]!r}")


async def still_works(host: RunningDevHost, session: aiohttp.ClientSession) -> None:
    """A streamer and a watcher, end to end: storage, sync, snapshot, catchup, delta."""
    streamer = await Peer(host).open()
    try:
        sid, key = streamer.stream_id or "", streamer.owner_key or ""
        storage = StreamsClient(session, host.url)
        model = StreamerModel(doc="still")
        assert (await storage.keyframe(sid, key, model.keyframe())).status == 200
        model.replace(5, 5, " works")
        assert (await storage.segment(sid, key, model.cut() or {})).status == 200
        state = (await storage.join_state(sid)).json()
        assert replay(state["keyframe"], state["segments"]) == ("still works", 1)
        watcher = await Peer(host, {"streamId": sid}).open()
        try:
            await watcher.send_event("sync", {"streamId": watcher.stream_id, "have": None})
            request = await streamer.wait_for(type="sync-request")
            snapshot = {
                "streamId": streamer.stream_id,
                "to": request["connectionId"],
                "ticket": request["ticket"],
                "epoch": "e1",
                "v": 1,
                "doc": "still works",
                "chunk": [0, 1],
            }
            await streamer.send_event("snapshot", snapshot)
            await watcher.wait_for(type="snapshot", doc="still works")
            catchup = {**snapshot, "from": 1, "v": 1, "changes": []}
            for field_name in ("doc", "chunk"):
                del catchup[field_name]
            await streamer.send_event("catchup", catchup)
            await watcher.wait_for(type="catchup", v=1)
            delta = {"type": "delta", "epoch": "e1", "v": 2, "changes": [[0, 0, "!"]]}
            await streamer.send_to_group(streamer.stream_id or "", delta)
            await watcher.wait_for(type="delta", v=2)
        finally:
            await watcher.close()
    finally:
        await streamer.close()


async def _new_stream(session: aiohttp.ClientSession, host: RunningDevHost) -> tuple[str, str]:
    async with session.post(f"{host.url}/api/negotiate", json={}) as resp:
        answer = await resp.json()
    return answer["streamId"], answer["ownerKey"]


async def _record_victim(
    session: aiohttp.ClientSession, host: RunningDevHost, known: Known, tally: Tally
) -> None:
    """The stream the fuzz may delete: a keyframe, and a segment with a marker."""
    client = StreamsClient(session, host.url)
    model = StreamerModel(doc="to be deleted\n")
    answers = [await client.keyframe(known.victim_id, known.victim_key, model.keyframe())]
    model.replace(0, 0, "# ")
    model.control(marker="victim")
    answers.append(await client.segment(known.victim_id, known.victim_key, model.cut() or {}))
    if [a.status for a in answers] != [200, 200]:
        tally.problem(f"the victim stream's uploads answered {[a.status for a in answers]}")


async def check_replay(host: RunningDevHost, known: Known, tally: Tally) -> None:
    """The fuzzed stream's recording is whole (one download line per indexed body, each
    served as a blob); a recording deleted by its owner is 410 on every read."""
    async with aiohttp.ClientSession() as session:
        client = StreamsClient(session, host.url)
        index = await client.recording(known.stream_id)
        download = await client.download(known.stream_id)
        if (index.status, download.status) != (200, 200):
            tally.problem(f"the fuzzed recording answered {index.status}, {download.status}")
            return
        entries = index.json()["keyframes"] + index.json()["segments"]
        lines = download.body.decode().splitlines()
        if len(lines) != 1 + len(entries) or json.loads(lines[0])["type"] != "recording":
            tally.problem(f"the download has {len(lines)} lines for {len(entries)} bodies")
        for entry in rng_sample(entries):
            if (await client.blob(known.stream_id, entry["name"])).status != 200:
                tally.problem(f"indexed blob {entry['name']} is not served")
        victim = [
            await client.join_state(known.victim_id),
            await client.recording(known.victim_id),
            await client.download(known.victim_id),
        ]
        expected = 410 if known.victim_deleted else 200
        if [a.status for a in victim] != [expected] * 3:
            tally.problem(f"the victim (deleted: {known.victim_deleted}) reads {victim}")


def rng_sample(entries: list[Any]) -> list[Any]:
    return entries[:: max(1, len(entries) // 20)]


async def check_stored_history(host: RunningDevHost, known: Known, tally: Tally) -> None:
    """Whatever the fuzz did, the fuzzed stream's join state must still replay."""
    async with aiohttp.ClientSession() as session:
        answer = await StreamsClient(session, host.url).join_state(known.stream_id)
    if answer.status != 200:
        tally.problem(f"the fuzzed stream's join state answered {answer.status}")
        return
    state = answer.json()
    try:
        _doc, v = replay(state["keyframe"], state["segments"])
    except (DeltaError, KeyError, TypeError) as exc:
        tally.problem(f"the fuzzed stream's stored history does not replay: {exc!r}")
        return
    if v != state["head"]["v"]:
        tally.problem(f"stored history replays to v={v}, its head says {state['head']}")


async def fuzz(
    host: RunningDevHost,
    requests: int,
    seed: int,
    storage_requests: int | None = None,
    replay_requests: int | None = None,
) -> Tally:
    """`requests` of the negotiate/events mix, then as many (or `storage_requests`) storage
    requests and as many (or `replay_requests`) replay requests, interleaved."""
    rng = random.Random(seed)
    tally = Tally(f"dev host HTTP fuzz (seed {seed})")
    storage_requests = requests if storage_requests is None else storage_requests
    replay_requests = requests if replay_requests is None else replay_requests
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        sid, key = await _new_stream(session, host)
        other_sid, other_key = await _new_stream(session, host)
        known = Known(
            sid, key, other_sid, host.access_key, Tickets(host.owner_key_secret), other_key,
            StreamerModel(doc="fuzzed\n"),
        )  # fmt: skip
        assert known.model is not None
        start = await StreamsClient(session, host.url).keyframe(sid, key, known.model.keyframe())
        if start.status != 200:
            tally.problem(f"the first keyframe answered {start.status}")
        known.victim_id, known.victim_key = await _new_stream(session, host)
        await _record_victim(session, host, known, tally)
        queue: asyncio.Queue[Request | None] = asyncio.Queue(maxsize=CONCURRENCY * 2)

        async def worker() -> None:
            while (req := await queue.get()) is not None:
                try:
                    await _send(session, host, req, tally)
                except Exception as exc:  # a fuzzer bug must fail the run, not hang it
                    tally.problem(f"{req.kind} failed in the fuzzer: {exc!r}")

        workers = [asyncio.create_task(worker()) for _ in range(CONCURRENCY)]
        plan = ["http"] * requests + ["storage"] * storage_requests + ["replay"] * replay_requests
        rng.shuffle(plan)
        for kind in plan:
            if kind == "http":
                await queue.put(generate(rng, known))
            elif kind == "storage":
                await queue.put(storage_request(rng, known))
            else:
                await queue.put(replay_request(rng, known, host.url))
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    if host.process.process.poll() is not None:
        tally.problem(f"the dev host died with {host.process.process.returncode}")
        return tally
    await check_stored_history(host, known, tally)
    await check_replay(host, known, tally)
    try:
        async with aiohttp.ClientSession() as session:
            await asyncio.wait_for(still_works(host, session), 60)
    except Exception as exc:  # any failure here is the finding
        tally.problem(f"a normal streamer and watcher no longer work: {exc!r}")
    for block in app_tracebacks(host.process.output()):
        tally.problem("traceback in the dev host's log:\n" + block[:3000])
    return tally


def app_tracebacks(log: str) -> list[str]:
    """Tracebacks in a log, less aiohttp's own for requests its HTTP parser refused with 400
    (aiohttp logs those at ERROR; they never reach the functions)."""
    blocks = log.split("Traceback (most recent call last):")[1:]
    return [b for b in blocks if "aiohttp.http_exceptions." not in b]


def main() -> int:
    args = arguments(
        "python -m tools.fuzz.http", "requests", 2000, "storage-requests", "replay-requests"
    )
    seed = args.seed if args.seed is not None else secrets.randbelow(2**32)
    with start_devhost() as host:
        tally = asyncio.run(
            fuzz(host, args.requests, seed, args.storage_requests, args.replay_requests)
        )
    print(tally.report())
    return 1 if tally.problems else 0


if __name__ == "__main__":
    sys.exit(main())
