"""Settings: every missing or bad setting fails with a message naming it."""

from __future__ import annotations

import pytest

from codestream import config
from codestream.config import ConfigError, load_settings

SECRET = "s" * 32
CS = "Endpoint=http://127.0.0.1:8081;AccessKey=k1;Version=1.0;"
TENANT = "11111111-2222-3333-4444-555555555555"
PRINCIPAL = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
ACCOUNT_KEY = "c2VjcmV0LWFjY291bnQta2V5"
AZURITE = (
    f"DefaultEndpointsProtocol=http;AccountName=codestream;AccountKey={ACCOUNT_KEY};"
    "BlobEndpoint=http://127.0.0.1:10000/codestream;"
)
LOCAL = {
    "WebPubSubConnectionString": CS,
    "OwnerKeySecret": SECRET,
    "StreamStorageConnectionString": AZURITE,
}
AZURE = {
    "WebPubSubEndpoint": "https://x.webpubsub.azure.com",
    "OwnerKeySecret": SECRET,
    "StreamStorageAccountUrl": "https://acct.blob.core.windows.net",
    "WebPubSubUpstreamAudience": "api://codestream",
    "WebPubSubUpstreamTenantId": TENANT,
    "WebPubSubUpstreamPrincipalId": PRINCIPAL,
}


def test_connection_string_settings() -> None:
    s = load_settings(LOCAL)
    assert s.hub == "codestream"
    assert s.endpoint == "http://127.0.0.1:8081"
    assert s.access_keys == ("k1",)
    assert s.upstream_entra is None
    assert s.service_host == "127.0.0.1:8081"
    assert SECRET not in repr(s)
    assert s.storage == config.StreamStorage("streams", AZURITE, None)
    assert ACCOUNT_KEY not in repr(s)
    assert ACCOUNT_KEY not in repr(s.storage)


def test_endpoint_settings_use_entra_upstream() -> None:
    s = load_settings({**AZURE, "WebPubSubHub": "other_hub"})
    assert s.connection_string is None
    assert s.access_keys == ()
    assert s.hub == "other_hub"
    assert s.upstream_entra == config.UpstreamEntra("api://codestream", TENANT, PRINCIPAL)
    assert s.storage == config.StreamStorage("streams", None, "https://acct.blob.core.windows.net")


def test_upstream_authority_defaults_to_entra_and_can_be_set() -> None:
    assert load_settings(AZURE).upstream_entra.authority_host == (  # type: ignore[union-attr]
        "https://login.microsoftonline.com"
    )
    local = {**AZURE, "WebPubSubUpstreamAuthorityHost": "https://127.0.0.1:8443/"}
    entra = load_settings(local).upstream_entra
    assert entra is not None
    assert entra.authority_host == "https://127.0.0.1:8443"


@pytest.mark.parametrize(
    "value", ["http://127.0.0.1:8443", "login.microsoftonline.com", "https://h/tenant"]
)
def test_upstream_authority_must_be_an_https_host(value: str) -> None:
    with pytest.raises(config.ConfigError) as err:
        load_settings({**AZURE, "WebPubSubUpstreamAuthorityHost": value})
    assert err.value.setting == "WebPubSubUpstreamAuthorityHost"


def test_port_segment_of_connection_string() -> None:
    cs = "Endpoint=http://localhost;Port=9000;AccessKey=k;Version=1.0;"
    assert load_settings({**LOCAL, "WebPubSubConnectionString": cs}).endpoint == (
        "http://localhost:9000"
    )


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"OwnerKeySecret": SECRET}, "WebPubSubConnectionString"),
        ({"WebPubSubConnectionString": CS}, "OwnerKeySecret"),
        ({"WebPubSubConnectionString": CS, "OwnerKeySecret": "short"}, "OwnerKeySecret"),
        (
            {"WebPubSubConnectionString": "nonsense", "OwnerKeySecret": SECRET},
            "WebPubSubConnectionString",
        ),
        (
            {"WebPubSubConnectionString": "Endpoint=ftp://x;AccessKey=k", "OwnerKeySecret": SECRET},
            "WebPubSubConnectionString",
        ),
        (
            {"WebPubSubConnectionString": "Endpoint=http://x", "OwnerKeySecret": SECRET},
            "WebPubSubConnectionString",
        ),
        (
            {
                "WebPubSubConnectionString": "Endpoint=http://x;AccessKey=k;Port=abc",
                "OwnerKeySecret": SECRET,
            },
            "WebPubSubConnectionString",
        ),
        ({**AZURE, "WebPubSubConnectionString": CS}, "WebPubSubEndpoint"),
        ({**AZURE, "WebPubSubEndpoint": "not a url"}, "WebPubSubEndpoint"),
        ({**AZURE, "WebPubSubHub": "1bad-hub"}, "WebPubSubHub"),
        ({**AZURE, "WebPubSubUpstreamAudience": ""}, "WebPubSubUpstreamAudience"),
        ({**AZURE, "WebPubSubUpstreamTenantId": "not-a-guid"}, "WebPubSubUpstreamTenantId"),
        ({**AZURE, "WebPubSubUpstreamPrincipalId": "x"}, "WebPubSubUpstreamPrincipalId"),
        (
            {"WebPubSubEndpoint": "https://x.webpubsub.azure.com", "OwnerKeySecret": SECRET},
            "WebPubSubUpstreamAudience",
        ),
    ],
)
def test_bad_settings_name_the_setting(env: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert info.value.setting == setting
    assert setting in str(info.value)


KV_REFERENCE = (
    "@Microsoft.KeyVault(SecretUri=https://kv-abc.vault.azure.net/secrets/OwnerKeySecret)"
)


@pytest.mark.parametrize(
    "setting",
    [
        config.OWNER_KEY_SECRET,
        config.ENDPOINT,
        config.HUB,
        config.UPSTREAM_AUDIENCE,
        config.UPSTREAM_TENANT_ID,
        config.UPSTREAM_PRINCIPAL_ID,
        config.STORAGE_ACCOUNT_URL,
        config.STORAGE_CONTAINER,
    ],
)
def test_an_unresolved_key_vault_reference_stops_the_app(setting: str) -> None:
    # App Service hands the reference text through when it cannot resolve it; it is longer
    # than 32 characters, so without this check it would become the HMAC secret.
    assert len(KV_REFERENCE) >= config.MIN_SECRET_LENGTH
    with pytest.raises(ConfigError) as raised:
        load_settings({**AZURE, setting: KV_REFERENCE})
    assert raised.value.setting == setting
    assert "unresolved Key Vault reference" in str(raised.value)
    assert "Key Vault Secrets User" in str(raised.value)


def test_the_reference_is_refused_in_any_case_and_with_spaces() -> None:
    lowered = "  " + KV_REFERENCE.lower()
    with pytest.raises(ConfigError) as raised:
        load_settings({"WebPubSubConnectionString": CS, "OwnerKeySecret": lowered})
    assert raised.value.setting == config.OWNER_KEY_SECRET


def test_a_secret_that_only_mentions_key_vault_is_fine() -> None:
    secret = "x" * 8 + "@Microsoft.KeyVault(" + "y" * 24
    s = load_settings({**LOCAL, "OwnerKeySecret": secret})
    assert s.owner_key_secret == secret


def test_every_setting_name_is_checked_for_references() -> None:
    # the module's setting names are its CamelCase string constants; SETTINGS must list them all
    constants = {v for k, v in vars(config).items() if k.isupper() and isinstance(v, str)}
    setting_names = {c for c in constants if c[:1].isupper() and c.isalnum()}
    assert setting_names == set(config.SETTINGS)


# ---------------------------------------------------------------- stream storage


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"StreamStorageContainer": "my-streams-2"},
            config.StreamStorage("my-streams-2", AZURITE, None),
        ),
        ({"StreamStorageContainer": " "}, config.StreamStorage("streams", AZURITE, None)),
        (
            {
                "StreamStorageConnectionString": "",
                "StreamStorageAccountUrl": "https://acct.blob.core.windows.net/",
            },
            config.StreamStorage("streams", None, "https://acct.blob.core.windows.net"),
        ),
        (  # a local stand-in by URL (e.g. Azurite with OAuth) may be plain http
            {
                "StreamStorageConnectionString": "",
                "StreamStorageAccountUrl": "http://127.0.0.1:10000",
            },
            config.StreamStorage("streams", None, "http://127.0.0.1:10000"),
        ),
        (  # Azure's own form of a connection string
            {
                "StreamStorageConnectionString": (
                    "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k;"
                    "EndpointSuffix=core.windows.net"
                )
            },
            config.StreamStorage(
                "streams",
                "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k;"
                "EndpointSuffix=core.windows.net",
                None,
            ),
        ),
    ],
)
def test_storage_settings(extra: dict[str, str], expected: config.StreamStorage) -> None:
    assert load_settings({**LOCAL, **extra}).storage == expected


@pytest.mark.parametrize(
    ("extra", "setting"),
    [
        ({"StreamStorageConnectionString": ""}, "StreamStorageConnectionString"),
        (
            {"StreamStorageAccountUrl": "https://acct.blob.core.windows.net"},
            "StreamStorageAccountUrl",
        ),  # both
        ({"StreamStorageConnectionString": "nonsense"}, "StreamStorageConnectionString"),
        (
            {"StreamStorageConnectionString": "AccountName=a;BlobEndpoint=http://x"},
            "StreamStorageConnectionString",
        ),
        (
            {"StreamStorageConnectionString": "AccountKey=k;BlobEndpoint=http://x"},
            "StreamStorageConnectionString",
        ),
        (
            {"StreamStorageConnectionString": "AccountName=a;AccountKey=k"},
            "StreamStorageConnectionString",
        ),
        (
            {"StreamStorageConnectionString": "AccountName=a;AccountKey=k;BlobEndpoint=ftp://x"},
            "StreamStorageConnectionString",
        ),
        (
            {"StreamStorageConnectionString": "", "StreamStorageAccountUrl": "http://acct.example"},
            "StreamStorageAccountUrl",
        ),
        (
            {"StreamStorageConnectionString": "", "StreamStorageAccountUrl": "acct"},
            "StreamStorageAccountUrl",
        ),
        (
            {
                "StreamStorageConnectionString": "",
                "StreamStorageAccountUrl": "https://acct.blob.core.windows.net/streams",
            },
            "StreamStorageAccountUrl",
        ),
        ({"StreamStorageContainer": "Streams"}, "StreamStorageContainer"),
        ({"StreamStorageContainer": "ab"}, "StreamStorageContainer"),
        ({"StreamStorageContainer": "a--b"}, "StreamStorageContainer"),
        ({"StreamStorageContainer": "-abc"}, "StreamStorageContainer"),
        ({"StreamStorageContainer": "abc-"}, "StreamStorageContainer"),
        ({"StreamStorageContainer": "a" * 64}, "StreamStorageContainer"),
    ],
)
def test_bad_storage_settings_name_the_setting(extra: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({**LOCAL, **extra})
    assert info.value.setting == setting
    assert ACCOUNT_KEY not in str(info.value)  # a problem is named, the key never shown


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", None),  # unset: the API's own origin (the dev host serves both)
        ("https://stapp-x.azurestaticapps.net", "https://stapp-x.azurestaticapps.net"),
        ("https://Stapp-X.azurestaticapps.net/", "https://stapp-x.azurestaticapps.net"),
        ("https://code.example:443", "https://code.example"),
        ("https://code.example:8443", "https://code.example:8443"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
    ],
)
def test_site_url(value: str, expected: str | None) -> None:
    assert load_settings({**LOCAL, config.SITE_URL: value}).site_url == expected
    assert load_settings(LOCAL).site_url is None


@pytest.mark.parametrize(
    "value",
    [
        "http://code.example",  # plain HTTP only on loopback
        "https://code.example/app",
        "https://code.example/?x=1",
        "https://code.example/#x",
        "stapp-x.azurestaticapps.net",
        "https://user@code.example",
        "ftp://code.example",
    ],
)
def test_bad_site_urls_name_the_setting(value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({**LOCAL, config.SITE_URL: value})
    assert raised.value.setting == config.SITE_URL
