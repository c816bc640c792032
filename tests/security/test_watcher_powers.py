"""What a watcher can do with its token: read its own stream. It can neither write to it nor
end it, nor join or read another stream, nor obtain another stream's snapshot or catchup.
Driven with a raw WebSocket so every refusal is seen as the service sends it (ack error
names)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from harness.devhost import Peer, RunningDevHost

pytestmark = pytest.mark.integration
WAIT = 10.0


class RawWatcher:
    """A watcher speaking json.webpubsub.azure.v1 itself: every frame it gets is kept."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, stream_id: str) -> None:
        self.ws = ws
        self.stream_id = stream_id
        self.frames: list[dict[str, Any]] = []
        self.connection_id = ""
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                frame = json.loads(msg.data)
                if frame.get("event") == "connected":
                    self.connection_id = frame["connectionId"]
                self.frames.append(frame)
                self._changed.set()

    async def wait_for(self, **match: Any) -> dict[str, Any]:
        async def found() -> dict[str, Any]:
            while True:
                for frame in self.frames:
                    if all(_get(frame, k) == v for k, v in match.items()):
                        return frame
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(found(), WAIT)

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(frame))

    def data(self) -> list[Any]:
        return [f.get("data") for f in self.frames if f.get("type") == "message"]


def _get(frame: dict[str, Any], dotted: str) -> Any:
    value: Any = frame
    for part in dotted.split("__"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


async def _watch(
    session: aiohttp.ClientSession, host: RunningDevHost, sid: str
) -> AsyncIterator[RawWatcher]:
    async with session.post(f"{host.url}/api/negotiate", json={"streamId": sid}) as resp:
        url = (await resp.json())["url"]
    ws = await session.ws_connect(url, protocols=("json.webpubsub.azure.v1",))
    watcher = RawWatcher(ws, sid)
    await watcher.wait_for(type="system", event="connected")
    yield watcher
    await ws.close()


async def test_a_watcher_can_neither_write_nor_end_nor_read_elsewhere(
    devhost: RunningDevHost,
) -> None:
    streamer_a = await Peer(devhost).open()
    streamer_b = await Peer(devhost).open()
    a, b = streamer_a.stream_id or "", streamer_b.stream_id or ""
    try:
        async with aiohttp.ClientSession() as session:
            async for intruder in _watch(session, devhost, b):  # watches B, wants A
                async for victim in _watch(session, devhost, a):  # an honest watcher of A
                    await _attempts(intruder, victim, streamer_a, a)
                    # barrier: A's next delta reaches A's watcher, and never the intruder
                    await streamer_a.send_to_group(a, {"type": "delta", "v": 99, "epoch": "e"})
                    await victim.wait_for(type="message", data__v=99)
                    await streamer_b.send_to_group(b, {"type": "delta", "v": 7, "epoch": "e"})
                    await intruder.wait_for(type="message", data__v=7)
                    assert all(d.get("v") != 99 for d in intruder.data() if isinstance(d, dict))
                    assert [d for d in victim.data() if isinstance(d, dict) and
                            d.get("forged")] == []  # fmt: skip
                    assert not victim.ws.closed
                    assert not intruder.ws.closed  # refused, yet served: no reason to drop it
    finally:
        await streamer_a.close()
        await streamer_b.close()


async def _attempts(intruder: RawWatcher, victim: RawWatcher, streamer_a: Peer, a: str) -> None:
    b = intruder.stream_id
    # write to its own stream, or to another: the service refuses (no permission at all)
    for ack_id, group in ((1, b), (2, a)):
        await intruder.send(
            {"type": "sendToGroup", "group": group, "ackId": ack_id, "dataType": "json",
             "data": {"type": "delta", "forged": True, "v": 1}}
        )  # fmt: skip
        ack = await intruder.wait_for(type="ack", ackId=ack_id)
        assert (ack["success"], ack["error"]["name"]) == (False, "Forbidden")
    # join (to read) another stream's group: refused too
    await intruder.send({"type": "joinGroup", "group": a, "ackId": 3})
    ack = await intruder.wait_for(type="ack", ackId=3)
    assert (ack["success"], ack["error"]["name"]) == (False, "Forbidden")
    # end a stream, send a snapshot: only the streamer may
    for ack_id, event, data in (
        (4, "control", {"streamId": b, "ended": True}),
        (5, "control", {"streamId": a, "ended": True}),
        (6, "snapshot", {"streamId": a, "to": victim.connection_id, "ticket": "x" * 43,
                         "epoch": "e", "v": 1, "doc": "forged", "chunk": [0, 1]}),
    ):  # fmt: skip
        await intruder.send({"type": "event", "event": event, "dataType": "json",
                             "data": data, "ackId": ack_id})  # fmt: skip
        ack = await intruder.wait_for(type="ack", ackId=ack_id)
        assert ack["success"] is True  # the handler answered (with an error message)
    # ask for A's document: refused, and A's streamer never hears of it
    await intruder.send({"type": "event", "event": "sync", "dataType": "json",
                         "data": {"streamId": a, "have": None}, "ackId": 7})  # fmt: skip
    await intruder.wait_for(type="ack", ackId=7)
    codes = [d["code"] for d in intruder.data() if isinstance(d, dict) and d.get("type") == "error"]
    assert codes == ["wrong_role", "wrong_role", "wrong_role", "other_stream"]
    assert streamer_a.received(type="sync-request") == []
    # A's streamer cannot be made to send A's document to B's watcher either: the only
    # ticket it holds is its own watcher's, and that proves only that connection
    await victim.send({"type": "event", "event": "sync", "dataType": "json",
                       "data": {"streamId": a, "have": None}, "ackId": 8})  # fmt: skip
    ticket = (await streamer_a.wait_for(type="sync-request"))["ticket"]
    for n, name, extra in (
        (1, "snapshot", {"doc": "A's code", "chunk": [0, 1]}),
        (2, "catchup", {"from": 0, "changes": [[0, 0, "A's code"]]}),
    ):
        data = {"streamId": a, "to": intruder.connection_id, "ticket": ticket, "epoch": "e",
                "v": 1, **extra}  # fmt: skip
        await streamer_a.send_event(name, data)
        refused = await streamer_a.wait_for(type="error", nth=n)
        assert refused["code"] == "not_a_watcher"
    # ("status live" may come: each streamer's own connect announces it to its group)
    leaked = [
        d
        for d in victim.data() + intruder.data()
        if isinstance(d, dict)
        and (
            d.get("type") in ("snapshot", "catchup", "control")
            or d.get("state") in ("ended", "offline")
        )
    ]
    assert leaked == []
