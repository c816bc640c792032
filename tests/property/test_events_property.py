"""CloudEvents headers and bodies, connection state, and every user event (sync, snapshot,
control): any input passes validation or is refused with a clear error; the handler as a
whole never raises and never answers 5xx.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from codestream import signature
from codestream.cloudevents import CloudEvent, Kind, connect_claims, parse_event
from codestream.config import load_settings
from codestream.errors import STATUS, Code, Refusal
from codestream.events import EventHandler
from codestream.messages import (
    EVENT_RULES,
    MAX_DOC_CHUNK_BYTES,
    Catchup,
    Checked,
    Control,
    Refused,
    Snapshot,
    Sync,
    Watchers,
    check_user_event,
    json_string_bytes,
)
from codestream.ratelimit import Bucket, Limit, take
from codestream.state import ConnState, Role, decode_state
from codestream.tickets import Tickets
from codestream.upstream_auth import UpstreamAuth
from harness.azurite import NO_STORAGE
from harness.strategies import (
    connection_ids,
    deep_json,
    dump,
    epochs,
    hostile_bodies,
    json_values,
    mutate,
    nested,
    stream_ids,
    versions,
)

SID = "stream-under-test"
KEY = "property-access-key"
SETTINGS = load_settings(
    {
        "WebPubSubConnectionString": f"Endpoint=http://127.0.0.1:8081;AccessKey={KEY};Version=1.0;",
        "OwnerKeySecret": "s" * 32,
        **NO_STORAGE,
    }
)
STREAMER = ConnState(Role.STREAMER, SID)
WATCHER = ConnState(Role.WATCHER, SID)
USER_EVENT_CODES = {
    Code.UNKNOWN_EVENT,
    Code.NO_STATE,
    Code.WRONG_ROLE,
    Code.TOO_LARGE,
    Code.RATE_LIMITED,
    Code.BAD_JSON,
    Code.BAD_STREAM_ID,
    Code.OTHER_STREAM,
    Code.BAD_SCHEMA,
}

# ---------------------------------------------------------------- valid events

haves = st.none() | st.builds(lambda e, v: {"epoch": e, "v": v}, epochs, versions)
syncs = st.builds(lambda h: {"streamId": SID, "have": h}, haves)
langs = st.from_regex(r"[A-Za-z0-9+#._-]{0,40}", fullmatch=True)
titles = st.text(max_size=200)


@st.composite
def snapshots(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 256))
    value: dict[str, Any] = {
        "streamId": SID,
        "to": draw(connection_ids),
        "ticket": draw(tickets),
        "epoch": draw(epochs),
        "v": draw(versions),
        "doc": draw(st.text(max_size=300)),
        "chunk": [draw(st.integers(0, n - 1)), n],
    }
    if draw(st.booleans()):
        value["lang"] = draw(langs)
    if draw(st.booleans()):
        value["title"] = draw(titles)
    return value


tickets = st.text(min_size=1, max_size=64)
change_lists = st.lists(
    st.tuples(st.integers(0, 1000), st.integers(0, 1000), st.text(max_size=20)).map(
        lambda c: [min(c[0], c[1]), max(c[0], c[1]), c[2].replace("\r", "")]
    ),
    max_size=5,
)


@st.composite
def catchups(draw: st.DrawFn) -> dict[str, Any]:
    from_v = draw(versions)
    v = draw(st.integers(from_v, 2**53 - 1))
    value: dict[str, Any] = {
        "streamId": SID,
        "to": draw(connection_ids),
        "ticket": draw(tickets),
        "epoch": draw(epochs),
        "from": from_v,
        "v": v,
        "changes": draw(change_lists) if v > from_v else [],
    }
    if draw(st.booleans()):
        value["sel"] = [draw(st.integers(0, 2**53 - 1)), draw(st.integers(0, 2**53 - 1))]
    return value


@st.composite
def controls(draw: st.DrawFn) -> dict[str, Any]:
    fields = draw(st.sets(st.sampled_from(["lang", "title", "ended"]), min_size=1))
    value: dict[str, Any] = {"streamId": SID}
    if "lang" in fields:
        value["lang"] = draw(langs)
    if "title" in fields:
        value["title"] = draw(titles)
    if "ended" in fields:
        value["ended"] = True
    return value


VALID = {
    "sync": (syncs, WATCHER),
    "snapshot": (snapshots(), STREAMER),
    "control": (controls(), STREAMER),
    "catchup": (catchups(), STREAMER),
    "watchers": (st.just({"streamId": SID}), STREAMER),
}


@given(st.sampled_from(sorted(VALID)).flatmap(lambda n: st.tuples(st.just(n), VALID[n][0])))
def test_every_valid_event_is_accepted(named: tuple[str, dict[str, Any]]) -> None:
    name, value = named
    result = check_user_event(name, dump(value), True, VALID[name][1], 1000.0)
    assert isinstance(result, Checked), result
    event = result.event
    assert event.stream_id == SID
    match event:
        case Sync(have=have):
            assert (have is None) == (value["have"] is None)
        case Snapshot() as s:
            expected = tuple(value[k] for k in ("to", "epoch", "v", "doc"))
            assert (s.to, s.epoch, s.v, s.doc) == expected
            assert list(s.chunk) == value["chunk"]
        case Control() as c:
            assert c.ended == ("ended" in value)
        case Catchup() as c:
            assert (c.to, c.ticket, c.from_v, c.v) == tuple(
                value[k] for k in ("to", "ticket", "from", "v")
            )
            assert list(c.changes) == value["changes"]
        case Watchers():
            pass


def _mutated(name: str) -> st.SearchStrategy[dict[str, Any]]:
    strategy, _ = VALID[name]
    keys = {
        "sync": ["streamId", "have"],
        "snapshot": ["streamId", "to", "ticket", "epoch", "v", "doc", "chunk", "lang", "title"],
        "control": ["streamId", "lang", "title", "ended"],
        "catchup": ["streamId", "to", "ticket", "epoch", "from", "v", "changes", "sel"],
        "watchers": ["streamId"],
    }[name]
    return strategy.flatmap(lambda v: mutate(v, keys))


names = st.sampled_from(sorted(EVENT_RULES)) | st.text(max_size=20)
states = st.sampled_from([STREAMER, WATCHER, None, ConnState(Role.WATCHER, "another-stream-1")])
bodies = hostile_bodies(
    *(_mutated(n) for n in sorted(VALID)), syncs, snapshots(), controls(), catchups()
)


@given(names, bodies, st.booleans(), states, st.floats(0, 2e9))
@example("sync", nested(1000).encode(), True, WATCHER, 0.0)  # 2000 bytes: over sync's limit
@example("control", nested(2000).encode(), True, STREAMER, 0.0)  # 4000 bytes: within its limit
@example("snapshot", nested(100_000).encode(), True, STREAMER, 0.0)
@example(
    "snapshot", dump({"streamId": SID, "doc": "x" * (MAX_DOC_CHUNK_BYTES + 1)}), True, STREAMER, 0
)
def test_any_user_event_is_checked_or_refused(
    name: str, body: bytes, is_json: bool, state: ConnState | None, now: float
) -> None:
    result = check_user_event(name, body, is_json, state, now)
    if isinstance(result, Refused):
        assert result.refusal.code in USER_EVENT_CODES
        assert result.refusal.message
        reply = result.refusal.event_reply()
        assert set(reply) == {"type", "code", "message"}
        return
    assert isinstance(result, Checked)
    assert state is not None
    assert is_json
    assert result.event.stream_id == state.stream_id
    assert EVENT_RULES[name].role is state.role
    assert len(body) <= EVENT_RULES[name].max_bytes
    if isinstance(result.event, Snapshot):
        assert json_string_bytes(result.event.doc) <= MAX_DOC_CHUNK_BYTES
        i, n = result.event.chunk
        assert 0 <= i < n <= 256


@given(deep_json)
def test_deep_json_in_any_event_is_refused(text: str) -> None:
    for name, (_strategy, state) in VALID.items():
        result = check_user_event(name, text.encode(), True, state, 0.0)
        assert isinstance(result, Refused)


# ---------------------------------------------------------------- rate limits


@given(
    st.lists(st.floats(0, 100), max_size=60),
    st.floats(1, 100),
    st.floats(0.1, 50),
)
def test_buckets_never_exceed_capacity_nor_mint_on_a_clock_step_back(
    steps: list[float], capacity: float, rate: float
) -> None:
    limit = Limit(capacity, rate)
    bucket: Bucket | None = None
    now = 1.7e9
    for i, step in enumerate(steps):
        now = now + step if i % 3 else now - step  # the clock may step back
        before = bucket
        allowed, bucket = take(bucket, limit, now)
        assert 0 <= bucket.tokens <= capacity
        if before is not None and now <= before.at:
            assert bucket.tokens <= before.tokens  # no new tokens from a backwards clock
        if allowed:
            assert bucket.tokens <= capacity - 1 + 1e-3  # buckets keep 3 decimals


# ---------------------------------------------------------------- CloudEvents


header_names = st.sampled_from(
    [
        "ce-specversion",
        "ce-type",
        "ce-eventname",
        "ce-connectionid",
        "ce-hub",
        "ce-userid",
        "ce-connectionstate",
        "ce-signature",
        "content-type",
    ]
)
header_values = st.text(max_size=60) | st.sampled_from(
    [
        "1.0",
        "azure.webpubsub.sys.connect",
        "azure.webpubsub.sys.connected",
        "azure.webpubsub.sys.user",
        "azure.webpubsub.user.sync",
        "azure.webpubsub.user.",
        "connect",
        "sync",
        "codestream",
        "application/json",
    ]
)
# header bytes that are not UTF-8 reach the handler as lone surrogates (aiohttp decodes them
# with surrogateescape): found by tools/fuzz/http.py's raw requests
raw_header_values = st.binary(min_size=1, max_size=20).map(
    lambda b: b.decode("utf-8", "surrogateescape")
)
header_values = header_values | raw_header_values
headers_strategy = st.dictionaries(header_names, header_values)


@given(headers_strategy, st.binary(max_size=100))
def test_any_cloudevent_headers_parse_or_are_refused(headers: dict[str, str], body: bytes) -> None:
    result = parse_event(headers, body)
    if isinstance(result, Refusal):
        assert result.code in (Code.BAD_CLOUDEVENT, Code.UNKNOWN_EVENT)
        return
    assert isinstance(result, CloudEvent)
    assert headers["ce-specversion"] == "1.0"
    assert result.connection_id
    assert result.hub
    if result.kind is not Kind.USER:
        assert result.name == str(result.kind)
        assert headers["ce-type"] == "azure.webpubsub.sys." + result.name
    else:
        assert headers["ce-type"] == "azure.webpubsub.user." + result.name


claims_bodies = hostile_bodies(
    st.builds(lambda c: {"claims": c}, st.dictionaries(st.text(max_size=20), json_values))
)


@given(claims_bodies)
@example(nested(20_000).encode())
@example(dump({"claims": {"role": nested(900)}}))
def test_any_connect_body_gives_claims_or_a_refusal(body: bytes) -> None:
    result = connect_claims(body)
    if isinstance(result, Refusal):
        assert result.code in (Code.BAD_JSON, Code.BAD_CLOUDEVENT, Code.TOO_LARGE)
        return
    assert all(isinstance(k, str) for k in result)
    assert all(isinstance(v, str) for values in result.values() for v in values)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


state_values = (
    st.text(max_size=100)
    | json_values.map(lambda v: _b64(dump(v)))
    | st.binary(max_size=200).map(_b64)
    | deep_json.map(lambda t: _b64(t.encode()))
    | st.builds(
        lambda r, s: _b64(dump({"r": r, "s": s, "b": {"sync": [1, 2]}})), json_values, json_values
    )
)


@given(state_values)
@example(_b64(nested(1500).encode()))  # 2000 base64 chars: within MAX_STATE_CHARS
@example(_b64(b'{"r": "watcher", "s": "stream-under-test", "b": {"sync": [1]}}'))
@example(_b64(b'{"r": "watcher", "s": "stream-under-test", "b": {"sync": [1e999, 1]}}'))
def test_any_connection_state_decodes_or_is_none(value: str) -> None:
    state = decode_state(value)
    assert state is None or isinstance(state, ConnState)


@given(st.sampled_from([Role.STREAMER, Role.WATCHER]), stream_ids, st.booleans())
def test_connection_state_round_trips(role: Role, sid: str, ended: bool) -> None:
    state = ConnState(role, sid, {"sync": Bucket(2.5, 1.7e9)}, ended)
    assert decode_state(state.encode()) == state


@given(
    connection_ids | raw_header_values,
    st.text(max_size=120) | raw_header_values,
    st.lists(st.text(max_size=30), max_size=3),
)
@example("c1", "sha256=\udcff\udcfe", [KEY])
@example("c\udcff", "sha256=aa", [KEY])
def test_signatures_only_match_their_key_and_connection(
    connection_id: str, header: str, keys: list[str]
) -> None:
    # a random header never matches (it would need the HMAC); the real one always does
    if not header.startswith("sha256="):
        assert not signature.verify(connection_id, header, keys)
    good = signature.signature_header(connection_id, [KEY])
    assert signature.verify(connection_id, good, [KEY])
    assert not signature.verify(connection_id + "x", good, [KEY])


# ---------------------------------------------------------------- the handler as a whole


class Page:
    def __init__(self, items: list[Any]) -> None:
        self._items = items

    def __aiter__(self) -> AsyncIterator[Any]:
        async def gen() -> AsyncIterator[Any]:
            for item in self._items:
                yield item

        return gen()


class FakeService:
    """Answers like an empty service; records every call the handler makes."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def list_connections(self, **_: Any) -> Page:
        self.calls.append("list_connections")
        return Page([])

    async def user_exists(self, *_: Any, **__: Any) -> bool:
        self.calls.append("user_exists")
        return True

    async def send_to_user(self, *_: Any, **__: Any) -> None:
        self.calls.append("send_to_user")

    async def send_to_group(self, *_: Any, **__: Any) -> None:
        self.calls.append("send_to_group")

    async def send_to_connection(self, *_: Any, **__: Any) -> None:
        self.calls.append("send_to_connection")

    async def close_user_connections(self, *_: Any, **__: Any) -> None:
        self.calls.append("close_user_connections")


event_names = st.sampled_from(
    ["connect", "connected", "disconnected", "sync", "snapshot", "control", "catchup", "watchers"]
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, dict[str, str], bytes]:
    """Mostly well-framed, correctly signed events with hostile contents, plus junk."""
    method = draw(st.sampled_from(["POST"] * 8 + ["OPTIONS", "GET", "PUT", "DELETE", "PATCH"]))
    name = draw(event_names | st.text(min_size=1, max_size=10))
    conn = draw(connection_ids | raw_header_values)
    system = name in ("connect", "connected", "disconnected")
    headers = {
        "ce-specversion": "1.0",
        "ce-type": ("azure.webpubsub.sys." if system else "azure.webpubsub.user.") + name,
        "ce-eventName": name,
        "ce-connectionId": conn,
        "ce-hub": draw(st.sampled_from(["codestream", "codestream", "other"])),
        "ce-signature": draw(
            st.sampled_from([signature.sign(conn, KEY)] * 4 + ["", signature.sign(conn, "k")])
        ),
        "Content-Type": draw(st.sampled_from(["application/json", "text/plain", ""])),
        "WebHook-Request-Origin": draw(st.sampled_from(["127.0.0.1:8081", "evil.example", ""])),
    }
    state = draw(st.sampled_from([STREAMER.encode(), WATCHER.encode(), "", "junk"]) | state_values)
    if state:
        headers["ce-connectionState"] = state
    user = draw(st.sampled_from([f"streamer:{SID}", "watcher:w1", "", "admin"]))
    if user:
        headers["ce-userId"] = user
    headers.update(draw(st.dictionaries(header_names, header_values, max_size=2)))
    body = draw(bodies | claims_bodies)
    return method, headers, body


@given(requests())
def test_the_handler_never_raises_nor_answers_5xx(
    request: tuple[str, dict[str, str], bytes],
) -> None:
    method, headers, body = request
    service = FakeService()
    handler = EventHandler(SETTINGS, UpstreamAuth(SETTINGS), lambda: service, clock=lambda: 1e9)
    result = asyncio.run(handler.handle(method, headers, body))
    assert result.status in (200, 204) or 400 <= result.status < 500, result
    if result.status >= 400:
        error = result.json()["error"]
        assert error["code"] in {str(c) for c in STATUS}
        assert error["message"]
        assert service.calls == []  # a refused request reaches nothing
    elif result.status == 200 and result.json() is not None and "type" in result.json():
        reply = result.json()
        assert reply["type"] in ("error", "status", "watchers")


@given(
    st.sampled_from(["snapshot", "catchup"]).flatmap(
        lambda n: st.tuples(st.just(n), snapshots() if n == "snapshot" else catchups())
    ),
    st.booleans(),
)
def test_an_answer_is_forwarded_exactly_when_its_ticket_names_its_target(
    named: tuple[str, dict[str, Any]], genuine: bool
) -> None:
    name, value = named
    if genuine:
        value = {**value, "ticket": Tickets(SETTINGS.owner_key_secret).issue(SID, value["to"])}
    service = FakeService()
    handler = EventHandler(SETTINGS, UpstreamAuth(SETTINGS), lambda: service, clock=lambda: 1e9)
    headers = {
        "ce-specversion": "1.0",
        "ce-type": "azure.webpubsub.user." + name,
        "ce-eventName": name,
        "ce-connectionId": "streamer-conn",
        "ce-hub": "codestream",
        "ce-signature": signature.sign("streamer-conn", KEY),
        "ce-connectionState": STREAMER.encode(),
        "Content-Type": "application/json",
    }
    result = asyncio.run(handler.handle("POST", headers, dump(value)))
    if genuine:
        assert result.status == 204
        assert service.calls == ["send_to_connection"]
    else:  # a random string is never the HMAC
        assert result.json()["code"] == "not_a_watcher"
        assert service.calls == []
