"""What the SDKs do not exercise, with a raw aiohttp WebSocket against the real process:
bad tokens, permissions, acks, plain WebSocket, limits, back-pressure, handler failures."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import jwt
import pytest
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from harness.emulator import (
    HUB,
    RecordingHandler,
    RunningEmulator,
    UpstreamCall,
    handler_config,
    start_emulator,
)

pytestmark = pytest.mark.integration
JSON_V1 = "json.webpubsub.azure.v1"
RELIABLE = "json.reliable.webpubsub.azure.v1"
WAIT = 10.0


def _respond(call: UpstreamCall) -> tuple[int, dict[str, str], bytes]:
    if call.event == "slow":
        time.sleep(3)  # longer than the emulator's --upstream-timeout 1
        return 204, {}, b""
    if call.event == "fail":
        return 500, {}, b"boom"
    if call.event == "message":  # plain WebSocket frames
        return 200, {"Content-Type": "text/plain"}, b"got " + call.body
    if call.event == "bin":
        return 200, {"Content-Type": "application/octet-stream"}, b"\x01\x02"
    return 204, {}, b""


@pytest.fixture(scope="module")
def handler() -> Iterator[RecordingHandler]:
    with RecordingHandler(_respond) as h:
        yield h


@pytest.fixture(scope="module")
def emulator(handler: RecordingHandler) -> Iterator[RunningEmulator]:
    config = handler_config(handler.url)
    args = ["--upstream-timeout", "1", "--queue-bytes", str(2 * 1024 * 1024)]
    with start_emulator(config, extra_args=args) as emu:
        yield emu


@pytest.fixture
def service(emulator: RunningEmulator) -> WebPubSubServiceClient:
    return WebPubSubServiceClient.from_connection_string(emulator.connection_string, hub=HUB)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _url(service: WebPubSubServiceClient, **token: Any) -> str:
    return service.get_client_access_token(**token)["url"]


async def _connect(
    http: aiohttp.ClientSession, url: str, protocol: str | None = JSON_V1
) -> aiohttp.ClientWebSocketResponse:
    protocols = (protocol,) if protocol else ()
    return await http.ws_connect(url, protocols=protocols, autoping=True, max_msg_size=0)


async def _json(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=WAIT)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def _connected(ws: aiohttp.ClientWebSocketResponse) -> str:
    first = await _json(ws)
    assert first["type"] == "system"
    assert first["event"] == "connected"
    return first["connectionId"]


# --- tokens ------------------------------------------------------------------------------
def _token(key: str, aud: str, exp_delta: int = 300) -> str:
    return jwt.encode({"aud": aud, "exp": int(time.time()) + exp_delta}, key, algorithm="HS256")


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "missing access token"),
        ("wrong-key", "signature"),
        ("expired", "expired"),
        ("other-hub", "audience"),
        ("garbage", "invalid"),
    ],
)
async def test_bad_client_tokens_get_401(
    http: aiohttp.ClientSession, emulator: RunningEmulator, case: str, expected: str
) -> None:
    aud = f"{emulator.endpoint}/client/hubs/{HUB}"
    token = {
        "missing": "",
        "wrong-key": _token("not-the-emulator-key-but-long-enough-for-hs256", aud),
        "expired": _token(emulator.access_key, aud, exp_delta=-60),
        "other-hub": _token(emulator.access_key, f"{emulator.endpoint}/client/hubs/other"),
        "garbage": "not.a.jwt",
    }[case]
    url = f"{emulator.ws_endpoint}/client/hubs/{HUB}?access_token={token}"
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await _connect(http, url)
    assert err.value.status == 401
    # the same request as plain HTTP shows the error body
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}
    headers["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ=="
    async with http.get(url.replace("ws://", "http://"), headers=headers) as resp:
        assert resp.status == 401
        body = await resp.json()
        assert body["error"]["code"] == "Unauthorized"
        assert expected in body["error"]["message"]


# --- subprotocol requests ------------------------------------------------------------------
async def test_permissions_acks_and_errors(
    http: aiohttp.ClientSession, service: WebPubSubServiceClient
) -> None:
    ws = await _connect(http, _url(service, roles=["webpubsub.sendToGroup.mine"]))
    await _connected(ws)
    await ws.send_json({"type": "joinGroup", "group": "mine", "ackId": 1})
    ack = await _json(ws)
    assert ack["ackId"] == 1
    assert ack["success"] is False
    assert ack["error"]["name"] == "Forbidden"
    await ws.send_json({"type": "sendToGroup", "group": "theirs", "data": "x", "ackId": 2})
    assert (await _json(ws))["error"]["name"] == "Forbidden"
    await ws.send_json(
        {"type": "sendToGroup", "group": "mine", "dataType": "text", "data": "x", "ackId": 3}
    )
    assert await _json(ws) == {"type": "ack", "ackId": 3, "success": True}
    await ws.send_json(
        {"type": "sendToGroup", "group": "mine", "dataType": "text", "data": "x", "ackId": 3}
    )
    duplicate = await _json(ws)
    assert duplicate["success"] is False
    assert duplicate["error"]["name"] == "Duplicate"
    await ws.send_json({"type": "ping"})
    assert await _json(ws) == {"type": "pong"}
    # UTF-8 JSON in a binary frame is a request too
    await ws.send_bytes(json.dumps({"type": "joinGroup", "group": "mine", "ackId": 5}).encode())
    assert (await _json(ws))["error"]["name"] == "Forbidden"
    # a request that does not match the format: the service declines the client
    await ws.send_json({"type": "sendToGroup", "group": "", "ackId": 4})
    disconnected = await _json(ws)
    assert disconnected["event"] == "disconnected"
    assert "group" in disconnected["message"]
    closing = await ws.receive(timeout=WAIT)
    assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 1008)


async def test_group_message_shape_and_no_echo(
    http: aiohttp.ClientSession, service: WebPubSubServiceClient
) -> None:
    roles = ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]
    a = await _connect(http, _url(service, user_id="alice", roles=roles))
    b = await _connect(http, _url(service, groups=["room"]))
    await _connected(a)
    await _connected(b)
    await a.send_json({"type": "joinGroup", "group": "room", "ackId": 1})
    assert (await _json(a))["success"] is True
    frame = {"type": "sendToGroup", "group": "room", "dataType": "json", "data": {"k": [1]}}
    await a.send_json({**frame, "noEcho": True})
    assert await _json(b) == {
        "type": "message",
        "from": "group",
        "group": "room",
        "fromUserId": "alice",
        "dataType": "json",
        "data": {"k": [1]},
    }
    await a.send_json({**frame, "data": "echoed", "ackId": 2})
    # without noEcho the sender gets its own message, as well as the ack
    own = [await _json(a), await _json(a)]
    assert {"type": "ack", "ackId": 2, "success": True} in own
    assert [m["data"] for m in own if m["type"] == "message"] == ["echoed"]
    assert (await _json(b))["data"] == "echoed"
    await a.close()
    await b.close()


async def test_reliable_messages_carry_sequence_ids_and_bad_recovery_is_refused(
    http: aiohttp.ClientSession, service: WebPubSubServiceClient, emulator: RunningEmulator
) -> None:
    ws = await _connect(http, _url(service, groups=["seq"]), RELIABLE)
    first = await _json(ws)
    assert first["reconnectionToken"]
    await asyncio.to_thread(service.send_to_group, "seq", {"n": 1})
    await asyncio.to_thread(service.send_to_group, "seq", {"n": 2})
    assert [(await _json(ws))["sequenceId"] for _ in range(2)] == [1, 2]
    base = f"{emulator.ws_endpoint}/client/hubs/{HUB}?awps_connection_id={first['connectionId']}"
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await _connect(http, base + "&awps_reconnection_token=forged", RELIABLE)
    assert err.value.status == 401
    # a token for a connection that does not exist: accepted, then closed with 1008
    other = await _connect(http, _url(service), RELIABLE)
    other_first = await _json(other)
    await other.close()
    await asyncio.sleep(0)  # closed by the client: the session ends at once
    stale = (
        f"{emulator.ws_endpoint}/client/hubs/{HUB}?awps_connection_id={other_first['connectionId']}"
        f"&awps_reconnection_token={other_first['reconnectionToken']}"
    )
    gone = await _connect(http, stale, RELIABLE)
    msg = await gone.receive(timeout=WAIT)
    assert msg.type == aiohttp.WSMsgType.CLOSE
    assert msg.data == 1008
    await ws.close()


# --- plain WebSocket and upstream failures -----------------------------------------------
async def test_plain_websocket_message_event_and_raw_frames(
    http: aiohttp.ClientSession, service: WebPubSubServiceClient, handler: RecordingHandler
) -> None:
    ws = await _connect(http, _url(service, user_id="plain", groups=["plain-room"]), None)
    assert ws.protocol is None
    await ws.send_str("hello")
    reply = await ws.receive(timeout=WAIT)
    assert (reply.type, reply.data) == (aiohttp.WSMsgType.TEXT, "got hello")
    call = next(c for c in handler.events("message") if c.body == b"hello")
    assert call.headers["ce-type"] == "azure.webpubsub.user.message"
    assert call.headers["Content-Type"].startswith("text/plain")
    await asyncio.to_thread(
        service.send_to_group, "plain-room", b"\x00\xff", content_type="application/octet-stream"
    )
    raw = await ws.receive(timeout=WAIT)
    assert (raw.type, raw.data) == (aiohttp.WSMsgType.BINARY, b"\x00\xff")
    await asyncio.to_thread(service.send_to_user, "plain", {"a": 1})
    assert json.loads((await ws.receive(timeout=WAIT)).data) == {"a": 1}
    await ws.close()


async def test_binary_event_reply_is_base64(
    http: aiohttp.ClientSession, service: WebPubSubServiceClient
) -> None:
    ws = await _connect(http, _url(service))
    await _connected(ws)
    await ws.send_json({"type": "event", "event": "bin", "dataType": "binary", "data": "AAE="})
    assert await _json(ws) == {
        "type": "message",
        "from": "server",
        "dataType": "binary",
        "data": "AQI=",
    }
    await ws.close()


async def test_slow_handler_times_out_without_stalling_others(
    http: aiohttp.ClientSession, service: WebPubSubServiceClient
) -> None:
    slow = await _connect(http, _url(service))
    fast = await _connect(http, _url(service, groups=["fast"], roles=["webpubsub.sendToGroup"]))
    await _connected(slow)
    await _connected(fast)
    started = time.monotonic()
    await slow.send_json(
        {"type": "event", "event": "slow", "dataType": "text", "data": "", "ackId": 1}
    )
    await fast.send_json({"type": "sendToGroup", "group": "fast", "dataType": "text", "data": "x"})
    assert (await _json(fast))["data"] == "x"
    assert time.monotonic() - started < 0.5  # not behind the slow handler
    ack = await _json(slow)
    assert ack["error"]["name"] == "InternalServerError"
    assert "timed out" in ack["error"]["message"]
    assert 0.9 < time.monotonic() - started < 2.9  # the 1 s upstream timeout, not the 3 s handler
    await slow.close()
    await fast.close()


async def test_failing_handler_without_ack_drops_the_connection(
    http: aiohttp.ClientSession, service: WebPubSubServiceClient
) -> None:
    ws = await _connect(http, _url(service))
    await _connected(ws)
    await ws.send_json({"type": "event", "event": "fail", "dataType": "text", "data": ""})
    disconnected = await _json(ws)
    assert disconnected["event"] == "disconnected"
    assert "500" in disconnected["message"]
    closing = await ws.receive(timeout=WAIT)
    assert closing.type == aiohttp.WSMsgType.CLOSE
    assert closing.data == 1011


# --- limits ------------------------------------------------------------------------------
async def test_frame_over_one_mib_closes_with_1009(
    http: aiohttp.ClientSession, service: WebPubSubServiceClient
) -> None:
    ws = await _connect(http, _url(service, roles=["webpubsub.sendToGroup"]))
    await _connected(ws)
    data = "x" * (1024 * 1024)
    await ws.send_json({"type": "sendToGroup", "group": "g", "dataType": "text", "data": data})
    msg = await ws.receive(timeout=WAIT)
    assert msg.type == aiohttp.WSMsgType.CLOSE
    assert msg.data == 1009


async def test_slow_consumer_is_disconnected_and_others_get_everything(
    http: aiohttp.ClientSession, service: WebPubSubServiceClient, emulator: RunningEmulator
) -> None:
    # a client that completes the handshake and then never reads
    reader, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
    path = _url(service, groups=["firehose"]).split(f":{emulator.port}", 1)[1]
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {JSON_V1}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    assert b"101" in await reader.readline()
    fast = await _connect(http, _url(service, groups=["firehose"]))
    fast_id = await _connected(fast)
    chunk = "y" * (512 * 1024)
    total = 40  # 20 MiB: far beyond the slow client's 2 MiB queue and its socket buffers
    received = 0

    async def drain_fast() -> None:
        nonlocal received
        while received < total:
            if (await _json(fast)).get("from") == "group":
                received += 1

    drainer = asyncio.create_task(drain_fast())
    for _ in range(total):
        await asyncio.to_thread(service.send_to_group, "firehose", chunk, content_type="text/plain")
    await asyncio.wait_for(drainer, WAIT * 3)
    assert received == total
    members = await asyncio.to_thread(lambda: list(service.list_connections(group="firehose")))
    assert [m.connection_id for m in members] == [fast_id]
    writer.close()
    await fast.close()


async def test_rest_errors_are_json(http: aiohttp.ClientSession, emulator: RunningEmulator) -> None:
    url = f"{emulator.endpoint}/api/hubs/{HUB}/:send"
    async with http.post(url + "?api-version=2024-12-01", json={}) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "Unauthorized"

    def bearer(target: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + _token(emulator.access_key, target)}

    async with http.post(url, json={}, headers=bearer(url)) as resp:
        assert resp.status == 400
        assert "api-version" in (await resp.json())["error"]["message"]
    full = url + "?api-version=2024-12-01"
    big = b"x" * (1024 * 1024 + 1)
    headers = {**bearer(full), "Content-Type": "text/plain"}
    async with http.post(full, data=big, headers=headers) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"]["code"] == "PayloadTooLarge"
    headers = {**bearer(full), "Content-Type": "image/png"}
    async with http.post(full, data=b"x", headers=headers) as resp:
        assert resp.status == 415  # as the service answers an unsupported media type
        assert resp.headers["x-ms-error-code"] == "UnsupportedMediaType"
    headers = {**bearer(full), "Content-Type": "application/json"}
    async with http.post(full, data=b"{not json", headers=headers) as resp:
        assert resp.status == 400
    other = f"{emulator.endpoint}/api/hubs/other/:send"
    async with http.post(full, json={}, headers=bearer(other)) as resp:
        assert resp.status == 401
    async with http.get(f"{emulator.endpoint}/nowhere") as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "NotFound"


async def test_stop_closes_open_connections_with_1001_promptly(
    http: aiohttp.ClientSession,
) -> None:
    with start_emulator() as emu:
        service = WebPubSubServiceClient.from_connection_string(emu.connection_string, hub=HUB)
        ws = await _connect(http, _url(service), RELIABLE)
        await _connected(ws)
        closing = asyncio.create_task(ws.receive(timeout=WAIT))
        started = time.monotonic()
        assert await asyncio.to_thread(emu.process.stop) == 0
        assert time.monotonic() - started < 5
        msg = await closing
        assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1001)


async def test_handler_that_refuses_abuse_protection_gets_no_events(
    http: aiohttp.ClientSession,
) -> None:
    with (
        RecordingHandler(allow_origin=False) as denying,
        start_emulator(handler_config(denying.url)) as emu,
    ):
        service = WebPubSubServiceClient.from_connection_string(emu.connection_string, hub=HUB)
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await _connect(http, _url(service))
        assert err.value.status == 500
        assert [c.method for c in denying.calls] == ["OPTIONS"]
        assert denying.calls[0].headers["ce-awpsversion"] == "1.0"
        assert denying.calls[0].headers["WebHook-Request-Origin"] == f"127.0.0.1:{emu.port}"


async def test_recovery_resends_exactly_the_unacked_then_expires(
    http: aiohttp.ClientSession, handler: RecordingHandler
) -> None:
    with start_emulator(handler_config(handler.url), extra_args=["--recovery-window", "2"]) as emu:
        service = WebPubSubServiceClient.from_connection_string(emu.connection_string, hub=HUB)
        ws = await _connect(http, _url(service, groups=["r"]), RELIABLE)
        first = await _json(ws)
        cid, token = first["connectionId"], first["reconnectionToken"]
        for n in (1, 2, 3):
            await asyncio.to_thread(service.send_to_group, "r", {"n": n})
        assert [(await _json(ws))["sequenceId"] for _ in range(3)] == [1, 2, 3]
        await ws.send_json({"type": "sequenceAck", "sequenceId": 2})
        await ws.send_json({"type": "ping"})  # frames are handled in order: ack is applied
        assert await _json(ws) == {"type": "pong"}

        drop = f"{emu.endpoint}/_emulator/hubs/{HUB}/connections/{cid}/:drop"
        auth = {"Authorization": "Bearer " + _token(emu.access_key, drop)}
        async with http.post(drop, headers=auth) as resp:
            assert resp.status == 204
        assert (await ws.receive(timeout=WAIT)).type in (
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.ERROR,
        )
        await asyncio.to_thread(service.send_to_group, "r", {"n": 4})  # while it is away
        assert await asyncio.to_thread(service.connection_exists, cid)

        resume = (
            f"{emu.ws_endpoint}/client/hubs/{HUB}"
            f"?awps_connection_id={cid}&awps_reconnection_token={token}"
        )
        back = await _connect(http, resume, RELIABLE)
        assert (await _json(back))["connectionId"] == cid
        replay = [await _json(back) for _ in range(2)]
        assert [(m["sequenceId"], m["data"]["n"]) for m in replay] == [(3, 3), (4, 4)]

        # gone again and not back within the window: the connection ends
        await back.close()  # a client close frame ends it at once
        disconnected = await asyncio.to_thread(handler.wait_for_connection, "disconnected", cid)
        assert disconnected.headers["ce-connectionId"] == cid
        assert not await asyncio.to_thread(service.connection_exists, cid)

        ws2 = await _connect(http, _url(service), RELIABLE)
        cid2 = (await _json(ws2))["connectionId"]
        drop2 = f"{emu.endpoint}/_emulator/hubs/{HUB}/connections/{cid2}/:drop"
        auth2 = {"Authorization": "Bearer " + _token(emu.access_key, drop2)}
        async with http.post(drop2, headers=auth2) as resp:
            assert resp.status == 204
        started = time.monotonic()
        gone = await asyncio.to_thread(handler.wait_for_connection, "disconnected", cid2, 10)
        assert 1.5 < time.monotonic() - started < 6  # the 2 s recovery window
        assert "recovery window" in json.loads(gone.body)["reason"]


async def test_lone_surrogates_pass_to_json_clients_and_replace_for_plain_ones(
    http: aiohttp.ClientSession, service: WebPubSubServiceClient
) -> None:
    """JavaScript strings may hold lone surrogates (a split emoji): JSON clients get them back."""
    sender = await _connect(http, _url(service, roles=["webpubsub.sendToGroup"]))
    json_client = await _connect(http, _url(service, groups=["surrogates"]))
    plain = await _connect(http, _url(service, groups=["surrogates"]), None)
    await _connected(sender)
    await _connected(json_client)
    frame = '{"type":"sendToGroup","group":"surrogates","dataType":"text","data":"x\\ud83d"}'
    await sender.send_str(frame)
    assert (await _json(json_client))["data"] == "x\ud83d"
    raw = await plain.receive(timeout=WAIT)
    assert raw.data == "x\ufffd\ufffd\ufffd"
    for ws in (sender, json_client, plain):
        await ws.close()
