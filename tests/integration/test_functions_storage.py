"""The stream storage endpoints of the real Function App through the dev host, on its own
Azurite: uploads, the join state (gzip, ETag/304, cache headers), every refusal code, retries,
races, and an outage. What is stored is checked with Microsoft's azure-storage-blob client."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from codestream import config
from codestream.contract import CONTRACT
from codestream.history import replay
from harness.azurite import new_setup, start_azurite
from harness.devhost import RunningDevHost, start_devhost
from harness.history_model import StreamerModel
from harness.streams_http import StreamsClient, new_stream, raw_session

pytestmark = pytest.mark.integration

LIMITS = CONTRACT.raw["limits"]


@pytest.fixture(scope="module")
def devhost() -> Iterator[RunningDevHost]:
    with start_devhost() as host:
        yield host


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with raw_session() as session:
        yield session


async def started(
    host: RunningDevHost, http: aiohttp.ClientSession, doc: str = "print('hi')\n"
) -> tuple[StreamsClient, str, str, StreamerModel]:
    client = StreamsClient(http, host.url)
    sid, key = await new_stream(http, host.url)
    model = StreamerModel(doc=doc)
    model.lang, model.title = "python", "Demo"
    answer = await client.keyframe(sid, key, model.keyframe())
    assert (answer.status, answer.json()) == (200, {"head": {"epoch": "e1", "v": 0}})
    return client, sid, key, model


async def stored_blobs(host: RunningDevHost, sid: str) -> dict[str, bytes]:
    """Every blob of a stream, read with Microsoft's client."""
    assert host.storage is not None
    from azure.storage.blob.aio import ContainerClient

    from codestream.blobs import API_VERSION

    found = {}
    async with ContainerClient.from_connection_string(
        host.storage.connection_string, CONTRACT.storage.container, api_version=API_VERSION
    ) as container:
        async for item in container.list_blobs(name_starts_with=f"{sid}/"):
            blob = await container.download_blob(item.name)
            found[item.name.removeprefix(f"{sid}/")] = await blob.readall()
    return found


def assert_content_addressed(blobs: dict[str, bytes]) -> None:
    """Every immutable blob still holds what its name says: nothing was overwritten."""
    for name, body in blobs.items():
        if name != "manifest.json":
            assert name.rsplit("-", 1)[1] == hashlib.sha256(body).hexdigest()[:8], name


# ---------------------------------------------------------------- upload and join


async def test_uploads_make_the_join_state(devhost: RunningDevHost, http: Any) -> None:
    client, sid, key, model = await started(devhost, http)
    model.replace(0, 0, "# ")
    model.replace(100, 100, "x = 'é😀'\n")
    model.control(title="Step 2")
    first = model.cut()
    answer = await client.segment(sid, key, first)
    assert (answer.status, answer.json()) == (200, {"head": {"epoch": "e1", "v": 2}})
    assert answer.headers["Cache-Control"] == "no-store"
    model.replace(0, 2, "")
    second = model.cut()
    assert (await client.segment(sid, key, second)).json() == {"head": {"epoch": "e1", "v": 3}}

    state = await client.join_state(sid, gzip_ok=False)
    assert state.status == 200
    assert state.headers["Cache-Control"] == "no-cache"
    assert state.headers["Vary"] == "Accept-Encoding"
    assert "Content-Encoding" not in state.headers
    doc = state.json()
    assert doc == {
        "streamId": sid,
        "title": "Step 2",
        "lang": "python",
        "ended": False,
        "head": {"epoch": "e1", "v": 3, "t": second["t0"] + second["deltas"][-1][0]},
        "markers": [],
        "keyframe": {"epoch": "e1", "v": 0, "t": doc["keyframe"]["t"], "doc": "print('hi')\n",
                     "lang": "python", "title": "Demo"},
        "segments": [first, second],
    }  # fmt: skip
    assert replay(doc["keyframe"], doc["segments"]) == (model.doc, 3)


async def test_gzip_etag_and_304(devhost: RunningDevHost, http: Any) -> None:
    client, sid, key, model = await started(devhost, http, "x = 1\n" * 2000)
    plain = await client.join_state(sid, gzip_ok=False)
    zipped = await client.join_state(sid)
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert len(zipped.body) * 20 < len(plain.body)
    assert gzip.decompress(zipped.body) == plain.body
    etag = zipped.headers["ETag"]
    assert etag == plain.headers["ETag"]
    assert etag.startswith('W/"')

    unchanged = await client.join_state(sid, if_none_match=etag)
    assert (unchanged.status, unchanged.body, unchanged.headers["ETag"]) == (304, b"", etag)
    assert unchanged.headers["Cache-Control"] == "no-cache"
    assert (await client.join_state(sid, if_none_match='"something-else"')).status == 200

    model.replace(0, 0, "# ")
    assert (await client.segment(sid, key, model.cut())).status == 200
    changed = await client.join_state(sid, if_none_match=etag)  # this instance's cache expired
    assert changed.status == 200
    assert changed.headers["ETag"] != etag
    assert changed.json()["head"]["v"] == 1


async def test_a_retried_upload_is_answered_again_and_stored_once(
    devhost: RunningDevHost, http: Any
) -> None:
    client, sid, key, model = await started(devhost, http)
    keyframe = model.keyframe()  # the one `started` uploaded
    model.replace(0, 0, "a")
    segment = model.cut()
    answers = [await client.segment(sid, key, segment) for _ in range(3)]
    assert [(a.status, a.json()) for a in answers] == [(200, {"head": {"epoch": "e1", "v": 1}})] * 3
    again = await client.keyframe(sid, key, keyframe)  # behind the head, yet already stored
    assert (again.status, again.json()) == (200, {"head": {"epoch": "e1", "v": 1}})
    state = (await client.join_state(sid)).json()
    assert state["segments"] == [segment]
    blobs = await stored_blobs(devhost, sid)
    assert len([n for n in blobs if n.startswith("s/")]) == 1
    manifest = json.loads(blobs["manifest.json"])
    assert [s["from"] for s in manifest["segments"]] == [1]
    assert len(manifest["keyframes"]) == 1


async def test_racing_uploads_never_overwrite_stored_data(
    devhost: RunningDevHost, http: Any
) -> None:
    client, sid, key, model = await started(devhost, http)
    rivals = []
    for i in range(6):  # six tabs of one stream, each with its own next delta
        rival = StreamerModel(doc=model.doc, t=model.t)
        rival.replace(0, 0, f"tab {i} ")
        rivals.append(rival.cut())
    answers = await asyncio.gather(*(client.segment(sid, key, body) for body in rivals))
    winners = [i for i, a in enumerate(answers) if a.status == 200]
    assert len(winners) == 1, [(a.status, a.json()) for a in answers]
    for answer in answers:
        if answer.status != 200:
            assert answer.status == 409
            assert answer.code in ("out_of_order", "conflict")
    state = (await client.join_state(sid)).json()
    assert state["segments"] == [rivals[winners[0]]]
    assert replay(state["keyframe"], state["segments"])[0].startswith(f"tab {winners[0]} ")
    blobs = await stored_blobs(devhost, sid)
    assert_content_addressed(blobs)


# ---------------------------------------------------------------- refusals


def segment_body(model: StreamerModel) -> dict[str, Any]:
    model.replace(0, 0, "z")
    body = model.cut()
    assert body is not None
    return body


async def test_every_refusal_code(devhost: RunningDevHost, http: Any) -> None:
    client, sid, key, model = await started(devhost, http, "hello")
    other_sid, other_key = await new_stream(http, devhost.url)
    good = segment_body(model)

    async def expect(answer_call: Any, status: int, code: str) -> Any:
        answer = await answer_call
        assert (answer.status, answer.code) == (status, code), answer.json()
        doc = answer.json()
        assert set(doc) <= {"error", "head"}
        assert set(doc["error"]) == {"code", "message"}
        assert doc["error"]["message"]
        if answer.headers.get("Cache-Control") is not None and status != 404:
            assert answer.headers["Cache-Control"] == "no-store"
        return answer

    # 400
    await expect(client.upload("segments", sid, key, b"{nope"), 400, "bad_json")
    await expect(client.upload("segments", sid, key, b"\xff\xfe"), 400, "bad_json")
    await expect(client.segment(sid, key, {**good, "extra": 1}), 400, "bad_schema")
    await expect(client.keyframe(sid, key, {"epoch": "e1"}), 400, "bad_schema")
    await expect(client.segment("bad!id", key, good), 400, "bad_stream_id")
    await expect(client.join_state("x"), 400, "bad_stream_id")
    outside = {**good, "deltas": [[0, [[50, 60, ""]], None]]}
    await expect(client.segment(sid, key, outside), 400, "bad_delta")
    # 401 / 403
    unauthenticated = await expect(
        client.upload("segments", sid, None, good), 401, "unauthenticated"
    )
    assert unauthenticated.headers["WWW-Authenticate"] == "Bearer"
    await expect(client.segment(sid, key[:-1] + "x", good), 403, "owner_key_mismatch")
    await expect(client.segment(sid, other_key, good), 403, "owner_key_mismatch")  # a real key
    await expect(client.segment(sid, "k" * 5000, good), 403, "owner_key_mismatch")
    # 404
    await expect(client.segment(other_sid, other_key, good), 404, "no_stream")
    await expect(client.join_state(other_sid), 404, "no_stream")
    # 409 out_of_order, with the head to recover from
    ahead = {**good, "from": 5, "to": 5}
    refused = await expect(client.segment(sid, key, ahead), 409, "out_of_order")
    assert refused.json()["head"] == {"epoch": "e1", "v": 0}
    await expect(client.segment(sid, key, {**good, "epoch": "e9"}), 409, "out_of_order")
    # 413
    big = {**model.keyframe(), "doc": "x" * (LIMITS["keyframeBytes"] + 1)}
    await expect(client.keyframe(sid, key, big), 413, "too_large")
    huge = {**good, "deltas": [[0, [[0, 0, "x" * LIMITS["segmentBytes"]]], None]]}
    await expect(client.segment(sid, key, huge), 413, "too_large")
    # nothing of that was stored; the good upload still is the next one
    assert (await client.segment(sid, key, good)).status == 200
    state = (await client.join_state(sid)).json()
    assert replay(state["keyframe"], state["segments"]) == (model.doc, 1)


async def test_uploads_are_rate_limited(devhost: RunningDevHost, http: Any) -> None:
    client, sid, key, model = await started(devhost, http)
    statuses = []
    for _ in range(int(CONTRACT.storage.upload_burst) + 3):
        body = segment_body(model)
        answer = await client.segment(sid, key, body)
        statuses.append(answer.status)
        if answer.status == 429:
            break
    assert statuses[-1] == 429
    # the burst (the first keyframe took one) and a refill of 2/s while these ran
    assert (
        CONTRACT.storage.upload_burst - 1
        <= statuses.count(200)
        <= CONTRACT.storage.upload_burst + 4
    )
    assert answer.code == "rate_limited"
    assert int(answer.headers["Retry-After"]) >= 1
    await asyncio.sleep(int(answer.headers["Retry-After"]))
    assert (await client.segment(sid, key, body)).status == 200  # the same one, retried


# ---------------------------------------------------------------- storage outage


async def test_a_storage_outage_is_503_and_loses_nothing(tmp_path: Path) -> None:
    setup = new_setup(tmp_path / "azurite")
    with start_azurite(setup) as azurite:
        env = {config.STORAGE_CONNECTION_STRING: azurite.connection_string}
        with start_devhost(env=env) as host:
            assert host.storage is None  # the dev host started no Azurite of its own
            async with raw_session() as http:
                client, sid, key, model = await started(host, http)
                before = segment_body(model)
                assert (await client.segment(sid, key, before)).status == 200
                azurite.process.stop()

                pending = segment_body(model)
                for call in (
                    client.segment(sid, key, pending),
                    client.keyframe(sid, key, model.keyframe()),
                ):
                    answer = await call
                    assert (answer.status, answer.code) == (503, "storage_unavailable")
                    assert answer.headers["Retry-After"] == "2"
                    assert "retry" in answer.json()["error"]["message"]
                await asyncio.sleep(CONTRACT.storage.join_cache_ms / 1000 + 0.1)
                assert (await client.join_state(sid)).status == 503
                async with http.get(f"{host.url}/api/health") as resp:
                    assert resp.status == 200  # the app is up and says so

                with start_azurite(setup):  # back, with the same data
                    assert (await client.segment(sid, key, pending)).status == 200
                    state = (await client.join_state(sid)).json()
                    assert state["segments"] == [before, pending]
                    assert replay(state["keyframe"], state["segments"]) == (model.doc, 2)
            assert "Traceback" not in host.process.output()
