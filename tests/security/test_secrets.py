"""Secrets stay where they belong through a whole stream session: the owner key, the access
key, the owner-key secret and every access token never appear in a log line of the dev host
or its emulator, in a URL, or in anything a watcher receives; nor does the streamed code
reach a log line."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import pytest
from azure.messaging.webpubsubclient.models import SendMessageError

from harness.devhost import Peer, RunningDevHost, start_devhost

pytestmark = pytest.mark.integration

CODE = "password = 'CODE-SENTINEL-7f3a'  # what the streamer types"


class RecordedPeer(Peer):
    """A Peer that keeps every negotiate answer it got, URLs included."""

    answers: list[dict[str, Any]]

    def __init__(self, host: RunningDevHost, body: dict[str, str] | None = None) -> None:
        super().__init__(host, body)
        self.answers = []

    async def negotiate(self) -> dict[str, Any]:
        answer = await super().negotiate()
        self.answers.append(answer)
        return answer


async def stream_session(host: RunningDevHost) -> tuple[RecordedPeer, list[RecordedPeer]]:
    """Create, watch, sync, snapshot, edit, refuse junk, reconnect, resume, end."""
    streamer = await RecordedPeer(host).open()
    sid = streamer.stream_id or ""
    watchers = [await RecordedPeer(host, {"streamId": sid}).open() for _ in range(2)]
    first = watchers[0]
    await first.send_event("sync", {"streamId": sid, "have": None})
    request = await streamer.wait_for(type="sync-request")
    snapshot = {"streamId": sid, "to": request["connectionId"], "ticket": request["ticket"],
                "epoch": "e1", "v": 1}  # fmt: skip
    await streamer.send_event("snapshot", {**snapshot, "doc": CODE, "chunk": [0, 1]})
    await first.wait_for(type="snapshot", v=1)
    await streamer.send_event("control", {"streamId": sid, "title": "demo", "lang": "python"})
    await streamer.send_to_group(sid, {"type": "delta", "epoch": "e1", "v": 2,
                                       "changes": [[0, 0, CODE]]})  # fmt: skip
    for watcher in watchers:
        await watcher.wait_for(type="delta", v=2)
    # a watcher may not write: the emulator refuses (and logs that it did)
    with pytest.raises(SendMessageError):
        await first.send_to_group(sid, {"type": "delta", "epoch": "e1", "v": 3, "changes": []})
    # refused events whose data holds the code: only ids and codes may be logged
    await first.send_event("sync", {"streamId": sid, "have": {"epoch": CODE, "v": 1}})
    await first.wait_for(type="error", code="bad_schema")
    await streamer.send_event("control", {"streamId": sid, "title": CODE * 20})
    await streamer.wait_for(type="error", code="too_large")
    # a watcher leaves, another comes; the streamer reconnects with its owner key
    await watchers[1].close()
    watchers.append(await RecordedPeer(host, {"streamId": sid}).open())
    await streamer.close()
    await streamer.open()
    await watchers[2].wait_for(type="status", state="live")
    await streamer.send_event("control", {"streamId": sid, "ended": True})
    for watcher in (watchers[0], watchers[2]):
        await watcher.wait_for(type="status", state="ended")
    await streamer.close()
    for watcher in watchers:
        await watcher.close()
    return streamer, watchers


async def test_no_secret_in_logs_urls_or_watcher_messages() -> None:
    with start_devhost() as host:
        streamer, watchers = await stream_session(host)
        log = host.process.output()
    owner_key = streamer.owner_key
    assert owner_key
    assert len(streamer.answers) == 2  # created, then resumed
    urls = [a["url"] for p in (streamer, *watchers) for a in p.answers]
    tokens = [unquote(url.split("access_token=", 1)[1]) for url in urls]
    secrets = {
        "owner key": owner_key,
        "access key": host.access_key,
        "owner-key secret": host.owner_key_secret,
        **{f"token #{i}": t for i, t in enumerate(tokens)},
    }
    assert "[emulator]" in log  # the emulator's lines are in this log too
    for name, value in secrets.items():
        assert value not in log, f"the {name} is in the log"
        assert value.split(".")[-1] not in log, f"the signature of the {name} is in the log"
    assert "CODE-SENTINEL" not in log, "the streamed code is in the log"
    for url in urls:
        assert owner_key not in url
        assert owner_key not in unquote(url)
    for watcher in watchers:
        assert watcher.messages, "the session did not reach the watcher"
        received = json.dumps([data for _kind, data in watcher.messages])
        assert owner_key not in received
        assert host.access_key not in received
        assert all("ownerKey" not in a for a in watcher.answers)
