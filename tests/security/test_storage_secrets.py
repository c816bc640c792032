"""The storage endpoints keep secrets where they belong: the owner key travels only in the
Authorization header (never in a URL), is compared in constant time, and is never logged,
stored or served; nor is Azurite's account key printed; nor does the streamed code reach a
log line. And a watcher's read reveals nothing an upload did not store."""

from __future__ import annotations

import hmac
import json
from typing import Any

import aiohttp
import pytest

from codestream import ids
from codestream.config import load_settings
from codestream.streams import Streams
from harness.azurite import NO_STORAGE
from harness.devhost import RunningDevHost
from harness.history_model import StreamerModel
from harness.streams_http import StreamsClient, new_stream, raw_session

CODE = "token = 'STORED-CODE-SENTINEL-91c2'"


@pytest.mark.integration
async def test_no_owner_key_in_urls_logs_blobs_or_answers(devhost: RunningDevHost) -> None:
    urls: list[str] = []

    async def record(_session: Any, _context: Any, params: aiohttp.TraceRequestStartParams) -> None:
        urls.append(str(params.url))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(record)
    async with raw_session(trace) as http:
        client = StreamsClient(http, devhost.url)
        sid, key = await new_stream(http, devhost.url)
        model = StreamerModel(doc=CODE)
        assert (await client.keyframe(sid, key, model.keyframe())).status == 200
        model.replace(0, 0, CODE)
        assert (await client.segment(sid, key, model.cut())).status == 200
        # refused with the code in the body, and with wrong keys: only codes are logged
        assert (await client.segment(sid, key, {"epoch": CODE})).status == 400
        assert (await client.segment(sid, key[::-1], model.keyframe())).status == 403
        assert (await client.upload("segments", sid, None, b"{}")).status == 401
        state = await client.join_state(sid, gzip_ok=False)
    assert state.status == 200
    log = devhost.process.output()
    assert devhost.storage is not None
    assert "[azurite]" in log  # Azurite's lines are in this log too
    for secret in (key, devhost.storage.account_key, devhost.owner_key_secret):
        assert secret not in log
    assert "STORED-CODE-SENTINEL" not in log
    assert len(urls) == 7
    for url in urls:
        assert key not in url
    assert key.encode() not in state.body
    assert "ownerKey" not in json.loads(state.body)


def test_the_owner_key_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
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
    sid = "stream-abc-123"
    good = ids.owner_key(settings.owner_key_secret, sid)
    for offered in (good[:-1] + "x", "x", "\ud800" * 3):
        refused = streams._owner_refusal(sid, {"authorization": f"Bearer {offered}"})
        assert refused is not None
        assert refused.status == 403
    assert streams._owner_refusal(sid, {"authorization": f"Bearer {good}"}) is None
    assert len(compared) == 4
