"""All Function App settings, read and checked once, at start.

This is the only module that reads settings. A missing or bad setting raises `ConfigError`
naming it, so a misconfigured deployment fails at start instead of on the first request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from codestream.contract import CONTRACT
from codestream.oembed import origin

CONNECTION_STRING = "WebPubSubConnectionString"
ENDPOINT = "WebPubSubEndpoint"
HUB = "WebPubSubHub"
OWNER_KEY_SECRET = "OwnerKeySecret"  # noqa: S105 (a setting name, not a secret)
UPSTREAM_AUDIENCE = "WebPubSubUpstreamAudience"
UPSTREAM_TENANT_ID = "WebPubSubUpstreamTenantId"
UPSTREAM_PRINCIPAL_ID = "WebPubSubUpstreamPrincipalId"
UPSTREAM_AUTHORITY_HOST = "WebPubSubUpstreamAuthorityHost"
STORAGE_CONNECTION_STRING = "StreamStorageConnectionString"
STORAGE_ACCOUNT_URL = "StreamStorageAccountUrl"
STORAGE_CONTAINER = "StreamStorageContainer"
STORAGE_SETTINGS = (STORAGE_CONNECTION_STRING, STORAGE_ACCOUNT_URL, STORAGE_CONTAINER)
SITE_URL = "SiteUrl"  # the static site's origin: what oEmbed links and embeds point at

# Microsoft Entra ID (public cloud): whose keys sign Web PubSub's managed-identity tokens
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"

SETTINGS = (
    CONNECTION_STRING,
    ENDPOINT,
    HUB,
    OWNER_KEY_SECRET,
    UPSTREAM_AUDIENCE,
    UPSTREAM_TENANT_ID,
    UPSTREAM_PRINCIPAL_ID,
    UPSTREAM_AUTHORITY_HOST,
    *STORAGE_SETTINGS,
    SITE_URL,
)
# App Service passes a Key Vault reference it could not resolve through as its literal text.
KEY_VAULT_REFERENCE_PREFIX = "@Microsoft.KeyVault("

DEFAULT_HUB = "codestream"
MIN_SECRET_LENGTH = 32
_HUB_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,127}")
_GUID_PATTERN = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


class ConfigError(ValueError):
    """A setting is missing or malformed; `setting` names it."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"setting {setting}: {problem}")
        self.setting = setting


@dataclass(frozen=True)
class UpstreamEntra:
    """How Web PubSub authenticates to the handler when it has no access key (Azure)."""

    audience: str
    tenant_id: str
    principal_id: str
    # the OpenID authority (Entra's layout: {host}/{tenant}/v2.0, .../discovery/v2.0/keys)
    authority_host: str = DEFAULT_AUTHORITY_HOST


@dataclass(frozen=True)
class StreamStorage:
    """Where streams are stored: Azurite (a connection string with its key) or an Azure
    account URL used with the app's managed identity."""

    container: str
    connection_string: str | None
    account_url: str | None  # https://<account>.blob.core.windows.net

    def __repr__(self) -> str:  # the connection string holds the account key
        where = self.account_url or "connection string"
        return f"StreamStorage(container={self.container!r}, {where})"


@dataclass(frozen=True)
class Settings:
    hub: str
    owner_key_secret: str
    endpoint: str  # http(s)://host[:port], no trailing slash
    connection_string: str | None  # set => key auth to the service, ce-signature upstream
    access_keys: tuple[str, ...]  # keys that may sign upstream events (empty in Azure)
    upstream_entra: UpstreamEntra | None
    storage: StreamStorage
    site_url: str | None = None  # origin of the site; None: the API's own (same origin)

    @property
    def service_host(self) -> str:
        """host[:port] of the service, the origin its abuse-protection requests name."""
        return urlsplit(self.endpoint).netloc.lower()

    def __repr__(self) -> str:  # never print secrets
        return f"Settings(hub={self.hub!r}, endpoint={self.endpoint!r})"


def _parse_connection_string(value: str) -> tuple[str, str]:
    parts: dict[str, str] = {}
    for segment in value.split(";"):
        if not segment.strip():
            continue
        if "=" not in segment:
            raise ConfigError(CONNECTION_STRING, "expected key=value segments separated by ';'")
        key, item = segment.split("=", 1)
        parts[key.strip().lower()] = item.strip()
    endpoint = _check_url(CONNECTION_STRING, parts.get("endpoint", ""), "Endpoint")
    key = parts.get("accesskey", "")
    if not key:
        raise ConfigError(CONNECTION_STRING, "AccessKey is missing")
    if "port" in parts:
        if not parts["port"].isdigit():
            raise ConfigError(CONNECTION_STRING, "Port must be a number")
        split = urlsplit(endpoint)
        endpoint = f"{split.scheme}://{split.hostname}:{parts['port']}"
    return endpoint, key


def _check_url(setting: str, value: str, what: str = "value") -> str:
    split = urlsplit(value.strip())
    if split.scheme not in ("http", "https") or not split.hostname:
        raise ConfigError(setting, f"{what} must be an http(s):// URL, got {value!r}")
    return f"{split.scheme}://{split.netloc}".rstrip("/")


def _upstream(env: Mapping[str, str]) -> UpstreamEntra | None:
    names = (UPSTREAM_AUDIENCE, UPSTREAM_TENANT_ID, UPSTREAM_PRINCIPAL_ID)
    values = [env.get(name, "").strip() for name in names]
    if not any(values):
        return None
    for name, value in zip(names, values, strict=True):
        if not value:
            raise ConfigError(name, "is required when any WebPubSubUpstream* setting is set")
    for name in (UPSTREAM_TENANT_ID, UPSTREAM_PRINCIPAL_ID):
        if not _GUID_PATTERN.fullmatch(env[name].strip()):
            raise ConfigError(name, "must be a GUID")
    authority = env.get(UPSTREAM_AUTHORITY_HOST, "").strip() or DEFAULT_AUTHORITY_HOST
    split = urlsplit(authority)
    if split.scheme != "https" or not split.hostname or split.path.strip("/"):
        raise ConfigError(
            UPSTREAM_AUTHORITY_HOST, f"must be https://host[:port], got {authority!r}"
        )
    audience, tenant_id, principal_id = values
    return UpstreamEntra(audience, tenant_id, principal_id, f"https://{split.netloc}")


def _refuse_unresolved_key_vault_references(env: Mapping[str, str]) -> None:
    """An unresolved reference is long enough to pass every other check (it would become the
    HMAC secret), so it stops the app, naming the setting and the usual causes."""
    for name in SETTINGS:
        if env.get(name, "").strip().lower().startswith(KEY_VAULT_REFERENCE_PREFIX.lower()):
            raise ConfigError(
                name,
                "is an unresolved Key Vault reference (App Service passes the reference text "
                "through when it cannot read the secret): check that keyVaultReferenceIdentity "
                "is the app's identity, that it holds Key Vault Secrets User on the vault, and "
                "that the secret exists",
            )


# Blob container names: 3-63 of lower-case letters, digits and single hyphens
_CONTAINER_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _check_storage_connection_string(value: str) -> None:
    parts: dict[str, str] = {}
    for segment in value.split(";"):
        if not segment.strip():
            continue
        if "=" not in segment:
            msg = "expected key=value segments separated by ';'"
            raise ConfigError(STORAGE_CONNECTION_STRING, msg)
        key, item = segment.split("=", 1)
        parts[key.strip().lower()] = item.strip()
    if not parts.get("accountname"):
        raise ConfigError(STORAGE_CONNECTION_STRING, "AccountName is missing")
    if not (parts.get("accountkey") or parts.get("sharedaccesssignature")):
        raise ConfigError(STORAGE_CONNECTION_STRING, "AccountKey is missing")
    if "blobendpoint" in parts:
        _check_url(STORAGE_CONNECTION_STRING, parts["blobendpoint"], "BlobEndpoint")
    elif parts.get("defaultendpointsprotocol") not in ("http", "https"):
        msg = "needs BlobEndpoint, or DefaultEndpointsProtocol=https (with EndpointSuffix)"
        raise ConfigError(STORAGE_CONNECTION_STRING, msg)


def _storage_account_url(value: str) -> str:
    split = urlsplit(value)
    plain_ok = split.hostname in _LOOPBACK and split.scheme == "http"  # a local stand-in
    if not split.hostname or (split.scheme != "https" and not plain_ok):
        msg = f"must be https://<account>.blob.core.windows.net, got {value!r}"
        raise ConfigError(STORAGE_ACCOUNT_URL, msg)
    if split.path.strip("/") or split.query:
        raise ConfigError(STORAGE_ACCOUNT_URL, "must be the account URL alone, no path or query")
    return f"{split.scheme}://{split.netloc}"


def _storage(env: Mapping[str, str]) -> StreamStorage:
    connection_string = env.get(STORAGE_CONNECTION_STRING, "").strip()
    account_url = env.get(STORAGE_ACCOUNT_URL, "").strip()
    if connection_string and account_url:
        msg = f"set either {STORAGE_CONNECTION_STRING} or {STORAGE_ACCOUNT_URL}, not both"
        raise ConfigError(STORAGE_ACCOUNT_URL, msg)
    if not connection_string and not account_url:
        raise ConfigError(
            STORAGE_CONNECTION_STRING,
            f"missing: set {STORAGE_CONNECTION_STRING} (Azurite, local) or "
            f"{STORAGE_ACCOUNT_URL} (Azure)",
        )
    if connection_string:
        _check_storage_connection_string(connection_string)
    container = env.get(STORAGE_CONTAINER, "").strip() or CONTRACT.storage.container
    if not _CONTAINER_PATTERN.fullmatch(container):
        msg = "must be 3-63 lower-case letters, digits and single hyphens"
        raise ConfigError(STORAGE_CONTAINER, msg)
    return StreamStorage(
        container=container,
        connection_string=connection_string or None,
        account_url=_storage_account_url(account_url) if account_url else None,
    )


def _site_url(env: Mapping[str, str]) -> str | None:
    value = env.get(SITE_URL, "").strip()
    if not value:
        return None
    split = urlsplit(value)
    if split.path.strip("/") or split.query or split.fragment:
        raise ConfigError(SITE_URL, f"must be the site's origin, no path or query, got {value!r}")
    site = origin(value)
    if site is None:
        raise ConfigError(SITE_URL, f"must be an https:// origin, got {value!r}")
    if split.scheme != "https" and split.hostname not in _LOOPBACK:
        raise ConfigError(SITE_URL, f"must be https:// (http:// only on loopback), got {value!r}")
    return site


def load_settings(env: Mapping[str, str]) -> Settings:
    _refuse_unresolved_key_vault_references(env)
    connection_string = env.get(CONNECTION_STRING, "").strip()
    endpoint_setting = env.get(ENDPOINT, "").strip()
    if connection_string and endpoint_setting:
        raise ConfigError(ENDPOINT, f"set either {CONNECTION_STRING} or {ENDPOINT}, not both")
    if not connection_string and not endpoint_setting:
        raise ConfigError(
            CONNECTION_STRING, f"missing: set {CONNECTION_STRING} (local) or {ENDPOINT} (Azure)"
        )

    hub = env.get(HUB, "").strip() or DEFAULT_HUB
    if not _HUB_PATTERN.fullmatch(hub):
        raise ConfigError(HUB, "must start with a letter and hold only letters, digits and _")

    secret = env.get(OWNER_KEY_SECRET, "")
    if not secret:
        raise ConfigError(OWNER_KEY_SECRET, "missing (a random string of at least 32 characters)")
    if len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(OWNER_KEY_SECRET, f"must be at least {MIN_SECRET_LENGTH} characters")

    upstream = _upstream(env)
    if connection_string:
        endpoint, key = _parse_connection_string(connection_string)
        keys: tuple[str, ...] = (key,)
    else:
        endpoint, keys = _check_url(ENDPOINT, endpoint_setting), ()
        if upstream is None:
            raise ConfigError(
                UPSTREAM_AUDIENCE,
                f"with {ENDPOINT} (no access key, so no ce-signature) the event handler needs "
                f"{UPSTREAM_AUDIENCE}, {UPSTREAM_TENANT_ID} and {UPSTREAM_PRINCIPAL_ID}",
            )
    return Settings(
        hub=hub,
        owner_key_secret=secret,
        endpoint=endpoint,
        connection_string=connection_string or None,
        access_keys=keys,
        upstream_entra=upstream,
        storage=_storage(env),
        site_url=_site_url(env),
    )
