"""Command line and hub configuration.

The config file has the shape of the ARM properties of `Microsoft.SignalRService/webPubSub/hubs`
so the same JSON can describe the local emulator and the Bicep-deployed hub.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# Dev-only key: documented in README.md, printed in the connection string, never used in Azure.
DEFAULT_ACCESS_KEY = "ZW11bGF0b3ItZGV2LW9ubHktYWNjZXNzLWtleS1ub3QtYS1zZWNyZXQ="
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8081
DEFAULT_REST_AUDIENCE = "https://webpubsub.azure.com"
IDENTITY_SECRET_ENV = "EMULATOR_IDENTITY_CLIENT_SECRET"  # noqa: S105 (a variable name)
SYSTEM_EVENTS = frozenset({"connect", "connected", "disconnected"})


class ConfigError(ValueError):
    """A config file or flag that cannot be used; the message names what is wrong."""


@dataclass(frozen=True)
class EventHandler:
    url_template: str
    user_event_pattern: str = ""
    system_events: frozenset[str] = frozenset()
    # `auth.managedIdentity.resource`: events carry a bearer token for it (Entra mode)
    auth_resource: str | None = None

    def handles_user_event(self, event: str) -> bool:
        """`*` matches all; otherwise a comma-separated list of names or glob patterns."""
        patterns = [p.strip() for p in self.user_event_pattern.split(",") if p.strip()]
        return any(p == "*" or fnmatch.fnmatchcase(event, p) for p in patterns)

    def handles_system_event(self, event: str) -> bool:
        return event in self.system_events

    def url(self, hub: str, event: str) -> str:
        return self.url_template.replace("{hub}", hub).replace("{event}", event)

    def validation_url(self, hub: str) -> str:
        """Where abuse protection is checked: `{event}` resolves to `validate`
        (howto-develop-eventhandler.md, "Upstream and Validation")."""
        return self.url(hub, "validate")


@dataclass(frozen=True)
class HubSettings:
    event_handlers: tuple[EventHandler, ...] = ()

    def handler_for(self, event: str, *, system: bool) -> EventHandler | None:
        """The first handler that takes the event, as the service picks it."""
        for handler in self.event_handlers:
            if system and handler.handles_system_event(event):
                return handler
            if not system and handler.handles_user_event(event):
                return handler
        return None


def connection_string(endpoint: str, access_key: str) -> str:
    """The form `WebPubSubServiceClient.from_connection_string` and the Function App read."""
    return f"Endpoint={endpoint};AccessKey={access_key};Version=1.0;"


def single_handler_config(hub: str, url: str, user_events: str = "*") -> dict[str, Any]:
    """A `--config-json` document sending every system and user event of `hub` to `url`."""
    handler = {
        "urlTemplate": url,
        "userEventPattern": user_events,
        "systemEvents": sorted(SYSTEM_EVENTS),
    }
    return {"hubs": {hub: {"eventHandlers": [handler]}}}


@dataclass(frozen=True)
class Limits:
    """Bounds that keep one slow or noisy client from hurting the others."""

    max_message_bytes: int = 1024 * 1024
    outbound_queue_frames: int = 10_000
    outbound_queue_bytes: int = 16 * 1024 * 1024
    unacked_frames: int = 100_000
    unacked_bytes: int = 32 * 1024 * 1024
    upstream_queue: int = 1_000
    upstream_timeout: float = 20.0
    recovery_window: float = 60.0


@dataclass(frozen=True)
class EntraSettings:
    """Entra mode: the OpenID authority whose tokens REST accepts, and the identity the
    emulator (as Web PubSub's managed identity) uses to get tokens for event handlers."""

    authority: str  # https://host[:port], e.g. https://login.microsoftonline.com
    tenant_id: str
    audience: str = DEFAULT_REST_AUDIENCE
    # object ids allowed to call REST, as role assignments would; empty: any from the tenant
    allowed_principals: frozenset[str] = frozenset()
    identity_client_id: str | None = None
    identity_client_secret: str | None = field(default=None, repr=False)

    @property
    def metadata_url(self) -> str:
        return f"{self.authority}/{self.tenant_id}/v2.0/.well-known/openid-configuration"


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path


@dataclass(frozen=True)
class EmulatorConfig:
    access_key: str = DEFAULT_ACCESS_KEY
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    hubs: Mapping[str, HubSettings] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    entra: EntraSettings | None = None
    # local auth off (as `disableLocalAuth`): REST refuses access-key tokens, no ce-signature
    disable_local_auth: bool = False
    tls: TlsFiles | None = None

    def hub(self, name: str) -> HubSettings:
        """Hub names are case-insensitive; an unconfigured hub works, with no handlers."""
        return self.hubs.get(name.lower(), HubSettings())

    @property
    def public_host(self) -> str:
        """A host clients can dial: a wildcard bind address is reached via loopback."""
        return "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104

    @property
    def endpoint(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.public_host}:{self.port}"

    @property
    def connection_string(self) -> str:
        return connection_string(self.endpoint, self.access_key)


def _as_str_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"{where} must be a list of strings")


def _auth_resource(auth: Any, where: str) -> str | None:
    """`{"type": "ManagedIdentity", "managedIdentity": {"resource": ...}}` -> the resource."""
    if auth is None:
        return None
    if not isinstance(auth, Mapping):
        raise ConfigError(f"{where} must be an object")
    kind = auth.get("type", "None")
    if kind == "None":
        return None
    if kind != "ManagedIdentity":
        raise ConfigError(f"{where}.type must be None or ManagedIdentity")
    identity = auth.get("managedIdentity")
    resource = identity.get("resource") if isinstance(identity, Mapping) else None
    if not isinstance(resource, str) or not resource.strip():
        raise ConfigError(f"{where}.managedIdentity.resource is required")
    return resource.strip()


def parse_hubs(document: Any) -> dict[str, HubSettings]:
    """`{"hubs": {name: {"eventHandlers": [...]}}}` -> settings keyed by lower-cased hub name."""
    if document is None:
        return {}
    if not isinstance(document, Mapping) or not isinstance(document.get("hubs", {}), Mapping):
        raise ConfigError(
            'config must be an object like {"hubs": {"<hub>": {"eventHandlers": []}}}'
        )
    hubs: dict[str, HubSettings] = {}
    for name, body in document.get("hubs", {}).items():
        props = body.get("properties", body) if isinstance(body, Mapping) else None
        if not isinstance(props, Mapping):
            raise ConfigError(f"hubs.{name} must be an object")
        handlers = []
        for i, raw in enumerate(props.get("eventHandlers") or []):
            where = f"hubs.{name}.eventHandlers[{i}]"
            if not isinstance(raw, Mapping) or not isinstance(raw.get("urlTemplate"), str):
                raise ConfigError(f"{where}.urlTemplate is required")
            if not raw["urlTemplate"].startswith(("http://", "https://")):
                raise ConfigError(f"{where}.urlTemplate must be an http(s) URL")
            system = _as_str_list(raw.get("systemEvents"), f"{where}.systemEvents")
            unknown = set(system) - SYSTEM_EVENTS
            if unknown:
                raise ConfigError(f"{where}.systemEvents has unknown events {sorted(unknown)}")
            pattern = raw.get("userEventPattern") or ""
            if not isinstance(pattern, str):
                raise ConfigError(f"{where}.userEventPattern must be a string")
            resource = _auth_resource(raw.get("auth"), f"{where}.auth")
            handlers.append(EventHandler(raw["urlTemplate"], pattern, frozenset(system), resource))
        hubs[str(name).lower()] = HubSettings(tuple(handlers))
    return hubs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m emulator", description="Local Azure Web PubSub emulator"
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="bind address (default %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="(default %(default)s)")
    parser.add_argument("--config", type=Path, help="hub config JSON file")
    parser.add_argument("--config-json", help="hub config JSON, inline")
    parser.add_argument(
        "--access-key", default=DEFAULT_ACCESS_KEY, help="signing key (default: dev-only constant)"
    )
    parser.add_argument(
        "--upstream-timeout", type=float, default=Limits.upstream_timeout, help="seconds"
    )
    parser.add_argument(
        "--recovery-window", type=float, default=Limits.recovery_window, help="seconds"
    )
    parser.add_argument(
        "--queue-bytes",
        type=int,
        default=Limits.outbound_queue_bytes,
        help="per-connection outbound queue bound; a client over it is disconnected",
    )
    parser.add_argument(
        "--queue-frames", type=int, default=Limits.outbound_queue_frames, help="(same, in frames)"
    )
    tls = parser.add_argument_group("TLS (https and wss, as Azure serves)")
    tls.add_argument("--tls-cert", type=Path, help="PEM certificate chain")
    tls.add_argument("--tls-key", type=Path, help="PEM private key")
    entra = parser.add_argument_group("Entra mode")
    entra.add_argument(
        "--entra-authority", help="OpenID authority host, e.g. https://login.microsoftonline.com"
    )
    entra.add_argument("--entra-tenant-id", help="tenant whose tokens are accepted")
    entra.add_argument(
        "--entra-audience", default=DEFAULT_REST_AUDIENCE, help="REST token audience (%(default)s)"
    )
    entra.add_argument(
        "--entra-allowed-principal",
        action="append",
        default=[],
        metavar="OID",
        help="object id allowed to call REST (repeatable); others get 403, as without a role",
    )
    entra.add_argument(
        "--identity-client-id",
        help=f"client id of the emulator's own identity (secret in ${IDENTITY_SECRET_ENV}) "
        "for event handlers with auth.managedIdentity",
    )
    entra.add_argument(
        "--disable-local-auth",
        action="store_true",
        help="REST refuses access-key tokens and events carry no ce-signature",
    )
    return parser


def config_from_args(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> EmulatorConfig:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config and args.config_json:
        parser.error("give --config or --config-json, not both")
    try:
        document = None
        if args.config:
            document = json.loads(args.config.read_text())
        elif args.config_json:
            document = json.loads(args.config_json)
        hubs = parse_hubs(document)
    except (OSError, json.JSONDecodeError, ConfigError) as exc:
        parser.error(f"bad config: {exc}")
    if not args.access_key:
        parser.error("--access-key must not be empty")
    if min(args.upstream_timeout, args.recovery_window, args.queue_bytes, args.queue_frames) <= 0:
        parser.error("timeouts and queue bounds must be positive")
    limits = Limits(
        outbound_queue_frames=args.queue_frames,
        outbound_queue_bytes=args.queue_bytes,
        upstream_timeout=args.upstream_timeout,
        recovery_window=args.recovery_window,
    )
    try:
        entra = _entra(args, environ if environ is not None else os.environ)
        check_identity(hubs, entra)
    except ConfigError as exc:
        parser.error(str(exc))
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("give --tls-cert and --tls-key together")
    if args.disable_local_auth and entra is None:
        parser.error("--disable-local-auth needs Entra mode (--entra-authority)")
    tls = TlsFiles(args.tls_cert, args.tls_key) if args.tls_cert else None
    return EmulatorConfig(
        args.access_key,
        args.host,
        args.port,
        hubs,
        limits,
        entra=entra,
        disable_local_auth=args.disable_local_auth,
        tls=tls,
    )


def _entra(args: argparse.Namespace, environ: Mapping[str, str]) -> EntraSettings | None:
    if not args.entra_authority:
        if args.entra_tenant_id or args.identity_client_id or args.entra_allowed_principal:
            raise ConfigError("the Entra options need --entra-authority")
        return None
    authority = args.entra_authority.rstrip("/")
    if urlsplit(authority).scheme != "https" or not urlsplit(authority).hostname:
        raise ConfigError("--entra-authority must be an https:// URL")
    if not args.entra_tenant_id:
        raise ConfigError("--entra-tenant-id is required in Entra mode")
    secret = environ.get(IDENTITY_SECRET_ENV) or None
    if args.identity_client_id and not secret:
        raise ConfigError(f"--identity-client-id needs its secret in ${IDENTITY_SECRET_ENV}")
    return EntraSettings(
        authority=authority,
        tenant_id=args.entra_tenant_id,
        audience=args.entra_audience,
        allowed_principals=frozenset(p.lower() for p in args.entra_allowed_principal),
        identity_client_id=args.identity_client_id,
        identity_client_secret=secret,
    )


def check_identity(hubs: Mapping[str, HubSettings], entra: EntraSettings | None) -> None:
    """A handler that wants managed-identity tokens needs an identity to get them with."""
    for name, settings in hubs.items():
        for handler in settings.event_handlers:
            if handler.auth_resource and (entra is None or not entra.identity_client_id):
                raise ConfigError(
                    f"hub {name}: an event handler uses auth.managedIdentity; start in Entra "
                    "mode with --identity-client-id"
                )
