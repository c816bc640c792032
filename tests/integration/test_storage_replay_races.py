"""The replay shell against a real Azurite, at the worst moments: a delete from another
instance between an upload's manifest read and its blob write (the upload is refused and
deletes the blob it wrote: nothing is left behind), and a "record off" keyframe pruning the
blobs a join state or a download is reading (the reader starts again from the new
manifest, never a 404)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from codestream.blobs import BlobStore, StoredBlob
from codestream.config import Settings, load_settings
from codestream.history import replay
from codestream.ids import owner_key
from codestream.joincache import JoinCache
from codestream.recordings import Recordings
from codestream.streams import KEYFRAMES, SEGMENTS, Streams
from harness.azurite import RunningAzurite, start_azurite
from harness.history_model import StreamerModel

pytestmark = pytest.mark.integration

SECRET = "q" * 40


@pytest.fixture(scope="module")
def azurite() -> Iterator[RunningAzurite]:
    with start_azurite() as running:
        yield running


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


class BeforeBlobWrite(BlobStore):
    """A real store that runs `rival` once, just before it writes its first immutable blob
    (after it read the manifest): the rival's sweep cannot see the blob written next."""

    def __init__(self, storage: Any, rival: Callable[[], Awaitable[None]]) -> None:
        super().__init__(storage)
        self.rival: Callable[[], Awaitable[None]] | None = rival

    async def create(self, name: str, body: bytes) -> bool:
        if self.rival is not None and not name.endswith("/manifest.json"):
            rival, self.rival = self.rival, None
            await rival()
        return await super().create(name, body)


class BeforeBlobRead(BlobStore):
    """A real store that runs `rival` once, just before its first read of a keyframe."""

    def __init__(self, storage: Any, rival: Callable[[], Awaitable[None]]) -> None:
        super().__init__(storage)
        self.rival: Callable[[], Awaitable[None]] | None = rival

    async def read(self, name: str, unless_etag: str | None = None) -> Any:
        if self.rival is not None and "/k/" in name:
            rival, self.rival = self.rival, None
            await rival()
        return await super().read(name, unless_etag)


async def names(store: BlobStore, sid: str) -> set[str]:
    return {n.removeprefix(f"{sid}/") for n in await store.list_names(f"{sid}/")}


async def test_an_upload_racing_a_delete_is_refused_and_leaves_nothing(
    azurite: RunningAzurite,
) -> None:
    sid = "stream-race-del-01"
    config = settings(azurite)
    other = Streams(config, BlobStore(config.storage))
    model = StreamerModel(doc="secret")
    assert (await other.upload(KEYFRAMES, sid, auth(sid), dump(model.keyframe()))).status == 200

    async def the_owner_deletes_from_another_instance() -> None:
        assert (await other.delete(sid, auth(sid))).status == 204

    store = BeforeBlobWrite(config.storage, the_owner_deletes_from_another_instance)
    ours = Streams(config, store)
    model.replace(0, 0, "more ")
    answer = await ours.upload(SEGMENTS, sid, auth(sid), dump(model.cut()))
    assert (answer.status, answer.json()["error"]["code"]) == (409, "deleted")
    assert await names(store, sid) == {"manifest.json"}  # the segment blob it wrote is gone
    stored = await store.read(f"{sid}/manifest.json")
    assert isinstance(stored, StoredBlob)
    assert json.loads(stored.body)["deleted"] is True
    await store.close()


async def test_a_join_state_read_across_a_prune_starts_again(azurite: RunningAzurite) -> None:
    sid = "stream-race-prune1"
    config = settings(azurite)
    writer = Streams(config, BlobStore(config.storage))
    model = StreamerModel(doc="abc")
    assert (await writer.upload(KEYFRAMES, sid, auth(sid), dump(model.keyframe()))).status == 200
    model.replace(0, 0, "x")
    assert (await writer.upload(SEGMENTS, sid, auth(sid), dump(model.cut()))).status == 200

    async def record_off_prunes_everything() -> None:
        model.replace(0, 0, "y")
        assert (await writer.upload(SEGMENTS, sid, auth(sid), dump(model.cut()))).status == 200
        off = model.keyframe() | {"record": False}
        assert (await writer.upload(KEYFRAMES, sid, auth(sid), dump(off))).status == 200

    store = BeforeBlobRead(config.storage, record_off_prunes_everything)
    reader = Streams(config, store, cache=JoinCache(1.0))
    answer = await reader.read(sid, {})
    assert answer.status == 200
    doc = answer.json()
    assert replay(doc["keyframe"], doc["segments"]) == ("yxabc", 2)
    await store.close()


async def test_a_download_across_a_prune_is_of_the_new_manifest(azurite: RunningAzurite) -> None:
    sid = "stream-race-prune2"
    config = settings(azurite)
    writer = Streams(config, BlobStore(config.storage))
    model = StreamerModel(doc="abc")
    assert (await writer.upload(KEYFRAMES, sid, auth(sid), dump(model.keyframe()))).status == 200

    async def record_off_prunes_everything() -> None:
        model.replace(0, 0, "y")
        assert (await writer.upload(SEGMENTS, sid, auth(sid), dump(model.cut()))).status == 200
        off = model.keyframe() | {"record": False}
        assert (await writer.upload(KEYFRAMES, sid, auth(sid), dump(off))).status == 200

    store = BeforeBlobRead(config.storage, record_off_prunes_everything)
    reader = Recordings(config, store, JoinCache(1.0))
    answer = await reader.download(sid, {"accept-encoding": "identity"})
    assert answer.status == 200
    lines = [json.loads(line) for line in answer.body.splitlines()]
    assert [line["type"] for line in lines] == ["recording", "keyframe"]
    assert (lines[1]["v"], lines[1]["doc"], lines[1]["record"]) == (1, "yabc", False)
    await store.close()
