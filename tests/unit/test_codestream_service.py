"""The service client comes from one setting: keys for a connection string, Entra otherwise."""

from __future__ import annotations

from azure.core.credentials import AzureKeyCredential
from azure.identity.aio import DefaultAzureCredential

from codestream.config import load_settings
from codestream.service import API_VERSION, ServiceHolder, create_client
from harness.azurite import NO_STORAGE

KEYED = load_settings(
    {
        "WebPubSubConnectionString": "Endpoint=http://127.0.0.1:8081;AccessKey=abc;Version=1.0;",
        "WebPubSubHub": "myhub",
        "OwnerKeySecret": "s" * 32,
        **NO_STORAGE,
    }
)
AZURE = load_settings(
    {
        "WebPubSubEndpoint": "https://x.webpubsub.azure.com",
        "OwnerKeySecret": "s" * 32,
        **NO_STORAGE,
        "WebPubSubUpstreamAudience": "api://a",
        "WebPubSubUpstreamTenantId": "11111111-2222-3333-4444-555555555555",
        "WebPubSubUpstreamPrincipalId": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
    }
)


async def test_connection_string_gives_key_auth() -> None:
    client = create_client(KEYED)
    try:
        assert client._config.endpoint == "http://127.0.0.1:8081"
        assert client._config.hub == "myhub"
        assert client._config.api_version == API_VERSION
        assert isinstance(client._config.credential, AzureKeyCredential)
    finally:
        await client.close()


async def test_endpoint_gives_default_azure_credential() -> None:
    client = create_client(AZURE)
    try:
        assert client._config.endpoint == "https://x.webpubsub.azure.com"
        assert isinstance(client._config.credential, DefaultAzureCredential)
    finally:
        await client.close()
        await client._config.credential.close()


async def test_one_client_per_event_loop() -> None:
    holder = ServiceHolder(KEYED)
    assert holder.get() is holder.get()
    await holder.close()
