"""Deleting a recording takes the owner key, and only in the Authorization header: never in a
URL, a log line or an answer; a watcher (who has the link, not the key) cannot delete, and
neither can another stream's owner. The recording's public reads reveal nothing of the key,
nor the manifest's private fields; the stored code never reaches a log line."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from codestream import ids
from codestream.config import load_settings
from codestream.streams import Streams
from harness.azurite import NO_STORAGE
from harness.devhost import Peer, RunningDevHost
from harness.history_model import StreamerModel
from harness.streams_http import StreamsClient, new_stream, raw_session

CODE = "token = 'REPLAYED-CODE-SENTINEL-7d1e'"


@pytest.mark.integration
async def test_no_owner_key_in_urls_logs_or_answers_and_only_it_deletes(
    devhost: RunningDevHost,
) -> None:
    urls: list[str] = []

    async def record(_session: Any, _context: Any, params: aiohttp.TraceRequestStartParams) -> None:
        urls.append(str(params.url))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(record)
    async with raw_session(trace) as http:
        client = StreamsClient(http, devhost.url)
        sid, key = await new_stream(http, devhost.url)
        _other_sid, other_key = await new_stream(http, devhost.url)
        model = StreamerModel(doc=CODE)
        model.title = CODE
        assert (await client.keyframe(sid, key, model.keyframe())).status == 200
        model.replace(0, 0, CODE)
        model.control(marker="marker " + CODE[:40])
        assert (await client.segment(sid, key, model.cut() or {})).status == 200
        answers = [
            await client.recording(sid, gzip_ok=False),
            await client.download(sid, gzip_ok=False),
            await client.oembed({"url": f"{devhost.url}/watch.html#{sid}"}),
        ]
        index = answers[0].json()
        answers.append(await client.blob(sid, index["segments"][0]["name"], gzip_ok=False))
        # the manifest's private fields stay private
        assert set(index) == {
            "streamId", "title", "lang", "ended", "record", "createdAt", "updatedAt", "head",
            "keyframes", "segments", "gaps", "markers",
        }  # fmt: skip
        assert "length" not in index["head"]
        assert "upload" not in index
        assert all("seq" not in entry for entry in index["keyframes"] + index["segments"])
        # refused deletes, then the owner's
        for wrong in (None, other_key, key[:-1] + ("A" if key[-1] != "A" else "B"), "x"):
            refused = await client.delete(sid, wrong)
            assert refused.status in (401, 403)
            answers.append(refused)
        assert (await client.recording(sid)).status == 200  # nothing was deleted
        deleted = await client.delete(sid, key)
        assert deleted.status == 204
        answers.append(deleted)
    log = devhost.process.output()
    assert key not in log
    assert devhost.owner_key_secret not in log
    assert "REPLAYED-CODE-SENTINEL" not in log
    assert f"stream {sid}: recording deleted" in log  # the deletion is logged, by stream id
    for url in urls:
        assert key not in url
        assert other_key not in url
    for answer in answers:
        assert key.encode() not in answer.body
        assert b'"ownerKey"' not in answer.body  # no key field (a message may name it)


@pytest.mark.integration
async def test_a_watcher_has_no_way_to_delete(devhost: RunningDevHost) -> None:
    streamer = await Peer(devhost).open()
    try:
        sid, key = streamer.stream_id or "", streamer.owner_key or ""
        watcher = Peer(devhost, {"streamId": sid})
        answer = await watcher.negotiate()
        assert "ownerKey" not in answer  # what a watcher gets has no key in it
        async with raw_session() as http:
            client = StreamsClient(http, devhost.url)
            assert (await client.keyframe(sid, key, StreamerModel().keyframe())).status == 200
            token = answer["url"].split("access_token=", 1)[1]  # the watcher's only credential
            for credential in (None, token, answer["url"], sid):
                refused = await client.delete(sid, credential)
                assert refused.status in (401, 403), credential
            assert (await client.join_state(sid)).status == 200
    finally:
        await streamer.close()


def test_delete_compares_the_owner_key_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(ids.hmac, "compare_digest", spy)
    settings = load_settings(
        {
            "WebPubSubConnectionString": "Endpoint=http://127.0.0.1:9;AccessKey=k;Version=1.0;",
            "OwnerKeySecret": "s" * 32,
            **NO_STORAGE,
        }
    )
    streams = Streams(settings, store=None)  # type: ignore[arg-type] (refused before storage)
    import asyncio

    sid = "stream-abc-123"
    wrong = ids.owner_key(settings.owner_key_secret, sid)[:-1] + "x"
    answer = asyncio.run(streams.delete(sid, {"Authorization": f"Bearer {wrong}"}))
    assert answer.status == 403
    assert len(compared) == 1
    assert json.loads(answer.body)["error"]["code"] == "owner_key_mismatch"
