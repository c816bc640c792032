"""Every validation rule of negotiate bodies and user events, one row each."""

from __future__ import annotations

import json
from typing import Any

import pytest

from codestream.errors import Code, Refusal
from codestream.messages import (
    EVENT_RULES,
    MAX_DOC_CHUNK_BYTES,
    Catchup,
    Checked,
    Control,
    Have,
    NewStream,
    Refused,
    ResumeStream,
    Snapshot,
    Sync,
    Watchers,
    WatchStream,
    catchup_message,
    check_user_event,
    control_message,
    parse_negotiate,
    snapshot_message,
    sync_request_message,
)
from codestream.ratelimit import Bucket, Limit
from codestream.state import ConnState, Role

SID = "stream-abc-123"
OTHER = "stream-xyz-789"
WATCHER = ConnState(Role.WATCHER, SID)
STREAMER = ConnState(Role.STREAMER, SID)
NOW = 1_700_000_000.0


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def without(value: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k != name}


# ---------------------------------------------------------------- negotiate


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", NewStream()),
        (b"{}", NewStream()),
        (dumps({"streamId": SID}), WatchStream(SID)),
        (dumps({"streamId": SID, "ownerKey": "k"}), ResumeStream(SID, "k")),
    ],
)
def test_negotiate_accepts(body: bytes, expected: object) -> None:
    assert parse_negotiate(body) == expected


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{", Code.BAD_JSON),
        (b"\xff\xfe", Code.BAD_JSON),
        (b"[]", Code.BAD_SCHEMA),
        (b"null", Code.BAD_SCHEMA),
        (dumps({"streamId": SID, "admin": True}), Code.BAD_SCHEMA),
        (dumps({"ownerKey": "k"}), Code.BAD_SCHEMA),
        (dumps({"streamId": "short"}), Code.BAD_STREAM_ID),
        (dumps({"streamId": 123456789012}), Code.BAD_STREAM_ID),
        (dumps({"streamId": SID, "ownerKey": 5}), Code.BAD_SCHEMA),
        (dumps({"streamId": SID, "ownerKey": ""}), Code.BAD_SCHEMA),
        (dumps({"streamId": SID, "ownerKey": "k" * 129}), Code.BAD_SCHEMA),
        (b" " * 5000 + b"{}", Code.TOO_LARGE),
    ],
)
def test_negotiate_refuses(body: bytes, code: Code) -> None:
    result = parse_negotiate(body)
    assert isinstance(result, Refusal)
    assert result.code == code
    assert result.message


# ---------------------------------------------------------------- user events: accepted

TICKET = "t" * 43
SNAP = {
    "streamId": SID,
    "to": "conn-1",
    "ticket": TICKET,
    "epoch": "k3J9",
    "v": 42,
    "doc": "print('hi')\n",
    "lang": "python",
    "title": "Hello",
    "chunk": [0, 1],
}


CATCH = {
    "streamId": SID,
    "to": "conn-1",
    "ticket": TICKET,
    "epoch": "k3J9",
    "from": 40,
    "v": 42,
    "changes": [[0, 0, "a"], [3, 4, ""]],
    "sel": [2, 2],
}


@pytest.mark.parametrize(
    ("name", "state", "data", "expected"),
    [
        ("sync", WATCHER, {"streamId": SID, "have": None}, Sync(SID, None)),
        (
            "sync",
            WATCHER,
            {"streamId": SID, "have": {"epoch": "e1", "v": 7}},
            Sync(SID, Have("e1", 7)),
        ),
        (
            "snapshot",
            STREAMER,
            SNAP,
            Snapshot(SID, "conn-1", TICKET, "k3J9", 42, "print('hi')\n", (0, 1), "python", "Hello"),
        ),
        (
            "snapshot",
            STREAMER,
            {k: v for k, v in SNAP.items() if k not in ("lang", "title")},
            Snapshot(SID, "conn-1", TICKET, "k3J9", 42, "print('hi')\n", (0, 1)),
        ),
        (
            "catchup",
            STREAMER,
            CATCH,
            Catchup(SID, "conn-1", TICKET, "k3J9", 40, 42, ([0, 0, "a"], [3, 4, ""]), (2, 2)),
        ),
        (
            "catchup",
            STREAMER,
            {**CATCH, "from": 42, "changes": [], "sel": [0, 0]},
            Catchup(SID, "conn-1", TICKET, "k3J9", 42, 42, (), (0, 0)),
        ),
        (  # lang and title, as a snapshot carries them: the stored ones may be older
            "catchup",
            STREAMER,
            {**CATCH, "lang": "rust", "title": "Live"},
            Catchup(
                SID,
                "conn-1",
                TICKET,
                "k3J9",
                40,
                42,
                ([0, 0, "a"], [3, 4, ""]),
                (2, 2),
                "rust",
                "Live",
            ),
        ),
        (  # the announce delta of an epoch has no changes: from < v with changes []
            "catchup",
            STREAMER,
            {k: v for k, v in CATCH.items() if k != "sel"} | {"from": 0, "v": 1, "changes": []},
            Catchup(SID, "conn-1", TICKET, "k3J9", 0, 1, ()),
        ),
        ("watchers", STREAMER, {"streamId": SID}, Watchers(SID)),
        ("control", STREAMER, {"streamId": SID, "lang": "rust"}, Control(SID, lang="rust")),
        ("control", STREAMER, {"streamId": SID, "title": ""}, Control(SID, title="")),
        ("control", STREAMER, {"streamId": SID, "ended": True}, Control(SID, ended=True)),
        (
            "control",
            STREAMER,
            {"streamId": SID, "marker": "  step 2: tests "},
            Control(SID, marker="step 2: tests"),
        ),
        (
            "control",
            STREAMER,
            {"streamId": SID, "title": "T", "marker": "m" * 80},
            Control(SID, title="T", marker="m" * 80),
        ),
    ],
)
def test_user_event_accepted(name: str, state: ConnState, data: Any, expected: object) -> None:
    result = check_user_event(name, dumps(data), True, state, NOW)
    assert isinstance(result, Checked)
    assert result.event == expected
    assert name in result.state.buckets  # rate charged and carried in the state


# ---------------------------------------------------------------- user events: refused

BIG_DOC = "x" * (MAX_DOC_CHUNK_BYTES + 1)


@pytest.mark.parametrize(
    ("name", "state", "body", "is_json", "code"),
    [
        # unknown event / no accepted connection
        ("delta", WATCHER, dumps({"streamId": SID}), True, Code.UNKNOWN_EVENT),
        ("message", STREAMER, b"hi", False, Code.UNKNOWN_EVENT),
        ("sync", None, dumps({"streamId": SID, "have": None}), True, Code.NO_STATE),
        # wrong role
        ("snapshot", WATCHER, dumps(SNAP), True, Code.WRONG_ROLE),
        ("control", WATCHER, dumps({"streamId": SID, "ended": True}), True, Code.WRONG_ROLE),
        ("sync", STREAMER, dumps({"streamId": SID, "have": None}), True, Code.WRONG_ROLE),
        # oversize
        ("sync", WATCHER, b"{" + b" " * 2000 + b"}", True, Code.TOO_LARGE),
        ("control", STREAMER, dumps({"streamId": SID, "title": "t" * 5000}), True, Code.TOO_LARGE),
        ("control", STREAMER, dumps({"streamId": SID, "title": "t" * 201}), True, Code.TOO_LARGE),
        ("snapshot", STREAMER, dumps({**SNAP, "doc": BIG_DOC}), True, Code.TOO_LARGE),
        # bad JSON
        ("sync", WATCHER, b"{not json", True, Code.BAD_JSON),
        ("sync", WATCHER, b"\xff", True, Code.BAD_JSON),
        ("sync", WATCHER, dumps({"streamId": SID, "have": None}), False, Code.BAD_JSON),
        # other stream
        ("sync", WATCHER, dumps({"streamId": OTHER, "have": None}), True, Code.OTHER_STREAM),
        ("snapshot", STREAMER, dumps({**SNAP, "streamId": OTHER}), True, Code.OTHER_STREAM),
        ("control", STREAMER, dumps({"streamId": OTHER, "ended": True}), True, Code.OTHER_STREAM),
        # schema: sync
        ("sync", WATCHER, dumps([]), True, Code.BAD_SCHEMA),
        ("sync", WATCHER, dumps({"have": None}), True, Code.BAD_SCHEMA),
        ("sync", WATCHER, dumps({"streamId": "bad id"}), True, Code.BAD_STREAM_ID),
        ("sync", WATCHER, dumps({"streamId": SID}), True, Code.BAD_SCHEMA),
        ("sync", WATCHER, dumps({"streamId": SID, "have": 3}), True, Code.BAD_SCHEMA),
        ("sync", WATCHER, dumps({"streamId": SID, "have": {"v": 1}}), True, Code.BAD_SCHEMA),
        (
            "sync",
            WATCHER,
            dumps({"streamId": SID, "have": {"epoch": "e", "v": -1}}),
            True,
            Code.BAD_SCHEMA,
        ),
        (
            "sync",
            WATCHER,
            dumps({"streamId": SID, "have": {"epoch": "e", "v": True}}),
            True,
            Code.BAD_SCHEMA,
        ),
        (
            "sync",
            WATCHER,
            dumps({"streamId": SID, "have": {"epoch": "bad epoch", "v": 1}}),
            True,
            Code.BAD_SCHEMA,
        ),
        ("sync", WATCHER, dumps({"streamId": SID, "have": None, "x": 1}), True, Code.BAD_SCHEMA),
        # schema: snapshot
        ("snapshot", STREAMER, dumps({**SNAP, "extra": 1}), True, Code.BAD_SCHEMA),
        (
            "snapshot",
            STREAMER,
            dumps({k: v for k, v in SNAP.items() if k != "to"}),
            True,
            Code.BAD_SCHEMA,
        ),
        ("snapshot", STREAMER, dumps({**SNAP, "to": ""}), True, Code.BAD_SCHEMA),
        ("snapshot", STREAMER, dumps({**SNAP, "to": "a b"}), True, Code.BAD_SCHEMA),
        ("snapshot", STREAMER, dumps({**SNAP, "v": "42"}), True, Code.BAD_SCHEMA),
        ("snapshot", STREAMER, dumps({**SNAP, "v": 2**53}), True, Code.BAD_SCHEMA),
        ("snapshot", STREAMER, dumps({**SNAP, "epoch": ""}), True, Code.BAD_SCHEMA),
        ("snapshot", STREAMER, dumps({**SNAP, "doc": 5}), True, Code.BAD_SCHEMA),
        ("snapshot", STREAMER, dumps({**SNAP, "chunk": [1, 1]}), True, Code.BAD_SCHEMA),
        ("snapshot", STREAMER, dumps({**SNAP, "chunk": [0]}), True, Code.BAD_SCHEMA),
        ("snapshot", STREAMER, dumps({**SNAP, "chunk": [0, 1000]}), True, Code.BAD_SCHEMA),
        ("snapshot", STREAMER, dumps({**SNAP, "chunk": [0.0, 1]}), True, Code.BAD_SCHEMA),
        ("snapshot", STREAMER, dumps({**SNAP, "lang": "c c"}), True, Code.BAD_SCHEMA),
        ("snapshot", STREAMER, dumps({**SNAP, "title": 7}), True, Code.BAD_SCHEMA),
        ("snapshot", STREAMER, dumps(without(SNAP, "ticket")), True, Code.BAD_SCHEMA),
        ("snapshot", STREAMER, dumps({**SNAP, "ticket": ""}), True, Code.BAD_SCHEMA),
        ("snapshot", STREAMER, dumps({**SNAP, "ticket": 5}), True, Code.BAD_SCHEMA),
        ("snapshot", STREAMER, dumps({**SNAP, "ticket": "t" * 65}), True, Code.BAD_SCHEMA),
        # catchup: who, how big, which stream, schema
        ("catchup", WATCHER, dumps(CATCH), True, Code.WRONG_ROLE),
        ("catchup", STREAMER, dumps({**CATCH, "streamId": OTHER}), True, Code.OTHER_STREAM),
        (
            "catchup",
            STREAMER,
            dumps({**CATCH, "changes": [[0, 0, "x" * 66000]]}),
            True,
            Code.TOO_LARGE,
        ),
        ("catchup", STREAMER, dumps({**CATCH, "x": 1}), True, Code.BAD_SCHEMA),
        ("catchup", STREAMER, dumps(without(CATCH, "ticket")), True, Code.BAD_SCHEMA),
        ("catchup", STREAMER, dumps(without(CATCH, "to")), True, Code.BAD_SCHEMA),
        ("catchup", STREAMER, dumps(without(CATCH, "from")), True, Code.BAD_SCHEMA),
        ("catchup", STREAMER, dumps(without(CATCH, "changes")), True, Code.BAD_SCHEMA),
        ("catchup", STREAMER, dumps({**CATCH, "from": 43}), True, Code.BAD_SCHEMA),
        ("catchup", STREAMER, dumps({**CATCH, "from": 42}), True, Code.BAD_SCHEMA),
        ("catchup", STREAMER, dumps({**CATCH, "from": -1}), True, Code.BAD_SCHEMA),
        ("catchup", STREAMER, dumps({**CATCH, "v": 2**53}), True, Code.BAD_SCHEMA),
        ("catchup", STREAMER, dumps({**CATCH, "epoch": "a b"}), True, Code.BAD_SCHEMA),
        ("catchup", STREAMER, dumps({**CATCH, "changes": [[2, 1, ""]]}), True, Code.BAD_SCHEMA),
        ("catchup", STREAMER, dumps({**CATCH, "changes": [[0, 0, "\r"]]}), True, Code.BAD_SCHEMA),
        ("catchup", STREAMER, dumps({**CATCH, "changes": [[0, 0]]}), True, Code.BAD_SCHEMA),
        ("catchup", STREAMER, dumps({**CATCH, "changes": {}}), True, Code.BAD_SCHEMA),
        ("catchup", STREAMER, dumps({**CATCH, "sel": [1]}), True, Code.BAD_SCHEMA),
        ("catchup", STREAMER, dumps({**CATCH, "sel": [-1, 0]}), True, Code.BAD_SCHEMA),
        ("catchup", STREAMER, dumps({**CATCH, "sel": None}), True, Code.BAD_SCHEMA),
        ("catchup", STREAMER, dumps({**CATCH, "lang": "c c"}), True, Code.BAD_SCHEMA),
        ("catchup", STREAMER, dumps({**CATCH, "title": 7}), True, Code.BAD_SCHEMA),
        ("catchup", STREAMER, dumps({**CATCH, "title": "t" * 121}), True, Code.TOO_LARGE),
        # watchers
        ("watchers", WATCHER, dumps({"streamId": SID}), True, Code.WRONG_ROLE),
        ("watchers", STREAMER, dumps({"streamId": OTHER}), True, Code.OTHER_STREAM),
        ("watchers", STREAMER, dumps({"streamId": SID, "n": 1}), True, Code.BAD_SCHEMA),
        ("watchers", STREAMER, b"{" + b" " * 1100 + b"}", True, Code.TOO_LARGE),
        # schema: control
        ("control", STREAMER, dumps({"streamId": SID}), True, Code.BAD_SCHEMA),
        ("control", STREAMER, dumps({"streamId": SID, "ended": False}), True, Code.BAD_SCHEMA),
        ("control", STREAMER, dumps({"streamId": SID, "lang": 1}), True, Code.BAD_SCHEMA),
        ("control", STREAMER, dumps({"streamId": SID, "mode": "x"}), True, Code.BAD_SCHEMA),
        ("control", STREAMER, dumps({"streamId": SID, "marker": ""}), True, Code.BAD_SCHEMA),
        ("control", STREAMER, dumps({"streamId": SID, "marker": " \t"}), True, Code.BAD_SCHEMA),
        ("control", STREAMER, dumps({"streamId": SID, "marker": None}), True, Code.BAD_SCHEMA),
        ("control", STREAMER, dumps({"streamId": SID, "marker": "a\u0007"}), True, Code.BAD_SCHEMA),
        ("control", STREAMER, dumps({"streamId": SID, "marker": "m" * 81}), True, Code.TOO_LARGE),
        ("control", WATCHER, dumps({"streamId": SID, "marker": "m"}), True, Code.WRONG_ROLE),
    ],
)
def test_user_event_refused(
    name: str, state: ConnState | None, body: bytes, is_json: bool, code: Code
) -> None:
    result = check_user_event(name, body, is_json, state, NOW)
    assert isinstance(result, Refused)
    assert result.refusal.code == code
    assert result.refusal.message


@pytest.mark.parametrize("name", sorted(EVENT_RULES))
def test_over_rate_is_refused_and_recovers(name: str) -> None:
    rule = EVENT_RULES[name]
    state = STREAMER if rule.role is Role.STREAMER else WATCHER
    body = {
        "sync": {"streamId": SID, "have": None},
        "snapshot": SNAP,
        "control": {"streamId": SID, "title": "x"},
        "catchup": CATCH,
        "watchers": {"streamId": SID},
    }[name]
    accepted = 0
    for _ in range(int(rule.limit.capacity) + 5):
        result = check_user_event(name, dumps(body), True, state, NOW)
        assert result.state is not None
        state = result.state
        if isinstance(result, Checked):
            accepted += 1
        else:
            assert result.refusal.code == Code.RATE_LIMITED
    assert accepted == int(rule.limit.capacity)
    later = NOW + 1 / rule.limit.per_second
    assert isinstance(check_user_event(name, dumps(body), True, state, later), Checked)


@pytest.mark.parametrize(
    ("name", "capacity", "per_second"),
    [
        # docs/protocol.md "Rates" and codestream/contract.json state these numbers
        ("sync", 3, 1.0),
        ("snapshot", 120, 40.0),
        ("control", 10, 2.0),
        ("catchup", 200, 100.0),
        ("watchers", 3, 1.0),
    ],
)
def test_rates_are_the_documented_ones(name: str, capacity: int, per_second: float) -> None:
    assert EVENT_RULES[name].limit == Limit(capacity, per_second)


def test_snapshot_rate_carries_a_join_storm_of_big_documents() -> None:
    # the storm's 20 joins/s each answered twice, or 10 joins/s of a 4-chunk (2 MB) document
    state = STREAMER.with_bucket("snapshot", Bucket(120, NOW))
    accepted = 0
    for tick in range(400):  # 40 chunk events per second for 10 s
        result = check_user_event("snapshot", dumps(SNAP), True, state, NOW + tick / 40)
        state = result.state or state
        accepted += isinstance(result, Checked)
    assert accepted == 400


def test_sync_is_at_most_one_per_second_long_run() -> None:
    state = WATCHER.with_bucket("sync", Bucket(0, NOW))
    accepted = 0
    for tick in range(100):  # 10 per second for 10 s
        result = check_user_event(
            "sync", dumps({"streamId": SID, "have": None}), True, state, NOW + tick / 10
        )
        state = result.state or state
        accepted += isinstance(result, Checked)
    assert 9 <= accepted <= 10


def test_junk_is_charged_against_the_rate() -> None:
    state = WATCHER
    for _ in range(3):
        result = check_user_event("sync", b"{junk", True, state, NOW)
        assert isinstance(result, Refused)
        assert result.refusal.code == Code.BAD_JSON
        state = result.state or state
    result = check_user_event("sync", dumps({"streamId": SID, "have": None}), True, state, NOW)
    assert isinstance(result, Refused)
    assert result.refusal.code == Code.RATE_LIMITED


def test_server_messages() -> None:
    assert sync_request_message("c1", None, TICKET) == {
        "type": "sync-request",
        "connectionId": "c1",
        "have": None,
        "ticket": TICKET,
    }
    assert sync_request_message("c1", Have("e", 3), TICKET)["have"] == {"epoch": "e", "v": 3}
    snap = Snapshot(SID, "conn-1", TICKET, "k3J9", 42, "doc", (0, 2), "python", "T")
    assert snapshot_message(snap) == {
        "type": "snapshot",
        "streamId": SID,
        "epoch": "k3J9",
        "v": 42,
        "doc": "doc",
        "chunk": [0, 2],
        "lang": "python",
        "title": "T",
    }
    catchup = Catchup(SID, "conn-1", TICKET, "k3J9", 40, 42, ([0, 0, "a"],), (1, 1))
    assert catchup_message(catchup) == {  # never the ticket nor `to`
        "type": "catchup",
        "streamId": SID,
        "epoch": "k3J9",
        "from": 40,
        "v": 42,
        "changes": [[0, 0, "a"]],
        "sel": [1, 1],
    }
    assert "sel" not in catchup_message(Catchup(SID, "c", TICKET, "e", 1, 1, ()))
    with_names = Catchup(SID, "c", TICKET, "e", 1, 1, (), None, "go", "")
    assert catchup_message(with_names) | {"lang": "go", "title": ""} == catchup_message(with_names)
    assert "lang" not in catchup_message(Catchup(SID, "c", TICKET, "e", 1, 1, ()))
    assert control_message(Control(SID, ended=True)) == {
        "type": "control",
        "streamId": SID,
        "ended": True,
    }
    assert control_message(Control(SID, marker="step 2"), 1_700_000_000_123) == {
        "type": "control",
        "streamId": SID,
        "marker": {"label": "step 2", "t": 1_700_000_000_123},  # t: the server's time
    }
