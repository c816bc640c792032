"""The emulator as a real process, driven only by Microsoft's Python SDKs.

`azure-messaging-webpubsubservice` for REST and tokens, `azure-messaging-webpubsubclient` for
the reliable subprotocol (including a forced reconnect that must lose nothing).
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.messaging.webpubsubclient import WebPubSubClient, WebPubSubClientCredential
from azure.messaging.webpubsubclient.models import (
    CallbackType,
    SendMessageError,
    WebPubSubDataType,
)
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from codestream.signature import verify
from harness.emulator import (
    HUB,
    RecordingHandler,
    RunningEmulator,
    UpstreamCall,
    handler_config,
    start_emulator,
)

pytestmark = pytest.mark.integration
WAIT = 10.0
ALL_ROLES = ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]


def _respond(call: UpstreamCall) -> tuple[int, dict[str, str], bytes]:
    """The test handler: reject `connect` from user "intruder", echo the `echo` event."""
    if call.event == "connect":
        claims = json.loads(call.body)["claims"]
        if claims.get("sub") == ["intruder"]:
            return 401, {}, b"go away"
        if claims.get("sub") == ["renamed"]:
            body = {"userId": "renamed-by-handler", "groups": ["from-handler"]}
            state = base64.b64encode(b'{"n":0}').decode()
            return 200, {"ce-connectionState": state}, json.dumps(body).encode()
        return 204, {}, b""
    if call.event == "echo":
        state = call.headers.get("ce-connectionState", "")
        text = call.headers["Content-Type"].startswith("text/plain")
        reply = {"echo": call.body.decode() if text else json.loads(call.body), "state": state}
        headers = {"Content-Type": "application/json", "ce-connectionState": "c2Vlbg=="}
        return 200, headers, json.dumps(reply).encode()
    return 204, {}, b""


@pytest.fixture(scope="module")
def handler() -> Iterator[RecordingHandler]:
    with RecordingHandler(_respond) as h:
        yield h


@pytest.fixture(scope="module")
def emulator(handler: RecordingHandler) -> Iterator[RunningEmulator]:
    with start_emulator(handler_config(handler.url)) as emu:
        yield emu


@pytest.fixture
def service(emulator: RunningEmulator) -> WebPubSubServiceClient:
    return WebPubSubServiceClient.from_connection_string(emulator.connection_string, hub=HUB)


class Inbox:
    """Collects what a WebPubSubClient receives; waits are bounded."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.cond = threading.Condition()

    def add(self, item: Any) -> None:
        with self.cond:
            self.items.append(item)
            self.cond.notify_all()

    def wait(self, predicate: Callable[[list[Any]], bool], timeout: float = WAIT) -> list[Any]:
        with self.cond:
            if not self.cond.wait_for(lambda: predicate(self.items), timeout):
                raise TimeoutError(f"not received; got {self.items}")
            return list(self.items)


def _client(service: WebPubSubServiceClient, inbox: Inbox, **token: Any) -> WebPubSubClient:
    def url() -> str:
        return service.get_client_access_token(**token)["url"]

    # no resend of refused messages: the tests check the first answer. The sync SDK can miss
    # an ack that arrives before it starts waiting (then waits ack_timeout): keep that short.
    client = WebPubSubClient(
        credential=WebPubSubClientCredential(url), message_retry_total=0, ack_timeout=2.0
    )
    client.subscribe(CallbackType.GROUP_MESSAGE, lambda e: inbox.add(("group", e.group, e.data)))
    client.subscribe(CallbackType.SERVER_MESSAGE, lambda e: inbox.add(("server", e.data)))
    client.subscribe(CallbackType.CONNECTED, lambda e: inbox.add(("connected", e.connection_id)))
    client.subscribe(CallbackType.DISCONNECTED, lambda e: inbox.add(("disconnected", e.message)))
    return client


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _connection_id(inbox: Inbox) -> str:
    items = inbox.wait(lambda xs: any(x[0] == "connected" for x in xs))
    return next(x[1] for x in items if x[0] == "connected")


def test_rest_sends_reach_group_user_and_connection_with_their_data_types(
    service: WebPubSubServiceClient,
) -> None:
    user, group = _unique("user"), _unique("group")
    inbox = Inbox()
    client = _client(service, inbox, user_id=user, roles=ALL_ROLES)
    client.open()
    try:
        cid = _connection_id(inbox)
        client.join_group(group)
        service.send_to_group(group, {"to": "group"})
        service.send_to_user(user, "plain text", content_type="text/plain")
        service.send_to_connection(cid, b"\x00\x01", content_type="application/octet-stream")
        service.send_to_all({"to": "all"})
        items = inbox.wait(lambda xs: len([x for x in xs if x[0] != "connected"]) >= 4)
        data = [x for x in items if x[0] != "connected"]
        # a REST send to a group is a group message (SDK group-message), as in Azure
        assert data[0] == ("group", group, {"to": "group"})
        assert data[1] == ("server", "plain text")
        assert data[2][0] == "server"
        assert bytes(data[2][1]) == b"\x00\x01"
        assert data[3] == ("server", {"to": "all"})
    finally:
        client.close()


def test_excluded_connection_does_not_receive(service: WebPubSubServiceClient) -> None:
    group = _unique("group")
    inbox_a, inbox_b = Inbox(), Inbox()
    a = _client(service, inbox_a, groups=[group])
    b = _client(service, inbox_b, groups=[group])
    a.open()
    b.open()
    try:
        cid_a = _connection_id(inbox_a)
        _connection_id(inbox_b)
        service.send_to_group(group, {"n": 1}, excluded=[cid_a])
        service.send_to_group(group, {"n": 2})
        inbox_b.wait(lambda xs: len(xs) >= 3)
        inbox_a.wait(lambda xs: ("group", group, {"n": 2}) in xs)
        assert ("group", group, {"n": 1}) not in inbox_a.items
        assert [x for x in inbox_b.items if x[0] == "group"] == [
            ("group", group, {"n": 1}),
            ("group", group, {"n": 2}),
        ]
        assert not [x for x in inbox_b.items if x[0] == "server"]
    finally:
        a.close()
        b.close()


def test_client_send_to_group_with_no_echo(service: WebPubSubServiceClient) -> None:
    group = _unique("group")
    sender_inbox, watcher_inbox = Inbox(), Inbox()
    sender = _client(
        service, sender_inbox, user_id="streamer", roles=[f"webpubsub.sendToGroup.{group}"]
    )
    watcher = _client(service, watcher_inbox, groups=[group])
    sender.open()
    watcher.open()
    try:
        _connection_id(watcher_inbox)
        sender.send_to_group(group, {"type": "delta", "v": 1}, WebPubSubDataType.JSON, no_echo=True)
        items = watcher_inbox.wait(lambda xs: any(x[0] == "group" for x in xs))
        assert ("group", group, {"type": "delta", "v": 1}) in items
        # the sender may not join the group it can only send to
        with pytest.raises(SendMessageError) as err:
            sender.join_group(group)
        assert err.value.error_detail.name == "Forbidden"
        assert not [x for x in sender_inbox.items if x[0] == "group"]
    finally:
        sender.close()
        watcher.close()


def test_group_and_user_management_and_exists_checks(service: WebPubSubServiceClient) -> None:
    user, group = _unique("user"), _unique("group")
    inbox = Inbox()
    client = _client(service, inbox, user_id=user)
    client.open()
    try:
        cid = _connection_id(inbox)
        assert service.connection_exists(cid)
        assert not service.connection_exists("no-such-connection")
        assert service.user_exists(user)
        assert not service.group_exists(group)
        assert list(service.list_connections(group=group)) == []
        service.add_connection_to_group(group, cid)
        assert service.group_exists(group)
        members = list(service.list_connections(group=group))
        assert [(m.connection_id, m.user_id) for m in members] == [(cid, user)]
        service.remove_connection_from_group(group, cid)
        assert not service.group_exists(group)
        service.add_user_to_group(group, user)
        assert service.group_exists(group)
        service.remove_user_from_group(group, user)
        assert not service.group_exists(group)
        service.add_user_to_group(group, user)
        service.remove_user_from_all_groups(user)
        assert not service.group_exists(group)
        service.add_connection_to_group(group, cid)
        service.remove_connection_from_all_groups(cid)
        assert not service.group_exists(group)
        with pytest.raises(HttpResponseError) as err:
            service.add_connection_to_group(group, "no-such-connection")
        assert err.value.status_code == 404
    finally:
        client.close()


def test_list_connections_pages(service: WebPubSubServiceClient) -> None:
    group = _unique("group")
    inboxes = [Inbox() for _ in range(3)]
    clients = [_client(service, inbox, groups=[group]) for inbox in inboxes]
    for c in clients:
        c.open()
    try:
        cids = sorted(_connection_id(i) for i in inboxes)
        pages = list(service.list_connections(group=group, maxpagesize=2).by_page())
        assert [len(p) for p in pages] == [2, 1]
        assert sorted(m.connection_id for p in pages for m in p) == cids
        assert len(list(service.list_connections(group=group, top=2))) == 2
    finally:
        for c in clients:
            c.close()


def test_permissions_grant_check_revoke(service: WebPubSubServiceClient) -> None:
    group = _unique("group")
    inbox = Inbox()
    client = _client(service, inbox)
    client.open()
    try:
        cid = _connection_id(inbox)
        assert not service.has_permission("joinLeaveGroup", cid, target_name=group)
        with pytest.raises(SendMessageError) as err:
            client.join_group(group)
        assert err.value.error_detail.name == "Forbidden"
        service.grant_permission("joinLeaveGroup", cid, target_name=group)
        assert service.has_permission("joinLeaveGroup", cid, target_name=group)
        assert not service.has_permission("joinLeaveGroup", cid)
        client.join_group(group)
        assert service.group_exists(group)
        service.revoke_permission("joinLeaveGroup", cid, target_name=group)
        assert not service.has_permission("joinLeaveGroup", cid, target_name=group)
        with pytest.raises(SendMessageError):
            client.leave_group(group)
    finally:
        client.close()


def test_close_connection_with_reason(service: WebPubSubServiceClient) -> None:
    inbox = Inbox()
    client = _client(service, inbox)
    client.open()
    try:
        cid = _connection_id(inbox)
        service.close_connection(cid, reason="stream replaced")
        items = inbox.wait(lambda xs: any(x[0] == "disconnected" for x in xs))
        assert ("disconnected", "stream replaced") in items
        assert not service.connection_exists(cid)
    finally:
        client.close()


@pytest.mark.parametrize("scope", ["all", "group", "user"])
def test_close_many_honours_excluded(service: WebPubSubServiceClient, scope: str) -> None:
    user, group = _unique("user"), _unique("group")
    inboxes = [Inbox(), Inbox()]
    clients = [_client(service, i, user_id=user, groups=[group]) for i in inboxes]
    for c in clients:
        c.open()
    try:
        keep, gone = (_connection_id(i) for i in inboxes)
        if scope == "all":
            service.close_all_connections(excluded=[keep], reason="bye")
        elif scope == "group":
            service.close_group_connections(group, excluded=[keep], reason="bye")
        else:
            service.close_user_connections(user, excluded=[keep], reason="bye")
        inboxes[1].wait(lambda xs: ("disconnected", "bye") in xs)
        assert service.connection_exists(keep)
        assert not service.connection_exists(gone)
    finally:
        for c in clients:
            c.close()


def test_upstream_connect_connected_disconnected_with_signature(
    service: WebPubSubServiceClient, handler: RecordingHandler, emulator: RunningEmulator
) -> None:
    inbox = Inbox()
    client = _client(service, inbox, user_id="renamed", roles=ALL_ROLES)
    client.open()
    cid = _connection_id(inbox)
    connect = next(c for c in handler.events("connect") if c.headers["ce-connectionId"] == cid)
    h = connect.headers
    assert h["ce-type"] == "azure.webpubsub.sys.connect"
    assert h["ce-specversion"] == "1.0"
    assert h["ce-source"] == f"/hubs/{HUB}/client/{cid}"
    assert h["ce-hub"] == HUB
    assert h["ce-userId"] == "renamed"
    assert h["ce-eventName"] == "connect"
    assert h["WebHook-Request-Origin"] == f"127.0.0.1:{emulator.port}"
    assert verify(cid, h["ce-signature"], [emulator.access_key])
    body = json.loads(connect.body)
    assert body["subprotocols"] == ["json.reliable.webpubsub.azure.v1"]
    assert "access_token" not in body["query"]
    # the handler renamed the user and added a group: REST sees both
    assert service.user_exists("renamed-by-handler")
    assert [m.connection_id for m in service.list_connections(group="from-handler")] == [cid]
    connected = handler.wait_for_connection("connected", cid)
    assert connected.headers["ce-userId"] == "renamed-by-handler"
    assert connected.headers["ce-connectionState"] == base64.b64encode(b'{"n":0}').decode()
    assert connected.headers["ce-subprotocol"] == "json.reliable.webpubsub.azure.v1"
    client.close()
    disconnected = handler.wait_for_connection("disconnected", cid)
    assert "reason" in json.loads(disconnected.body)
    assert verify(cid, disconnected.headers["ce-signature"], [emulator.access_key])


def test_connect_refused_by_handler_fails_the_client(service: WebPubSubServiceClient) -> None:
    client = _client(service, Inbox(), user_id="intruder")
    with pytest.raises(Exception, match="401"):
        client.open()


def test_user_event_reply_and_connection_state_round_trip(
    service: WebPubSubServiceClient, handler: RecordingHandler
) -> None:
    inbox = Inbox()
    client = _client(service, inbox, user_id="renamed")
    client.open()
    try:
        cid = _connection_id(inbox)
        client.send_event("echo", {"hello": "world"}, WebPubSubDataType.JSON)
        items = inbox.wait(lambda xs: any(x[0] == "server" for x in xs))
        reply = next(x[1] for x in items if x[0] == "server")
        assert reply == {"echo": {"hello": "world"}, "state": base64.b64encode(b'{"n":0}').decode()}
        client.send_event("echo", "second", WebPubSubDataType.TEXT)
        items = inbox.wait(lambda xs: len([x for x in xs if x[0] == "server"]) >= 2)
        second = [x[1] for x in items if x[0] == "server"][1]
        assert second == {"echo": "second", "state": "c2Vlbg=="}
        call = handler.wait_for_connection("echo", cid)
        assert call.headers["ce-type"] == "azure.webpubsub.user.echo"
        assert call.headers["Content-Type"].startswith("application/json")
    finally:
        client.close()


def test_forced_reconnect_loses_no_message(
    service: WebPubSubServiceClient, emulator: RunningEmulator
) -> None:
    group = _unique("group")
    inbox = Inbox()
    client = _client(service, inbox, groups=[group])
    client.open()
    try:
        cid = _connection_id(inbox)
        total = 300
        for n in range(total):
            if n == 100:
                # cut the TCP connection under the client, as a network failure would
                drop = HttpRequest("POST", f"/_emulator/hubs/{HUB}/connections/{cid}/:drop")
                assert service.send_request(drop).status_code == 204
            service.send_to_group(group, {"n": n})
        items = inbox.wait(lambda xs: len([x for x in xs if x[0] == "group"]) >= total, 40)
        received = [x[2]["n"] for x in items if x[0] == "group"]
        assert received == list(range(total))
        # the same connection was recovered: one `connected`, still a member of its group
        assert [x for x in items if x[0] == "connected"] == [("connected", cid)]
        assert not [x for x in items if x[0] == "disconnected"]
        assert [m.connection_id for m in service.list_connections(group=group)] == [cid]
    finally:
        client.close()


def test_generate_token_through_rest_works_for_a_client(
    service: WebPubSubServiceClient, emulator: RunningEmulator
) -> None:
    request = HttpRequest(
        "POST",
        f"/api/hubs/{HUB}/:generateToken",
        params={"api-version": "2024-12-01", "userId": "minted", "minutesToExpire": "5"},
    )
    response = service.send_request(request)
    assert response.status_code == 200
    token = response.json()["token"]
    url = f"{emulator.ws_endpoint}/client/hubs/{HUB}?access_token={token}"
    inbox = Inbox()
    client = WebPubSubClient(credential=WebPubSubClientCredential(lambda: url))
    client.subscribe(CallbackType.CONNECTED, lambda e: inbox.add(("connected", e.user_id)))
    client.open()
    try:
        assert inbox.wait(lambda xs: bool(xs)) == [("connected", "minted")]
    finally:
        client.close()
