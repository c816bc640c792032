"""The storage shell against a real Azurite.

When another upload wins the manifest race, the loser decides again on the winner's manifest,
and after losing twice answers 409 conflict, without touching what the winners stored. The
rival is a second app instance (its own `Streams` and client) making a real upload at the
worst moment: between our read of the manifest and our If-Match write.

A join storm costs one storage read per cache period, and a stale entry is revalidated with
the manifest's ETag, reusing the immutable blobs it has."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from codestream.blobs import BlobStore, StoredBlob
from codestream.config import Settings, load_settings
from codestream.history import replay
from codestream.ids import owner_key
from codestream.joincache import JoinCache
from codestream.streams import KEYFRAMES, SEGMENTS, Streams
from harness.azurite import RunningAzurite, start_azurite
from harness.history_model import StreamerModel

pytestmark = pytest.mark.integration

SECRET = "r" * 40


@pytest.fixture(scope="module")
def azurite() -> Iterator[RunningAzurite]:
    with start_azurite() as running:
        yield running


class RacedStore(BlobStore):
    """A real store that runs `rival` just before each manifest write of its own."""

    def __init__(self, storage: Any, rival: Callable[[], Awaitable[None]], times: int) -> None:
        super().__init__(storage)
        self.rival, self.times = rival, times

    async def replace(self, name: str, body: bytes, etag: str) -> bool:
        if self.times > 0:
            self.times -= 1
            await self.rival()
        return await super().replace(name, body, etag)


def settings(azurite: RunningAzurite) -> Settings:
    return load_settings(
        {
            "WebPubSubConnectionString": "Endpoint=http://127.0.0.1:9;AccessKey=k;Version=1.0;",
            "OwnerKeySecret": SECRET,
            "StreamStorageConnectionString": azurite.connection_string,
        }
    )


def auth(sid: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {owner_key(SECRET, sid)}"}


def dump(value: Any) -> bytes:
    return json.dumps(value).encode()


async def manifest(store: BlobStore, sid: str) -> dict[str, Any]:
    stored = await store.read(f"{sid}/manifest.json")
    assert isinstance(stored, StoredBlob)
    doc: dict[str, Any] = json.loads(stored.body)
    return doc


@pytest.mark.parametrize("losses", [1, 2])
async def test_a_lost_race_is_decided_again_then_conflict(
    azurite: RunningAzurite, losses: int
) -> None:
    sid = f"stream-race-{losses:04d}"
    model = StreamerModel(doc="base")
    base = model.keyframe()
    config = settings(azurite)
    rival_store = BlobStore(config.storage)
    rival_app = Streams(config, rival_store)
    assert (await rival_app.upload(KEYFRAMES, sid, auth(sid), dump(base))).status == 200
    rival_keyframes: list[dict[str, Any]] = []

    async def rival_uploads_a_keyframe() -> None:
        # another tab of the stream re-keys the head: same version, same length, new text
        n = len(rival_keyframes)
        body = {**base, "doc": f"bas{n}", "t": base["t"] + 1 + n}
        rival_keyframes.append(body)
        assert (await rival_app.upload(KEYFRAMES, sid, auth(sid), dump(body))).status == 200

    store = RacedStore(config.storage, rival_uploads_a_keyframe, losses)
    ours = Streams(config, store)
    model.replace(4, 4, "!")
    answer = await ours.upload(SEGMENTS, sid, auth(sid), dump(model.cut()))
    stored = await manifest(rival_store, sid)
    if losses == 1:  # decided again on the rival's manifest: still the next segment
        assert (answer.status, answer.json()) == (200, {"head": {"epoch": "e1", "v": 1}})
        assert [s["from"] for s in stored["segments"]] == [1]
    else:
        assert answer.status == 409
        assert answer.json()["error"]["code"] == "conflict"
        assert stored["segments"] == []  # the loser wrote no manifest
    # every rival keyframe the manifest names is stored as sent: nothing was overwritten
    assert len(stored["keyframes"]) == 1 + losses
    for entry, body in zip(stored["keyframes"][1:], rival_keyframes, strict=True):
        blob = await rival_store.read(f"{sid}/{entry['name']}")
        assert isinstance(blob, StoredBlob)
        assert json.loads(blob.body)["doc"] == body["doc"]
    if losses == 1:
        joined = await ours.read(sid, {})
        doc = joined.json()
        assert replay(doc["keyframe"], doc["segments"])[0] == rival_keyframes[-1]["doc"] + "!"
    await store.close()
    await rival_store.close()


class CountingStore(BlobStore):
    """A real store that counts its reads (and whether each was conditional)."""

    def __init__(self, storage: Any) -> None:
        super().__init__(storage)
        self.reads: list[tuple[str, bool]] = []

    async def read(self, name: str, unless_etag: str | None = None) -> Any:
        self.reads.append((name.split("/", 1)[1], unless_etag is not None))
        return await super().read(name, unless_etag)


async def test_a_join_storm_costs_one_storage_read_per_cache_period(
    azurite: RunningAzurite,
) -> None:
    sid = "stream-storm-0001"
    config = settings(azurite)
    writer = Streams(config, BlobStore(config.storage))
    model = StreamerModel(doc="x = 1\n" * 500)
    assert (await writer.upload(KEYFRAMES, sid, auth(sid), dump(model.keyframe()))).status == 200
    model.replace(0, 0, "# ")
    assert (await writer.upload(SEGMENTS, sid, auth(sid), dump(model.cut()))).status == 200

    class Clock:
        now = 0.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    store = CountingStore(config.storage)
    reader = Streams(config, store, cache=JoinCache(1.0, clock=clock))
    answers = await asyncio.gather(
        *(reader.read(sid, {"accept-encoding": "gzip"}) for _ in range(200))
    )
    assert {a.status for a in answers} == {200}
    assert len({a.body for a in answers}) == 1
    # for 200 joins: the manifest, the keyframe, the one segment
    assert [(name.split("/")[0], conditional) for name, conditional in store.reads] == [
        ("manifest.json", False),
        ("k", False),
        ("s", False),
    ]
    clock.now = 0.9
    await reader.read(sid, {})
    assert len(store.reads) == 3  # fresh: no storage call at all
    clock.now = 1.1  # stale: revalidated with the manifest's ETag, blobs reused
    again = await reader.read(sid, {"accept-encoding": "gzip"})
    assert again.body == answers[0].body
    assert store.reads[3:] == [("manifest.json", True)]
    model.replace(0, 0, "!")  # another instance stores more
    assert (await writer.upload(SEGMENTS, sid, auth(sid), dump(model.cut()))).status == 200
    clock.now = 2.2
    doc = (await reader.read(sid, {})).json()
    assert replay(doc["keyframe"], doc["segments"]) == (model.doc, 2)
    # one conditional manifest read, then only the new segment: the rest was reused
    assert store.reads[4] == ("manifest.json", True)
    assert len(store.reads) == 6
    assert store.reads[5][0].startswith("s/e1/2-2-")
    assert not store.reads[5][1]
    await store.close()
