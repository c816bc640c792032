"""`codestream.blobs.BlobStore` against a real Azurite, looked at with Microsoft's own
azure-storage-blob client: create-only and If-Match writes, ETag reads, races, an outage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceNotFoundError

from codestream.blobs import NOT_MODIFIED, BlobStore, StorageUnavailable, StoredBlob
from harness.azurite import RunningAzurite, new_setup, start_azurite

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def azurite() -> Iterator[RunningAzurite]:
    with start_azurite() as running:
        yield running


async def test_the_container_is_created_at_first_use(azurite: RunningAzurite) -> None:
    store = BlobStore(azurite.storage("first-use"))
    try:
        assert await store.read("s/manifest.json") is None
        assert await store.create("s/manifest.json", b'{"a":1}')
    finally:
        await store.close()
    async with azurite.container_client("first-use") as container:
        blob = await container.download_blob("s/manifest.json")
        assert await blob.readall() == b'{"a":1}'
        assert blob.properties.content_settings.content_type == "application/json"


async def test_create_never_overwrites(azurite: RunningAzurite) -> None:
    store = BlobStore(azurite.storage())
    try:
        assert await store.create("c/k/e1/0-aaaa", b"first")
        assert not await store.create("c/k/e1/0-aaaa", b"second")
        stored = await store.read("c/k/e1/0-aaaa")
        assert isinstance(stored, StoredBlob)
        assert stored.body == b"first"
    finally:
        await store.close()


async def test_replace_only_on_the_etag_read(azurite: RunningAzurite) -> None:
    store = BlobStore(azurite.storage())
    try:
        await store.create("r/manifest.json", b"v1")
        v1 = await store.read("r/manifest.json")
        assert isinstance(v1, StoredBlob)
        assert v1.etag.startswith('"')
        assert await store.read("r/manifest.json", unless_etag=v1.etag) is NOT_MODIFIED
        assert await store.replace("r/manifest.json", b"v2", v1.etag)
        assert not await store.replace("r/manifest.json", b"stale", v1.etag)
        v2 = await store.read("r/manifest.json", unless_etag=v1.etag)
        assert isinstance(v2, StoredBlob)
        assert (v2.body, v2.etag != v1.etag) == (b"v2", True)
        assert not await store.replace("r/gone.json", b"x", v1.etag)  # If-Match on nothing
        async with azurite.container_client() as container:
            with pytest.raises(ResourceNotFoundError):
                await container.download_blob("r/gone.json")
    finally:
        await store.close()


async def test_of_racing_writers_exactly_one_wins(azurite: RunningAzurite) -> None:
    stores = [BlobStore(azurite.storage()) for _ in range(8)]
    try:
        await stores[0].create("race/manifest.json", b"base")
        base = await stores[0].read("race/manifest.json")
        assert isinstance(base, StoredBlob)
        results = await asyncio.gather(
            *(
                s.replace("race/manifest.json", f"w{i}".encode(), base.etag)
                for i, s in enumerate(stores)
            )
        )
        assert sum(results) == 1
        winner = results.index(True)
        created = await asyncio.gather(
            *(s.create("race/new.json", f"{i}".encode()) for i, s in enumerate(stores))
        )
        assert sum(created) == 1
        after = await stores[0].read("race/manifest.json")
        assert isinstance(after, StoredBlob)
        assert after.body == f"w{winner}".encode()
    finally:
        for s in stores:
            await s.close()


async def test_an_outage_is_storage_unavailable_quickly_and_then_heals(tmp_path: Path) -> None:
    setup = new_setup(tmp_path / "data")
    with start_azurite(setup) as running:
        store = BlobStore(running.storage())
        await store.create("o/manifest.json", b"kept")
    # down: every call is refused at once, with retries of well under a second each
    started = time.monotonic()
    with pytest.raises(StorageUnavailable):
        await store.read("o/manifest.json")
    with pytest.raises(StorageUnavailable):
        await store.create("o/other.json", b"x")
    assert time.monotonic() - started < 10
    with start_azurite(setup):  # back, same data and key
        stored = await store.read("o/manifest.json")
        assert isinstance(stored, StoredBlob)
        assert stored.body == b"kept"
        assert await store.create("o/other.json", b"x")
    await store.close()
