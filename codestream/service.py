"""The Web PubSub service client, from the one setting that says where the service is.

A connection string (emulator, or Azure with keys) gives key auth; an endpoint gives
`DefaultAzureCredential` (managed identity in Azure; `AZURE_CLIENT_ID` selects a user-assigned
one). The async client keeps an HTTP session tied to the event loop it first ran on, so one
client is kept per loop and reused across invocations.
"""

from __future__ import annotations

import asyncio

from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

from codestream.config import Settings
from codestream.ports import WebPubSub

# the REST api-version that has "list connections in group" (used for the watcher count)
API_VERSION = "2024-12-01"


def create_client(settings: Settings) -> WebPubSub:
    if settings.connection_string:
        return WebPubSubServiceClient.from_connection_string(
            settings.connection_string, hub=settings.hub, api_version=API_VERSION
        )
    from azure.identity.aio import DefaultAzureCredential

    return WebPubSubServiceClient(
        endpoint=settings.endpoint,
        hub=settings.hub,
        credential=DefaultAzureCredential(),
        api_version=API_VERSION,
    )


class ServiceHolder:
    """One client per running event loop, created on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._clients: dict[int, WebPubSub] = {}

    def get(self) -> WebPubSub:
        key = id(asyncio.get_running_loop())
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = create_client(self._settings)
        return client

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
