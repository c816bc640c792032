"""The Function App through the dev host, against the real emulator, at protocol level.

Streamer and watchers are Microsoft's async Web PubSub client; negotiate is plain HTTP.
"Must not arrive" checks use a barrier: a later message on the same path that does arrive
proves the earlier one was not delivered.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import jwt
import pytest
from azure.messaging.webpubsubclient.models import SendMessageError

from codestream import signature
from codestream.state import ConnState, Role
from codestream.tickets import Tickets
from harness.devhost import Peer, RunningDevHost, start_devhost

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def devhost() -> Iterator[RunningDevHost]:
    with start_devhost() as host:
        yield host


@asynccontextmanager
async def peers(host: RunningDevHost, *bodies: dict[str, str] | None) -> AsyncIterator[list[Peer]]:
    opened: list[Peer] = []
    try:
        for body in bodies:
            opened.append(await Peer(host, body).open())
        yield opened
    finally:
        for peer in opened:
            await peer.close()


async def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers or {}) as resp,
    ):
        text = await resp.read()
        return resp.status, json.loads(text) if text else None


# ---------------------------------------------------------------- negotiate


async def test_negotiate_grants_least_privilege(devhost: RunningDevHost) -> None:
    url = f"{devhost.url}/api/negotiate"
    status, new = await post(url, b"{}")
    assert status == 200
    assert set(new) == {"streamId", "ownerKey", "role", "url"}
    assert new["role"] == "streamer"
    sid = new["streamId"]
    claims = jwt.decode(new["url"].split("access_token=")[1], options={"verify_signature": False})
    assert claims["role"] == [f"webpubsub.sendToGroup.{sid}"]
    assert claims["sub"] == f"streamer:{sid}"
    assert "webpubsub.group" not in claims

    status, resumed = await post(
        url, json.dumps({"streamId": sid, "ownerKey": new["ownerKey"]}).encode()
    )
    assert status == 200
    assert (resumed["streamId"], resumed["ownerKey"]) == (sid, new["ownerKey"])

    status, watcher = await post(url, json.dumps({"streamId": sid}).encode())
    assert status == 200
    assert set(watcher) == {"streamId", "role", "url"}
    claims = jwt.decode(
        watcher["url"].split("access_token=")[1], options={"verify_signature": False}
    )
    assert "role" not in claims
    assert claims["webpubsub.group"] == [sid]

    status, refused = await post(url, json.dumps({"streamId": sid, "ownerKey": "x" * 43}).encode())
    assert status == 403
    assert refused["error"]["code"] == "owner_key_mismatch"
    status, refused = await post(url, b"{nope")
    assert status == 400
    assert refused["error"]["code"] == "bad_json"


# ---------------------------------------------------------------- the service enforces roles


async def test_only_the_streamer_writes_to_the_stream(devhost: RunningDevHost) -> None:
    async with peers(devhost, None) as [streamer]:
        sid = streamer.stream_id
        async with peers(devhost, {"streamId": sid}, {"streamId": sid}) as [w1, w2]:
            with pytest.raises(SendMessageError):
                await w1.send_to_group(sid, {"type": "delta", "forged": True})
            with pytest.raises(SendMessageError):  # nor to any other group
                await streamer.send_to_group("some-other-stream", {"type": "delta"})
            await streamer.send_to_group(sid, {"type": "delta", "v": 1})
            for watcher in (w1, w2):
                await watcher.wait_for(type="delta", v=1)
                assert watcher.received(forged=True) == []


async def test_watcher_cannot_send_snapshot_or_control(devhost: RunningDevHost) -> None:
    async with peers(devhost, None) as [streamer]:
        sid = streamer.stream_id
        async with peers(devhost, {"streamId": sid}, {"streamId": sid}) as [w1, w2]:
            await w1.send_event(
                "snapshot",
                {
                    "streamId": sid,
                    "to": w2.connection_id,
                    "epoch": "e",
                    "v": 1,
                    "doc": "pwned",
                    "chunk": [0, 1],
                },
            )
            assert (await w1.wait_for(type="error"))["code"] == "wrong_role"
            await w1.send_event("control", {"streamId": sid, "ended": True})
            assert (await w1.wait_for(type="error", nth=2))["code"] == "wrong_role"
            await w1.send_event("shout", {"streamId": sid})
            assert (await w1.wait_for(type="error", nth=3))["code"] == "unknown_event"
            # barrier: the streamer's own control reaches both; nothing from w1 did
            await streamer.send_event("control", {"streamId": sid, "title": "real"})
            for watcher in (w1, w2):
                await watcher.wait_for(type="control", title="real")
                assert watcher.received(type="snapshot") == []
                assert watcher.received(type="control", ended=True) == []
                assert watcher.received(type="status", state="ended") == []


async def test_late_watcher_alone_receives_the_snapshot(devhost: RunningDevHost) -> None:
    async with peers(devhost, None) as [streamer]:
        sid = streamer.stream_id
        async with peers(devhost, {"streamId": sid}, {"streamId": sid}) as [early, late]:
            await late.send_event("sync", {"streamId": sid, "have": None})
            request = await streamer.wait_for(type="sync-request")
            assert request == {
                "type": "sync-request",
                "connectionId": late.connection_id,
                "have": None,
                "ticket": Tickets(devhost.owner_key_secret).issue(sid, late.connection_id),
            }
            snapshot = {
                "streamId": sid,
                "to": late.connection_id,
                "ticket": request["ticket"],
                "epoch": "ep1",
                "v": 7,
                "doc": "print('hi')\n",
                "lang": "python",
                "title": "demo",
                "chunk": [0, 1],
            }
            await streamer.send_event("snapshot", snapshot)
            got = await late.wait_for(type="snapshot")
            assert got == {
                "type": "snapshot",
                "streamId": sid,
                "epoch": "ep1",
                "v": 7,
                "doc": "print('hi')\n",
                "lang": "python",
                "title": "demo",
                "chunk": [0, 1],
            }
            await streamer.send_event("control", {"streamId": sid, "title": "barrier"})
            await early.wait_for(type="control", title="barrier")
            assert early.received(type="snapshot") == []
            # a ticket proves one connection: not another watcher, nor another stream's peer
            async with peers(devhost, None) as [other_streamer]:
                refused_targets = [
                    {**snapshot, "to": early.connection_id},  # late's ticket, early's id
                    {**snapshot, "to": other_streamer.connection_id},
                    {**snapshot, "ticket": request["ticket"][::-1]},
                ]
                for n, forged in enumerate(refused_targets, start=1):
                    await streamer.send_event("snapshot", forged)
                    error = await streamer.wait_for(type="error", nth=n)
                    assert error["code"] == "not_a_watcher"
                await streamer.send_event("control", {"streamId": sid, "title": "barrier 2"})
                await early.wait_for(type="control", title="barrier 2")
                assert early.received(type="snapshot") == []
                assert other_streamer.received(type="snapshot") == []
                assert len(late.received(type="snapshot")) == 1


async def test_catchup_reaches_the_ticketed_watcher_alone(devhost: RunningDevHost) -> None:
    async with peers(devhost, None) as [streamer]:
        sid = streamer.stream_id
        async with peers(devhost, {"streamId": sid}, {"streamId": sid}) as [early, late]:
            await late.send_event("sync", {"streamId": sid, "have": {"epoch": "ep1", "v": 40}})
            request = await streamer.wait_for(type="sync-request")
            assert request["have"] == {"epoch": "ep1", "v": 40}
            catchup = {
                "streamId": sid,
                "to": late.connection_id,
                "ticket": request["ticket"],
                "epoch": "ep1",
                "from": 40,
                "v": 42,
                "changes": [[3, 3, "ab"], [0, 1, ""]],
                "sel": [4, 4],
            }
            await streamer.send_event("catchup", catchup)
            assert await late.wait_for(type="catchup") == {
                "type": "catchup",
                "streamId": sid,
                "epoch": "ep1",
                "from": 40,
                "v": 42,
                "changes": [[3, 3, "ab"], [0, 1, ""]],
                "sel": [4, 4],
            }
            current = {**catchup, "from": 42, "changes": []}
            del current["sel"]
            await streamer.send_event("catchup", current)
            assert await late.wait_for(type="catchup", nth=2) == {
                "type": "catchup",
                "streamId": sid,
                "epoch": "ep1",
                "from": 42,
                "v": 42,
                "changes": [],
            }
            await streamer.send_event("catchup", {**catchup, "to": early.connection_id})
            assert (await streamer.wait_for(type="error"))["code"] == "not_a_watcher"
            await streamer.send_event("catchup", {**catchup, "ticket": "x" * 43})
            assert (await streamer.wait_for(type="error", nth=2))["code"] == "not_a_watcher"
            await streamer.send_event("control", {"streamId": sid, "title": "barrier"})
            for watcher in (early, late):
                await watcher.wait_for(type="control", title="barrier")
            assert early.received(type="catchup") == []
            assert len(late.received(type="catchup")) == 2
            # a watcher may not send one
            await early.send_event("catchup", {**catchup, "to": late.connection_id})
            assert (await early.wait_for(type="error"))["code"] == "wrong_role"


async def test_sync_while_streamer_is_offline(devhost: RunningDevHost) -> None:
    async with peers(devhost, {"streamId": "nobody-streams-here"}) as [watcher]:
        await watcher.send_event("sync", {"streamId": "nobody-streams-here", "have": None})
        assert await watcher.wait_for(type="status") == {"type": "status", "state": "offline"}


async def test_sync_is_rate_limited_per_connection(devhost: RunningDevHost) -> None:
    sid = "rate-limited-stream"
    sent = 8
    async with peers(devhost, {"streamId": sid}) as [watcher]:
        started = time.monotonic()
        for _ in range(sent):
            await watcher.send_event("sync", {"streamId": sid, "have": None}, ack=False)
        await watcher.wait_for(type="error", code="rate_limited")
        while len(watcher.messages) < sent:  # every sync gets exactly one answer
            await watcher.wait_for(nth=len(watcher.messages) + 1)
        elapsed = time.monotonic() - started
        answered = watcher.received(type="status", state="offline")
        refused = watcher.received(type="error", code="rate_limited")
        assert len(answered) + len(refused) == sent
        # burst of 3, then 1 per second
        assert 3 <= len(answered) <= 3 + int(elapsed)


# ---------------------------------------------------------------- presence


async def test_the_streamer_asks_for_the_watcher_count(devhost: RunningDevHost) -> None:
    async def count(streamer: Peer, nth: int) -> int:
        await streamer.send_event("watchers", {"streamId": streamer.stream_id})
        reply = await streamer.wait_for(type="watchers", nth=nth)
        assert set(reply) == {"type", "count"}
        return int(reply["count"])

    async with peers(devhost, None) as [streamer]:
        sid = streamer.stream_id
        counts = [await count(streamer, 1)]
        async with peers(devhost, {"streamId": sid}) as [w1]:
            counts.append(await count(streamer, 2))
            async with peers(devhost, {"streamId": sid}) as [_w2]:
                counts.append(await count(streamer, 3))
            # joins and leaves are not counted unasked: barrier, then exactly 3 counts so far
            await streamer.send_event("control", {"streamId": sid, "title": "barrier"})
            await w1.wait_for(type="control", title="barrier")
            assert len(streamer.received(type="watchers")) == 3
            await asyncio.wait_for(_until_count(streamer, 1), 10)
            counts.append(1)
        await asyncio.wait_for(_until_count(streamer, 0), 10)
        counts.append(0)
        assert counts == [0, 1, 2, 1, 0]
        # the rate: 3 then 1/s
        for _ in range(4):
            await streamer.send_event("watchers", {"streamId": sid}, ack=False)
        await streamer.wait_for(type="error", code="rate_limited")


async def _until_count(streamer: Peer, expected: int) -> None:
    """Ask, at the allowed rate (1/s), until the count is `expected`: a leave reaches the
    service's group a moment after the client closed, and no event tells us when."""
    while True:
        before = len(streamer.messages)
        await streamer.send_event("watchers", {"streamId": streamer.stream_id})
        reply = await streamer.wait_for(nth=before + 1)  # the reply: a count or rate_limited
        if reply == {"type": "watchers", "count": expected}:
            return
        await asyncio.sleep(1.0)


async def test_second_streamer_connection_replaces_the_first(devhost: RunningDevHost) -> None:
    async with peers(devhost, None) as [first]:
        sid = first.stream_id
        second_body = {"streamId": sid, "ownerKey": first.owner_key or ""}
        async with peers(devhost, {"streamId": sid}, second_body) as [watcher, second]:
            await watcher.wait_for(type="status", state="live")
            await asyncio.wait_for(first.stopped.wait(), 10)
            # the stream stayed live: the replaced connection's exit is not "offline"
            await second.send_event("control", {"streamId": sid, "title": "barrier"})
            await watcher.wait_for(type="control", title="barrier")
            assert watcher.received(type="status", state="offline") == []
            # the new connection is the streamer: it gets the sync-requests
            await watcher.send_event("sync", {"streamId": sid, "have": None})
            await second.wait_for(type="sync-request")
            assert first.received(type="sync-request") == []


async def test_stream_reports_offline_then_ended(devhost: RunningDevHost) -> None:
    # status and control go to the stream's group: watchers get them as group messages
    async with peers(devhost, None) as [streamer]:
        sid, key = streamer.stream_id, streamer.owner_key
    async with peers(devhost, {"streamId": sid}) as [watcher]:
        async with peers(devhost, {"streamId": sid, "ownerKey": key}) as [streamer]:
            await watcher.wait_for(via="group", type="status", state="live")
        await watcher.wait_for(via="group", type="status", state="offline")
        async with peers(devhost, {"streamId": sid, "ownerKey": key}) as [streamer]:
            await watcher.wait_for(via="group", type="status", state="live", nth=2)
            await streamer.send_event("control", {"streamId": sid, "ended": True})
            assert await watcher.wait_for(via="group", type="control", ended=True) == {
                "type": "control",
                "streamId": sid,
                "ended": True,
            }
            await watcher.wait_for(via="group", type="status", state="ended")
        # ended is final: the streamer leaving afterwards is not reported as offline
        async with peers(devhost, {"streamId": sid, "ownerKey": key}):
            await watcher.wait_for(via="group", type="status", state="live", nth=3)
        states = [m["state"] for m in watcher.received(type="status")]
        assert states[:4] == ["live", "offline", "live", "ended"]
        assert states[4] == "live"


# ---------------------------------------------------------------- forged CloudEvents


def cloud_event(name: str, connection_id: str, sig: str, **extra: str) -> dict[str, str]:
    system = name in ("connect", "connected", "disconnected")
    return {
        "ce-specversion": "1.0",
        "ce-type": ("azure.webpubsub.sys." if system else "azure.webpubsub.user.") + name,
        "ce-eventName": name,
        "ce-connectionId": connection_id,
        "ce-hub": "codestream",
        "ce-signature": sig,
        "Content-Type": "application/json",
        **extra,
    }


async def test_forged_cloudevents_are_rejected(devhost: RunningDevHost) -> None:
    async with peers(devhost, None) as [streamer]:
        sid = streamer.stream_id
        async with peers(devhost, {"streamId": sid}) as [watcher]:
            # a control event claiming to be the streamer, with a forged state and signature
            forged_state = ConnState(Role.STREAMER, sid).encode()
            body = json.dumps({"streamId": sid, "ended": True}).encode()
            for sig in ("", signature.sign("fake-conn", "guessed-key")):
                headers = cloud_event(
                    "control", "fake-conn", sig, **{"ce-connectionState": forged_state}
                )
                status, answer = await post(devhost.events_url, body, headers)
                assert status == 401
                assert answer["error"]["code"] == "unauthenticated"
            # the same event correctly signed is accepted: the check above is not vacuous
            good = signature.sign("fake-conn", devhost.access_key)
            headers = cloud_event(
                "control", "fake-conn", good, **{"ce-connectionState": forged_state}
            )
            status, _ = await post(devhost.events_url, body, headers)
            assert status == 204
            await watcher.wait_for(type="status", state="ended")


async def test_connect_with_a_foreign_token_shape_is_refused(devhost: RunningDevHost) -> None:
    sig = signature.sign("c-1", devhost.access_key)
    body = json.dumps({"claims": {"sub": ["admin"], "role": ["webpubsub.sendToGroup"]}}).encode()
    status, answer = await post(
        devhost.events_url, body, cloud_event("connect", "c-1", sig, **{"ce-userId": "admin"})
    )
    assert status == 401
    assert answer["error"]["code"] == "bad_claims"
