"""The stream container: create-only and compare-and-swap writes, reads with ETags.

`BlobStore` turns the SDK's exceptions into the three answers the upload shell needs
(written / the condition failed / storage is unavailable), so the shell never sees an
`AzureError` and a storage failure can only become a 503, never a 500.

The client: `StreamStorageConnectionString` (Azurite, or Azure with keys) or
`StreamStorageAccountUrl` + `DefaultAzureCredential` (the app's managed identity in Azure;
`AZURE_CLIENT_ID` selects the user-assigned one). One client per event loop, like the Web
PubSub client. Retries are few and short: an upload waits about a second, not a minute, before
it hears that storage is down, and the client retries it later anyway.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ResourceNotModifiedError,
)
from azure.storage.blob import ContentSettings
from azure.storage.blob.aio import ContainerClient, LinearRetry

from codestream.config import StreamStorage
from codestream.ports import BlobContainer

log = logging.getLogger(__name__)

# The Blob REST version spoken: one that Azure and the pinned Azurite (devhost/package.json)
# both serve. azure-storage-blob 12.31 would send 2026-10-06; Azurite 3.35 (the last release
# that runs on Node 20: 3.36 wants Node 21, 3.37 Node 22) serves up to 2025-11-05.
API_VERSION = "2025-11-05"
CALL_SECONDS = 15.0  # one call incl. the SDK's retries; Functions' own limit is 230 s
JSON_CONTENT = ContentSettings(content_type="application/json")


class StorageUnavailable(Exception):
    """Storage failed or could not be reached; the message is safe to log (no secrets)."""


@dataclass(frozen=True)
class StoredBlob:
    body: bytes
    etag: str  # quoted, as the service sends it


class NotModified:
    """The blob still has the ETag the caller has."""


NOT_MODIFIED = NotModified()


def _retry() -> LinearRetry:
    # two retries, each after 0-1 s (the SDK's default waits 15 s and more)
    return LinearRetry(backoff=0, random_jitter_range=1, retry_total=2)


def create_container_client(storage: StreamStorage) -> BlobContainer:
    if storage.connection_string:
        return ContainerClient.from_connection_string(
            storage.connection_string,
            storage.container,
            api_version=API_VERSION,
            retry_policy=_retry(),
            connection_timeout=3,
            read_timeout=10,
        )
    from azure.identity.aio import DefaultAzureCredential

    return ContainerClient(
        storage.account_url or "",
        storage.container,
        credential=DefaultAzureCredential(),
        api_version=API_VERSION,
        retry_policy=_retry(),
        connection_timeout=3,
        read_timeout=10,
    )


def _error_code(exc: AzureError) -> str:
    # set by the storage SDK's error handling from x-ms-error-code
    return str(getattr(exc, "error_code", None) or "")


def _describe(exc: AzureError) -> str:
    if isinstance(exc, HttpResponseError):
        return f"{type(exc).__name__} {exc.status_code} {_error_code(exc)}".strip()
    return type(exc).__name__


class BlobStore:
    """One container, one client per event loop; the container is created at first use."""

    def __init__(self, storage: StreamStorage) -> None:
        self._storage = storage
        self._clients: dict[int, BlobContainer] = {}
        self._ready: set[int] = set()

    async def _container(self) -> BlobContainer:
        key = id(asyncio.get_running_loop())
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = create_container_client(self._storage)
        if key not in self._ready:
            await self._ensure_container(client)
            self._ready.add(key)
        return client

    async def _ensure_container(self, client: BlobContainer) -> None:
        """Locally the app creates its container; in Azure Bicep does, and the app's role
        (scoped to the container) may not create one: both answers mean it exists."""
        try:
            async with asyncio.timeout(CALL_SECONDS):
                await client.create_container()
        except ResourceExistsError:
            pass
        except HttpResponseError as exc:
            if exc.status_code != 403:
                raise StorageUnavailable(f"cannot create the container: {_describe(exc)}") from None
            log.info(
                "no permission to create container %s; assuming it exists", self._storage.container
            )
        except (AzureError, TimeoutError, OSError) as exc:
            raise StorageUnavailable(f"cannot reach storage: {type(exc).__name__}") from None

    async def read(
        self, name: str, unless_etag: str | None = None
    ) -> StoredBlob | NotModified | None:
        """None if there is no such blob; NOT_MODIFIED if it still has `unless_etag`."""
        client = await self._container()
        try:
            async with asyncio.timeout(CALL_SECONDS):
                if unless_etag is None:  # the SDK passes an etag=None on to the transport
                    download = await client.download_blob(name)
                else:
                    download = await client.download_blob(
                        name, etag=unless_etag, match_condition=MatchConditions.IfModified
                    )
                body = await download.readall()
        except ResourceNotFoundError as exc:
            if _error_code(exc) == "ContainerNotFound":
                self._ready.discard(id(asyncio.get_running_loop()))
            return None
        except ResourceNotModifiedError:
            return NOT_MODIFIED
        except HttpResponseError as exc:
            if exc.status_code == 304:  # the storage SDK raises ResourceModifiedError for it
                return NOT_MODIFIED
            raise StorageUnavailable(f"reading {name}: {_describe(exc)}") from None
        except (AzureError, TimeoutError, OSError) as exc:
            what = _describe(exc) if isinstance(exc, AzureError) else type(exc).__name__
            raise StorageUnavailable(f"reading {name}: {what}") from None
        return StoredBlob(body, download.properties.etag)

    async def create(self, name: str, body: bytes) -> bool:
        """Write only if there is no such blob (If-None-Match: *); False if there is one."""
        return await self._write(name, body, None)

    async def replace(self, name: str, body: bytes, etag: str) -> bool:
        """Write only if the blob still has `etag` (If-Match); False if it changed or went."""
        return await self._write(name, body, etag)

    async def _write(self, name: str, body: bytes, etag: str | None) -> bool:
        client = await self._container()
        try:
            async with asyncio.timeout(CALL_SECONDS):
                if etag is None:  # If-None-Match: * (create only)
                    await client.upload_blob(
                        name, body, overwrite=False, content_settings=JSON_CONTENT
                    )
                else:  # If-Match
                    await client.upload_blob(
                        name,
                        body,
                        overwrite=True,
                        content_settings=JSON_CONTENT,
                        etag=etag,
                        match_condition=MatchConditions.IfNotModified,
                    )
        except (ResourceExistsError, ResourceModifiedError):
            return False
        except ResourceNotFoundError as exc:
            if _error_code(exc) == "ContainerNotFound":  # deleted behind our back: recreate next
                self._ready.discard(id(asyncio.get_running_loop()))
                raise StorageUnavailable(f"writing {name}: the container is gone") from None
            return False  # If-Match on a blob that is gone
        except (AzureError, TimeoutError, OSError) as exc:
            what = _describe(exc) if isinstance(exc, AzureError) else type(exc).__name__
            raise StorageUnavailable(f"writing {name}: {what}") from None
        return True

    async def delete(self, name: str, etag: str | None = None) -> bool:
        """Delete (If-Match `etag` when given); False if it was gone or has changed."""
        client = await self._container()
        try:
            async with asyncio.timeout(CALL_SECONDS):
                if etag is None:
                    await client.delete_blob(name)
                else:
                    await client.delete_blob(
                        name, etag=etag, match_condition=MatchConditions.IfNotModified
                    )
        except (ResourceNotFoundError, ResourceModifiedError):
            return False
        except (AzureError, TimeoutError, OSError) as exc:
            what = _describe(exc) if isinstance(exc, AzureError) else type(exc).__name__
            raise StorageUnavailable(f"deleting {name}: {what}") from None
        return True

    async def list_names(self, prefix: str) -> list[str]:
        """Every blob name under `prefix` (one paged listing)."""
        client = await self._container()
        try:
            async with asyncio.timeout(CALL_SECONDS * 4):
                return [name async for name in client.list_blob_names(name_starts_with=prefix)]
        except (AzureError, TimeoutError, OSError) as exc:
            what = _describe(exc) if isinstance(exc, AzureError) else type(exc).__name__
            raise StorageUnavailable(f"listing {prefix}: {what}") from None

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        self._ready.clear()
        for client in clients:
            await client.close()
