"""Where the emulator now behaves as the service does (issue 12), against the real process.

Microsoft's Python SDKs where they cover the behaviour (the service client, the client's
group-message callback); raw HTTP and WebSocket only for what no SDK sends (a close frame
with code 1001, a `sequenceAck` on the plain protocol, forwarded headers, bad media types).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import jwt
import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.messaging.webpubsubclient import WebPubSubClient, WebPubSubClientCredential
from azure.messaging.webpubsubclient.models import CallbackType
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from harness.emulator import HUB, RecordingHandler, RunningEmulator, start_emulator

pytestmark = pytest.mark.integration
WAIT = 10.0
JSON_V1 = "json.webpubsub.azure.v1"
RELIABLE = "json.reliable.webpubsub.azure.v1"
API = "api-version=2024-12-01"


@pytest.fixture(scope="module")
def handler() -> Iterator[RecordingHandler]:
    with RecordingHandler() as h:
        yield h


@pytest.fixture(scope="module")
def emulator(handler: RecordingHandler) -> Iterator[RunningEmulator]:
    # `{event}` in the template: events go to /api/<event>, abuse protection to /api/validate
    url = f"http://127.0.0.1:{handler.port}/api/{{event}}"
    config = {
        "hubs": {
            HUB: {
                "eventHandlers": [
                    {
                        "urlTemplate": url,
                        "userEventPattern": "*",
                        "systemEvents": ["connect", "connected", "disconnected"],
                    }
                ]
            }
        }
    }
    with start_emulator(config, extra_args=["--recovery-window", "30"]) as emu:
        yield emu


@pytest.fixture
def service(emulator: RunningEmulator) -> WebPubSubServiceClient:
    return WebPubSubServiceClient.from_connection_string(emulator.connection_string, hub=HUB)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Inbox:
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


def _sdk_client(service: WebPubSubServiceClient, inbox: Inbox, **token: Any) -> WebPubSubClient:
    client = WebPubSubClient(
        credential=WebPubSubClientCredential(
            lambda: service.get_client_access_token(**token)["url"]
        ),
        message_retry_total=0,
        ack_timeout=2.0,
    )
    client.subscribe(CallbackType.CONNECTED, lambda e: inbox.add(("connected", e.connection_id)))
    client.subscribe(
        CallbackType.GROUP_MESSAGE, lambda e: inbox.add(("group", e.group, e.from_user_id, e.data))
    )
    client.subscribe(CallbackType.SERVER_MESSAGE, lambda e: inbox.add(("server", e.data)))
    return client


def _connection_id(inbox: Inbox) -> str:
    items = inbox.wait(lambda xs: any(x[0] == "connected" for x in xs))
    return str(next(x[1] for x in items if x[0] == "connected"))


def _token(emu: RunningEmulator, url: str) -> dict[str, str]:
    token = jwt.encode({"aud": url, "exp": int(time.time()) + 300}, emu.access_key, "HS256")
    return {"Authorization": f"Bearer {token}"}


async def _ws(
    http: aiohttp.ClientSession, url: str, protocol: str = JSON_V1
) -> aiohttp.ClientWebSocketResponse:
    return await http.ws_connect(url, protocols=(protocol,), max_msg_size=0)


async def _json(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=WAIT)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return dict(json.loads(msg.data))


# --- 1. a REST send to a group is a group message ------------------------------------------
def test_rest_send_to_group_fires_the_sdk_group_message_callback(
    service: WebPubSubServiceClient,
) -> None:
    group = _unique("room")
    inbox = Inbox()
    client = _sdk_client(service, inbox, groups=[group])
    client.open()
    try:
        _connection_id(inbox)
        service.send_to_group(group, {"status": "live"})
        items = inbox.wait(lambda xs: any(x[0] == "group" for x in xs))
        assert ("group", group, None, {"status": "live"}) in items
        assert not [x for x in items if x[0] == "server"]
    finally:
        client.close()


async def test_rest_group_frame_is_exactly_the_documented_shape(
    http: aiohttp.ClientSession, service: WebPubSubServiceClient
) -> None:
    group = _unique("room")
    ws = await _ws(http, service.get_client_access_token(groups=[group])["url"])
    await _json(ws)  # connected
    await asyncio.to_thread(service.send_to_group, group, {"n": 1})
    assert await _json(ws) == {
        "type": "message",
        "from": "group",
        "group": group,
        "fromUserId": None,
        "dataType": "json",
        "data": {"n": 1},
    }
    await ws.close()


# --- 2. abuse protection at the template's `validate` URL ----------------------------------
def test_abuse_protection_resolves_event_to_validate(
    service: WebPubSubServiceClient, handler: RecordingHandler
) -> None:
    inbox = Inbox()
    client = _sdk_client(service, inbox)
    client.open()
    try:
        cid = _connection_id(inbox)
        handler.wait_for_connection("connected", cid)
        options = [c.path for c in handler.calls if c.method == "OPTIONS"]
        assert options == ["/api/validate"]  # once, before the first event
        posts = {c.path for c in handler.calls if c.method == "POST"}
        assert {"/api/connect", "/api/connected"} <= posts
    finally:
        client.close()


# --- 3. adding a user who has no connection ------------------------------------------------
def test_add_user_without_connection_is_404_and_not_remembered(
    service: WebPubSubServiceClient,
) -> None:
    user, group = _unique("user"), _unique("group")
    with pytest.raises(HttpResponseError) as err:
        service.add_user_to_group(group, user)
    assert err.value.status_code == 404
    inbox = Inbox()
    client = _sdk_client(service, inbox, user_id=user)
    client.open()
    try:
        _connection_id(inbox)
        assert service.user_exists(user)
        assert not service.group_exists(group)  # the earlier add left nothing behind
        service.add_user_to_group(group, user)  # now it has a connection: 200
        assert service.group_exists(group)
    finally:
        client.close()


# --- 4. OData filter, bulk group routes, unknown routes ------------------------------------
def test_filter_on_send_to_all_group_and_user(service: WebPubSubServiceClient) -> None:
    group = _unique("room")
    alice, bob = _unique("alice"), _unique("bob")
    inboxes = {alice: Inbox(), bob: Inbox()}
    clients = {u: _sdk_client(service, i, user_id=u, groups=[group]) for u, i in inboxes.items()}
    for c in clients.values():
        c.open()
    try:
        cids = {u: _connection_id(i) for u, i in inboxes.items()}
        service.send_to_all({"n": 1}, filter=f"userId eq '{alice}'")
        service.send_to_group(group, {"n": 2}, filter=f"connectionId ne '{cids[alice]}'")
        service.send_to_user(bob, {"n": 3}, filter=f"'{group}' in groups")
        service.send_to_user(bob, {"n": 4}, filter="'elsewhere' in groups")
        service.send_to_all({"n": 5})  # barrier: everything before it has been delivered
        for inbox in inboxes.values():
            inbox.wait(lambda xs: any(x[-1] == {"n": 5} for x in xs))
        got = {u: [x[-1]["n"] for x in i.items if x[0] != "connected"] for u, i in inboxes.items()}
        assert got == {alice: [1, 5], bob: [2, 3, 5]}
        with pytest.raises(HttpResponseError) as err:
            service.send_to_all({"n": 6}, filter="not length(userId) gt 5")
        assert err.value.status_code == 400
        assert "Invalid syntax" in str(err.value.message)
    finally:
        for c in clients.values():
            c.close()


def test_bulk_add_and_remove_by_filter(service: WebPubSubServiceClient) -> None:
    team, other = _unique("team"), _unique("other")
    vip = _unique("vip")
    inboxes = [Inbox(), Inbox()]
    a = _sdk_client(service, inboxes[0], user_id=vip)
    b = _sdk_client(service, inboxes[1], user_id=_unique("plain"))
    a.open()
    b.open()
    try:
        cid_a, _cid_b = (_connection_id(i) for i in inboxes)

        def bulk(op: str, body: dict[str, Any]) -> int:
            request = HttpRequest(
                "POST", f"/api/hubs/{HUB}/:{op}", params={"api-version": "2024-12-01"}, json=body
            )
            return int(service.send_request(request).status_code)

        assert bulk("addToGroups", {"groups": [team, other], "filter": f"userId eq '{vip}'"}) == 200
        assert [m.connection_id for m in service.list_connections(group=team)] == [cid_a]
        assert [m.connection_id for m in service.list_connections(group=other)] == [cid_a]
        assert bulk("removeFromGroups", {"groups": [other], "filter": f"'{team}' in groups"}) == 200
        assert not service.group_exists(other)
        assert service.group_exists(team)
        assert bulk("addToGroups", {"groups": [], "filter": "true"}) == 400
        assert bulk("addToGroups", {"groups": [team], "filter": "userId gt 1"}) == 400
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"/api/hubs/{HUB}/:nothingHere"),
        ("GET", f"/api/hubs/{HUB}/groups"),
        ("POST", "/api/nowhere"),
    ],
)
def test_unknown_routes_are_404(service: WebPubSubServiceClient, method: str, path: str) -> None:
    response = service.send_request(HttpRequest(method, path, params={"api-version": "2024-12-01"}))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NotFound"


# --- 5. recovery after a client close frame such as 1001 -----------------------------------
async def test_reliable_connection_recovers_after_close_1001(
    http: aiohttp.ClientSession, service: WebPubSubServiceClient, emulator: RunningEmulator
) -> None:
    group = _unique("room")
    ws = await _ws(http, service.get_client_access_token(groups=[group])["url"], RELIABLE)
    first = await _json(ws)
    await ws.close(code=1001)  # "going away": a tab that sleeps or navigates
    await asyncio.to_thread(service.send_to_group, group, {"while": "away"})
    assert await asyncio.to_thread(service.connection_exists, first["connectionId"])
    resume = (
        f"{emulator.ws_endpoint}/client/hubs/{HUB}?awps_connection_id={first['connectionId']}"
        f"&awps_reconnection_token={first['reconnectionToken']}"
    )
    back = await _ws(http, resume, RELIABLE)
    again = await _json(back)
    assert again["connectionId"] == first["connectionId"]
    missed = await _json(back)
    assert (missed["sequenceId"], missed["data"]) == (1, {"while": "away"})
    await back.close()  # 1000: a deliberate end, the connection goes at once
    for _ in range(50):
        if not await asyncio.to_thread(service.connection_exists, first["connectionId"]):
            break
        await asyncio.sleep(0.1)
    assert not await asyncio.to_thread(service.connection_exists, first["connectionId"])


# --- 6. messageTtlSeconds ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ttl", "status"),
    [("0", 202), ("300", 202), ("301", 400), ("-1", 400), ("1.5", 400), ("+5", 400), ("x", 400)],
)
@pytest.mark.parametrize("target", ["", "/groups/g", "/users/u", "/connections/c"])
def test_message_ttl_is_validated(
    service: WebPubSubServiceClient, target: str, ttl: str, status: int
) -> None:
    # the Python SDK (1.3.0) has no keyword for it: its pipeline signs a request that has it
    request = HttpRequest(
        "POST",
        f"/api/hubs/{HUB}{target}/:send",
        params={"api-version": "2024-12-01", "messageTtlSeconds": ttl},
        json={"ttl": ttl},
    )
    response = service.send_request(request)
    assert response.status_code == status
    if status == 400:
        assert "messageTtlSeconds" in response.json()["error"]["message"]


# --- 7. smaller differences ----------------------------------------------------------------
def test_missing_connection_has_the_services_error_code(service: WebPubSubServiceClient) -> None:
    with pytest.raises(HttpResponseError) as err:
        service.add_connection_to_group(_unique("g"), "no-such-connection")
    assert err.value.status_code == 404
    assert err.value.response.headers["x-ms-error-code"] == "Error.Connection.NotExisted"
    assert err.value.error.code == "Error.Connection.NotExisted"
    response = service.send_request(
        HttpRequest(
            "HEAD", f"/api/hubs/{HUB}/groups/{_unique('g')}", params={"api-version": "2024-12-01"}
        )
    )
    assert (response.status_code, response.headers["x-ms-error-code"]) == (
        404,
        "Warning.Group.NotExisted",
    )


def test_unsupported_api_version_is_400(emulator: RunningEmulator) -> None:
    old = WebPubSubServiceClient.from_connection_string(
        emulator.connection_string, hub=HUB, api_version="2020-01-01"
    )
    with pytest.raises(HttpResponseError) as err:
        old.send_to_all({"n": 1})
    assert err.value.status_code == 400
    assert err.value.response.headers["x-ms-error-code"] == "UnsupportedApiVersion"
    for version in ("2021-10-01", "2024-12-01"):
        ok = WebPubSubServiceClient.from_connection_string(
            emulator.connection_string, hub=HUB, api_version=version
        )
        assert ok.group_exists(_unique("g")) is False  # a plain 404, not a 400


async def test_unsupported_content_type_is_415(
    http: aiohttp.ClientSession, emulator: RunningEmulator
) -> None:
    url = f"{emulator.endpoint}/api/hubs/{HUB}/:send?{API}"
    headers = {**_token(emulator, url), "Content-Type": "application/xml"}
    async with http.post(url, data=b"<m/>", headers=headers) as resp:
        assert resp.status == 415
        body = await resp.json()
        assert resp.headers["x-ms-error-code"] == body["error"]["code"] == "UnsupportedMediaType"


async def test_sequence_ack_on_the_plain_protocol_is_ignored(
    http: aiohttp.ClientSession, service: WebPubSubServiceClient
) -> None:
    ws = await _ws(http, service.get_client_access_token()["url"], JSON_V1)
    await _json(ws)
    await ws.send_json({"type": "sequenceAck", "sequenceId": 3})
    await ws.send_json({"type": "ping"})
    assert await _json(ws) == {"type": "pong"}  # still connected, nothing in between
    await ws.close()


@pytest.mark.parametrize("name", ["1st", "with space", "a/b", "é"])
async def test_invalid_event_names_decline_the_client(
    http: aiohttp.ClientSession, service: WebPubSubServiceClient, name: str
) -> None:
    ws = await _ws(http, service.get_client_access_token()["url"], JSON_V1)
    await _json(ws)
    await ws.send_json({"type": "event", "event": name, "dataType": "text", "data": "x"})
    disconnected = await _json(ws)
    assert (disconnected["type"], disconnected["event"]) == ("system", "disconnected")
    assert "event must" in disconnected["message"]
    closing = await ws.receive(timeout=WAIT)
    assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 1008)


async def test_valid_unusual_event_names_reach_the_handler(
    http: aiohttp.ClientSession, service: WebPubSubServiceClient, handler: RecordingHandler
) -> None:
    ws = await _ws(http, service.get_client_access_token()["url"], JSON_V1)
    await _json(ws)
    await ws.send_json(
        {"type": "event", "event": "a.b-c_D", "dataType": "text", "data": "x", "ackId": 1}
    )
    assert (await _json(ws))["success"] is True
    call = await asyncio.to_thread(handler.wait_for, "a.b-c_D")
    assert call[0].path == "/api/a.b-c_D"
    await ws.close()


def test_next_link_honours_forwarded_proto_and_host(service: WebPubSubServiceClient) -> None:
    group = _unique("room")
    inboxes = [Inbox(), Inbox()]
    clients = [_sdk_client(service, i, groups=[group]) for i in inboxes]
    for c in clients:
        c.open()
    try:
        for i in inboxes:
            _connection_id(i)
        request = HttpRequest(
            "GET",
            f"/api/hubs/{HUB}/groups/{group}/connections",
            params={"api-version": "2024-12-01", "maxpagesize": "1"},
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "wps.example.test"},
        )
        page = service.send_request(request).json()
        assert len(page["value"]) == 1
        assert page["nextLink"].startswith(
            f"https://wps.example.test/api/hubs/{HUB}/groups/{group}/connections?"
        )
        assert "continuationToken=1" in page["nextLink"]
    finally:
        for c in clients:
            c.close()
