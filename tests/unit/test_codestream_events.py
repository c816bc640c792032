"""The event handler's decisions: connect, every refusal, and which service calls each event
makes (tickets instead of group listings; counts only when the streamer asks).

The service client factory fails the test if called: a refused event must cause no call.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from codestream import signature
from codestream.config import load_settings
from codestream.contract import CONTRACT
from codestream.errors import Code, Refusal
from codestream.events import EventHandler, decide_connect
from codestream.state import ConnState, Role, decode_state
from codestream.tickets import Tickets
from codestream.upstream_auth import UpstreamAuth
from harness.azurite import NO_STORAGE

SID = "stream-abc-123"
KEY = "test-access-key"
SETTINGS = load_settings(
    {
        "WebPubSubConnectionString": f"Endpoint=http://127.0.0.1:8081;AccessKey={KEY};Version=1.0;",
        "OwnerKeySecret": "s" * 32,
        **NO_STORAGE,
    }
)
SEND = f"webpubsub.sendToGroup.{SID}"


@pytest.mark.parametrize(
    ("user_id", "claims", "expected"),
    [
        (f"streamer:{SID}", {"role": [SEND]}, ConnState(Role.STREAMER, SID)),
        (
            f"streamer:{SID}",
            {"http://schemas.microsoft.com/ws/2008/06/identity/claims/role": [SEND]},
            ConnState(Role.STREAMER, SID),
        ),
        ("watcher:x1", {"webpubsub.group": [SID]}, ConnState(Role.WATCHER, SID)),
    ],
)
def test_connect_accepts_negotiated_tokens(
    user_id: str, claims: dict[str, list[str]], expected: ConnState
) -> None:
    assert decide_connect(user_id, claims) == expected


@pytest.mark.parametrize(
    ("user_id", "claims"),
    [
        (None, {"webpubsub.group": [SID]}),  # anonymous
        ("alice", {"webpubsub.group": [SID]}),
        (f"streamer:{SID}", {}),  # no permission
        (f"streamer:{SID}", {"role": ["webpubsub.sendToGroup.other-stream-1"]}),
        (f"streamer:{SID}", {"role": [SEND, "webpubsub.joinLeaveGroup"]}),  # more than needed
        (f"streamer:{SID}", {"role": [SEND], "webpubsub.group": [SID]}),
        ("streamer:short", {"role": ["webpubsub.sendToGroup.short"]}),
        ("watcher:x1", {}),  # no stream
        ("watcher:x1", {"webpubsub.group": [SID, "stream-other-1"]}),
        ("watcher:x1", {"webpubsub.group": ["bad group"]}),
        ("watcher:x1", {"webpubsub.group": [SID], "role": ["webpubsub.sendToGroup"]}),
    ],
)
def test_connect_refuses_other_tokens(user_id: str | None, claims: dict[str, list[str]]) -> None:
    result = decide_connect(user_id, claims)
    assert isinstance(result, Refusal)
    assert result.code == Code.BAD_CLAIMS


def no_service() -> Any:
    raise AssertionError("a refused event must not call the service")


HANDLER = EventHandler(SETTINGS, UpstreamAuth(SETTINGS), no_service, clock=lambda: 1000.0)
WATCHER_STATE = ConnState(Role.WATCHER, SID).encode()


def ce(name: str, *, conn: str = "conn-1", sig: str | None = None, **extra: str) -> dict[str, str]:
    system = name in ("connect", "connected", "disconnected")
    headers = {
        "ce-specversion": "1.0",
        "ce-type": ("azure.webpubsub.sys." if system else "azure.webpubsub.user.") + name,
        "ce-eventName": name,
        "ce-connectionId": conn,
        "ce-hub": "codestream",
        "ce-signature": sig if sig is not None else signature.sign(conn, KEY),
        "Content-Type": "application/json",
    }
    headers.update(extra)
    return headers


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


async def test_connect_stores_role_and_stream() -> None:
    result = await HANDLER.handle(
        "POST",
        ce("connect", **{"ce-userId": "watcher:w1"}),
        body({"claims": {"webpubsub.group": [SID]}}),
    )
    assert result.status == 200
    assert decode_state(result.headers["ce-connectionState"]) == ConnState(Role.WATCHER, SID)


@pytest.mark.parametrize(
    ("method", "headers", "payload", "status", "code"),
    [
        # forged / unsigned: refused before anything else
        (
            "POST",
            ce("sync", sig=signature.sign("conn-1", "guessed-key")),
            b"{}",
            401,
            "unauthenticated",
        ),
        ("POST", ce("sync", sig=""), b"{}", 401, "unauthenticated"),
        ("POST", ce("sync", sig=signature.sign("conn-2", KEY)), b"{}", 401, "unauthenticated"),
        ("POST", ce("connect", sig=""), b"{}", 401, "unauthenticated"),
        # framing
        ("POST", {"Content-Type": "application/json"}, b"{}", 400, "bad_cloudevent"),
        ("POST", ce("sync", **{"ce-hub": "otherhub"}), b"{}", 400, "wrong_hub"),
        ("GET", {}, b"", 405, "method_not_allowed"),
        ("OPTIONS", {"WebHook-Request-Origin": "evil.example"}, b"", 400, "origin_not_allowed"),
        # connect with a token negotiate never issues
        (
            "POST",
            ce("connect", **{"ce-userId": "watcher:w1"}),
            body({"claims": {"webpubsub.group": [SID], "role": ["webpubsub.joinLeaveGroup"]}}),
            401,
            "bad_claims",
        ),
        ("POST", ce("connect", **{"ce-userId": "root"}), body({"claims": {}}), 401, "bad_claims"),
        ("POST", ce("connect"), b"{", 400, "bad_json"),
    ],
)
async def test_http_refusals(
    method: str, headers: dict[str, str], payload: bytes, status: int, code: str
) -> None:
    result = await HANDLER.handle(method, headers, payload)
    assert result.status == status
    assert result.json()["error"]["code"] == code
    assert "ce-connectionState" not in result.headers


@pytest.mark.parametrize(
    ("name", "state", "payload", "code"),
    [
        ("hello", WATCHER_STATE, body({"streamId": SID}), "unknown_event"),
        ("snapshot", WATCHER_STATE, body({"streamId": SID}), "wrong_role"),
        ("control", WATCHER_STATE, body({"streamId": SID, "ended": True}), "wrong_role"),
        ("sync", WATCHER_STATE, b"{oops", "bad_json"),
        ("sync", WATCHER_STATE, body({"streamId": "stream-other-1", "have": None}), "other_stream"),
        ("sync", WATCHER_STATE, b"[" * 2000, "too_large"),
        ("sync", "", body({"streamId": SID, "have": None}), "no_state"),
        ("sync", "forged-state", body({"streamId": SID, "have": None}), "no_state"),
    ],
)
async def test_user_event_refusals_reach_the_sender(
    name: str, state: str, payload: bytes, code: str
) -> None:
    headers = ce(name, **({"ce-connectionState": state} if state else {}))
    result = await HANDLER.handle("POST", headers, payload)
    assert result.status == 200  # so the service forwards it and keeps the connection
    assert result.json()["type"] == "error"
    assert result.json()["code"] == code


async def test_over_rate_refusal_updates_the_state() -> None:
    state = WATCHER_STATE
    codes = []
    for _ in range(5):
        result = await HANDLER.handle("POST", ce("sync", **{"ce-connectionState": state}), b"{oops")
        codes.append(result.json()["code"])
        state = result.headers.get("ce-connectionState", state)
    assert codes == ["bad_json"] * 3 + ["rate_limited"] * 2


async def test_abuse_protection_for_own_service() -> None:
    result = await HANDLER.handle("OPTIONS", {"WebHook-Request-Origin": "127.0.0.1:8081"}, b"")
    assert result.status == 200
    assert result.headers == {"WebHook-Allowed-Origin": "127.0.0.1:8081"}


# ---------------------------------------------------------------- tickets, catchup, watchers


class Member:
    def __init__(self, connection_id: str) -> None:
        self.connection_id = connection_id


class Members:
    def __init__(self, ids: list[str]) -> None:
        self._ids = ids

    async def _gen(self) -> Any:
        for cid in self._ids:
            yield Member(cid)

    def __aiter__(self) -> Any:
        return self._gen()


class RecordingService:
    """Answers like a service with one streamer online and `members` in the group; records
    every call. The real SDK path is tested against the emulator (tests/integration)."""

    def __init__(self, members: list[str] | None = None) -> None:
        self.members = members or []
        self.calls: list[tuple[Any, ...]] = []
        self.close_reasons: list[str | None] = []

    def list_connections(self, *, group: str) -> Members:
        self.calls.append(("list_connections", group))
        return Members(self.members)

    async def user_exists(self, user_id: str) -> bool:
        self.calls.append(("user_exists", user_id))
        return True

    async def send_to_user(self, user_id: str, message: Any, *, content_type: str) -> None:
        self.calls.append(("send_to_user", user_id, message))

    async def send_to_connection(self, conn: str, message: Any, *, content_type: str) -> None:
        self.calls.append(("send_to_connection", conn, message))

    async def send_to_group(self, group: str, message: Any, *, content_type: str) -> None:
        self.calls.append(("send_to_group", group, message))

    async def close_user_connections(self, user_id: str, **kwargs: Any) -> None:
        self.calls.append(("close_user_connections", user_id))
        self.close_reasons.append(kwargs.get("reason"))


STREAMER_STATE = ConnState(Role.STREAMER, SID).encode()
TICKETS = Tickets(SETTINGS.owner_key_secret)


def recording(members: list[str] | None = None) -> tuple[EventHandler, RecordingService]:
    service = RecordingService(members)
    handler = EventHandler(SETTINGS, UpstreamAuth(SETTINGS), lambda: service, clock=lambda: 1e9)
    return handler, service


async def send(handler: EventHandler, name: str, state: str, data: Any, conn: str = "c-s") -> Any:
    result = await handler.handle(
        "POST", ce(name, conn=conn, **{"ce-connectionState": state}), body(data)
    )
    return result


async def test_sync_request_carries_the_watchers_ticket() -> None:
    handler, service = recording()
    result = await send(handler, "sync", WATCHER_STATE, {"streamId": SID, "have": None}, "w-1")
    assert result.status == 204
    assert service.calls == [
        ("user_exists", f"streamer:{SID}"),
        (
            "send_to_user",
            f"streamer:{SID}",
            {
                "type": "sync-request",
                "connectionId": "w-1",
                "have": None,
                "ticket": TICKETS.issue(SID, "w-1"),
            },
        ),
    ]


SNAP = {"streamId": SID, "to": "w-1", "epoch": "e1", "v": 3, "doc": "abc", "chunk": [0, 1]}
CATCH = {"streamId": SID, "to": "w-1", "epoch": "e1", "from": 1, "v": 3, "changes": [[0, 0, "x"]]}


@pytest.mark.parametrize("name", ["snapshot", "catchup"])
async def test_answers_with_the_right_ticket_go_to_that_watcher_alone(name: str) -> None:
    handler, service = recording()
    data = {**(SNAP if name == "snapshot" else CATCH), "ticket": TICKETS.issue(SID, "w-1")}
    result = await send(handler, name, STREAMER_STATE, data)
    assert result.status == 204
    expected = (
        {"type": "snapshot", "streamId": SID, "epoch": "e1", "v": 3, "doc": "abc", "chunk": [0, 1]}
        if name == "snapshot"
        else {
            "type": "catchup",
            "streamId": SID,
            "epoch": "e1",
            "from": 1,
            "v": 3,
            "changes": [[0, 0, "x"]],
        }
    )
    assert service.calls == [("send_to_connection", "w-1", expected)]  # no group listing


@pytest.mark.parametrize("name", ["snapshot", "catchup"])
@pytest.mark.parametrize(
    "ticket",
    [
        TICKETS.issue(SID, "w-2"),  # another watcher's
        TICKETS.issue("stream-other-1", "w-1"),  # this connection's on another stream
        Tickets("another secret of 32 characters!!").issue(SID, "w-1"),  # another deployment's
        "x" * 43,
        TICKETS.issue(SID, "w-1")[:-1],
        "\ud800",
    ],
)
async def test_answers_with_any_other_ticket_are_refused(name: str, ticket: str) -> None:
    handler, service = recording()
    data = {**(SNAP if name == "snapshot" else CATCH), "ticket": ticket}
    result = await send(handler, name, STREAMER_STATE, data)
    assert result.status == 200
    assert result.json()["type"] == "error"
    assert result.json()["code"] == "not_a_watcher"
    assert service.calls == []
    assert "ce-connectionState" in result.headers  # the rate charge is kept


async def test_watchers_are_counted_once_and_answered_in_the_reply() -> None:
    handler, service = recording(["w-1", "w-2", "w-3"])
    result = await send(handler, "watchers", STREAMER_STATE, {"streamId": SID})
    assert result.status == 200
    assert result.json() == {"type": "watchers", "count": 3}
    assert service.calls == [("list_connections", SID)]


async def test_watcher_joins_and_leaves_cost_no_call() -> None:
    handler, service = recording(["w-1"])
    for name in ("connected", "disconnected"):
        result = await handler.handle(
            "POST", ce(name, conn="w-1", **{"ce-connectionState": WATCHER_STATE}), b"{}"
        )
        assert result.status == 204
    assert service.calls == []


async def test_streamer_connected_sends_live_and_no_count() -> None:
    handler, service = recording(["w-1"])
    result = await handler.handle(
        "POST", ce("connected", conn="s-1", **{"ce-connectionState": STREAMER_STATE}), b"{}"
    )
    assert result.status == 204
    assert service.calls == [
        ("close_user_connections", f"streamer:{SID}"),
        ("send_to_group", SID, {"type": "status", "state": "live"}),
    ]
    # the reason the replaced page reads to stop instead of reconnecting (contract.json)
    assert service.close_reasons == [CONTRACT.streamer_replaced_reason]
