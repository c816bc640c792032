"""Two ways for a benchmark client to talk to Web PubSub, behind one small interface.

- `SdkLink`: Microsoft's async Python client (`azure.messaging.webpubsubclient.aio`), used
  where the figure is "what an SDK client sees" (the protocol-level latency).
- `WireLink`: a raw aiohttp WebSocket speaking the JSON subprotocols itself, used where bytes
  must be counted exactly or hundreds of clients are needed. It meters every frame both ways:
  payload plus WebSocket frame header (2-14 bytes; client frames are masked), which with
  compression off (the emulator does not negotiate permessage-deflate) is exactly what the
  socket carries above TCP.

Either way the caller gets group and server messages as `on_message(kind, data, now_ns)` in
arrival order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from azure.messaging.webpubsubclient.aio import WebPubSubClient, WebPubSubClientCredential
from azure.messaging.webpubsubclient.models import (
    CallbackType,
    WebPubSubDataType,
    WebPubSubProtocolType,
)

JSON = "json.webpubsub.azure.v1"
RELIABLE = "json.reliable.webpubsub.azure.v1"
ACK_TIMEOUT_S = 20.0
SEQ_ACK_INTERVAL_S = 1.0  # what @azure/web-pubsub-client does
SEQ_ACK_AFTER = 300

OnMessage = Callable[[str, Any, int], None]  # kind ("group" | "server"), data, receive time


def frame_bytes(payload: int, masked: bool) -> int:
    """Bytes of one WebSocket frame carrying `payload` bytes (RFC 6455 section 5.2)."""
    header = 2 + (2 if 126 <= payload < 65536 else 8 if payload >= 65536 else 0)
    return payload + header + (4 if masked else 0)


def text_bytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


@dataclass
class Meter:
    """WebSocket bytes and frames one client sent and received."""

    sent: int = 0
    received: int = 0
    sent_frames: int = 0
    received_frames: int = 0

    def add(self, other: Meter) -> None:
        self.sent += other.sent
        self.received += other.received
        self.sent_frames += other.sent_frames
        self.received_frames += other.received_frames


class Link(Protocol):
    connection_id: str | None
    on_message: OnMessage

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def send_to_group(
        self, group: str, data: Any, *, ack: bool, no_echo: bool | None = None
    ) -> None: ...
    async def send_event(self, name: str, data: Any, *, ack: bool) -> None: ...
    async def join_group(self, group: str) -> None: ...


def _ignore(kind: str, data: Any, now_ns: int) -> None:
    return None


class AckError(RuntimeError):
    pass


class WireLink:
    """A JSON-subprotocol client on a bare aiohttp WebSocket, counting every byte."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str | Callable[[], Awaitable[str]],
        subprotocol: str,
        on_message: OnMessage = _ignore,
    ) -> None:
        self.session = session
        self.url = url
        self.subprotocol = subprotocol
        self.on_message = on_message
        self.meter = Meter()
        self.connection_id: str | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._acks: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ack_ids = itertools.count(1)
        self._seq = 0
        self._acked_seq = 0
        self._tasks: list[asyncio.Task[None]] = []
        self.connected = asyncio.Event()
        self.unexpected: list[str] = []

    def first_ack_id(self, first: int) -> None:
        self._ack_ids = itertools.count(first)

    async def open(self) -> None:
        url = self.url if isinstance(self.url, str) else await self.url()
        self.ws = await self.session.ws_connect(url, protocols=(self.subprotocol,), compress=0)
        if self.ws.protocol != self.subprotocol:
            raise RuntimeError(f"asked for {self.subprotocol}, got {self.ws.protocol}")
        self._tasks.append(asyncio.create_task(self._read()))
        if self.subprotocol == RELIABLE:
            self._tasks.append(asyncio.create_task(self._ack_every_interval()))
        await asyncio.wait_for(self.connected.wait(), ACK_TIMEOUT_S)

    async def _send(self, frame: dict[str, Any]) -> None:
        assert self.ws is not None
        text = json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
        self.meter.sent += frame_bytes(text_bytes(text), masked=True)
        self.meter.sent_frames += 1
        await self.ws.send_str(text)

    async def _request(self, frame: dict[str, Any], ack: bool) -> None:
        if not ack:
            await self._send(frame)
            return
        ack_id = next(self._ack_ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        await self._send({**frame, "ackId": ack_id})
        try:
            answer = await asyncio.wait_for(future, ACK_TIMEOUT_S)
        finally:
            self._acks.pop(ack_id, None)
        if not answer.get("success"):
            raise AckError(f"{frame.get('type')} refused: {answer.get('error')}")

    async def send_to_group(
        self, group: str, data: Any, *, ack: bool, no_echo: bool | None = None
    ) -> None:
        frame: dict[str, Any] = {"type": "sendToGroup", "group": group, "dataType": "json"}
        frame["data"] = data
        if no_echo is not None:
            frame["noEcho"] = no_echo
        await self._request(frame, ack)

    async def send_event(self, name: str, data: Any, *, ack: bool) -> None:
        frame = {"type": "event", "event": name, "dataType": "json", "data": data}
        await self._request(frame, ack)

    async def join_group(self, group: str) -> None:
        await self._request({"type": "joinGroup", "group": group}, ack=True)

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            now = time.monotonic_ns()
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            self.meter.received += frame_bytes(text_bytes(msg.data), masked=False)
            self.meter.received_frames += 1
            frame = json.loads(msg.data)
            kind = frame.get("type")
            if kind == "message":
                seq = frame.get("sequenceId")
                if seq is not None:
                    self._seq = max(self._seq, seq)
                    if self._seq - self._acked_seq >= SEQ_ACK_AFTER:
                        await self._ack_sequence()
                self.on_message(frame.get("from", ""), frame.get("data"), now)
            elif kind == "ack":
                future = self._acks.get(frame.get("ackId"))
                if future is not None and not future.done():
                    future.set_result(frame)
            elif kind == "system" and frame.get("event") == "connected":
                self.connection_id = frame.get("connectionId")
                self.connected.set()
            elif kind != "pong":
                self.unexpected.append(msg.data[:200])

    async def _ack_sequence(self) -> None:
        if self._seq > self._acked_seq and self.ws is not None and not self.ws.closed:
            self._acked_seq = self._seq
            await self._send({"type": "sequenceAck", "sequenceId": self._seq})

    async def _ack_every_interval(self) -> None:
        while True:
            await asyncio.sleep(SEQ_ACK_INTERVAL_S)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._ack_sequence()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()


class SdkLink:
    """Microsoft's async Web PubSub client (reliable or plain JSON subprotocol)."""

    def __init__(
        self,
        url: str | Callable[[], Awaitable[str]],
        subprotocol: str,
        on_message: OnMessage = _ignore,
    ) -> None:
        self.on_message = on_message
        self.connection_id: str | None = None
        protocol = (
            WebPubSubProtocolType.JSON_RELIABLE
            if subprotocol == RELIABLE
            else WebPubSubProtocolType.JSON
        )
        self._url = url
        self._client = WebPubSubClient(
            WebPubSubClientCredential(self._provide_url),
            protocol_type=protocol,
            reconnect_retry_total=0,
            message_retry_total=0,
            auto_rejoin_groups=False,
        )

    async def _provide_url(self) -> str:
        return self._url if isinstance(self._url, str) else await self._url()

    async def open(self) -> None:
        connected = asyncio.Event()

        async def on_connected(args: Any) -> None:
            self.connection_id = args.connection_id
            connected.set()

        async def on_group(args: Any) -> None:
            self.on_message("group", args.data, time.monotonic_ns())

        async def on_server(args: Any) -> None:
            self.on_message("server", args.data, time.monotonic_ns())

        await self._client.subscribe(CallbackType.CONNECTED, on_connected)
        await self._client.subscribe(CallbackType.GROUP_MESSAGE, on_group)
        await self._client.subscribe(CallbackType.SERVER_MESSAGE, on_server)
        await self._client.open()
        await asyncio.wait_for(connected.wait(), ACK_TIMEOUT_S)

    async def send_to_group(
        self, group: str, data: Any, *, ack: bool, no_echo: bool | None = None
    ) -> None:
        await self._client.send_to_group(
            group, data, WebPubSubDataType.JSON, ack=ack, no_echo=bool(no_echo)
        )

    async def send_event(self, name: str, data: Any, *, ack: bool) -> None:
        await self._client.send_event(name, data, WebPubSubDataType.JSON, ack=ack)

    async def join_group(self, group: str) -> None:
        await self._client.join_group(group)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._client.close()
