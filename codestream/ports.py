"""The calls the Function App makes on Web PubSub and on Blob Storage, as typed ports.

`azure.messaging.webpubsubservice.aio.WebPubSubServiceClient` satisfies it (mypy checks that
in `service.create_client`); handlers depend on this narrower shape only, so what the app
asks of the service is listed in one place and tests can see every call. The SDK's methods
are typed as returning awaitables (its tracing decorator), hence `Awaitable` rather than
`async def` here.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Mapping
from typing import Any, Protocol

from azure.core import MatchConditions
from azure.storage.blob import ContentSettings


class GroupMember(Protocol):
    @property
    def connection_id(self) -> str: ...


class MemberPages(Protocol):
    def __aiter__(self) -> AsyncIterator[GroupMember]: ...


class WebPubSub(Protocol):
    def get_client_access_token(
        self,
        *,
        user_id: str | None = None,
        roles: list[str] | None = None,
        minutes_to_expire: int | None = 60,
        groups: list[str] | None = None,
    ) -> Awaitable[Mapping[str, Any]]: ...

    def send_to_group(self, group: str, message: Any, *, content_type: str) -> Awaitable[None]: ...

    def send_to_user(self, user_id: str, message: Any, *, content_type: str) -> Awaitable[None]: ...

    def send_to_connection(
        self, connection_id: str, message: Any, *, content_type: str
    ) -> Awaitable[None]: ...

    def user_exists(self, user_id: str) -> Awaitable[bool]: ...

    def close_user_connections(
        self, user_id: str, *, excluded: list[str] | None = None, reason: str | None = None
    ) -> Awaitable[None]: ...

    def list_connections(self, *, group: str) -> MemberPages: ...

    def close(self) -> Awaitable[None]: ...


# ---------------------------------------------------------------- Blob Storage


class BlobProperties(Protocol):
    @property
    def etag(self) -> str: ...


class BlobDownload(Protocol):
    @property
    def properties(self) -> BlobProperties: ...

    def readall(self) -> Awaitable[bytes]: ...


class BlobContainer(Protocol):
    """The calls the Function App makes on its stream container, as a typed port:
    `azure.storage.blob.aio.ContainerClient` satisfies it (mypy checks that in
    `blobs.create_container_client`). Conditions: `overwrite=False` is If-None-Match: *;
    `etag` + `match_condition` is If-Match (IfNotModified) or If-None-Match (IfModified)."""

    def create_container(self) -> Awaitable[Any]: ...

    def upload_blob(
        self,
        name: str,
        data: bytes,
        *,
        overwrite: bool | None = None,
        content_settings: ContentSettings | None = None,
        etag: str | None = None,
        match_condition: MatchConditions | None = None,
    ) -> Awaitable[Any]: ...

    def download_blob(
        self,
        blob: str,
        *,
        etag: str | None = None,
        match_condition: MatchConditions | None = None,
    ) -> Awaitable[BlobDownload]: ...

    def delete_blob(
        self,
        blob: str,
        delete_snapshots: str | None = None,
        *,
        etag: str | None = None,
        match_condition: MatchConditions | None = None,
    ) -> Awaitable[None]: ...

    def list_blob_names(self, *, name_starts_with: str | None = None) -> AsyncIterable[str]: ...

    def close(self) -> Awaitable[None]: ...
