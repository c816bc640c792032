"""The Function App's settings for a local run, the way `func start` finds them.

Environment variables win over `local.settings.json` `Values` (Functions' own convention). A
missing `OwnerKeySecret` is generated once and written to that gitignored file, so owner keys
stay valid across restarts.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from codestream import config

# where the service is: only the environment may point elsewhere than the built-in emulator
SERVICE_SETTINGS = (config.CONNECTION_STRING, config.ENDPOINT)
# where streams are stored: likewise, only the environment may name other than Azurite
STORAGE_SETTINGS = (config.STORAGE_CONNECTION_STRING, config.STORAGE_ACCOUNT_URL)


def read_values(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise SystemExit(f"{path} is not valid JSON: {exc}") from None
    values = data.get("Values", {}) if isinstance(data, dict) else {}
    return {str(k): str(v) for k, v in values.items() if v is not None}


def ensure_owner_key_secret(path: Path, values: dict[str, str]) -> str:
    """Reuse the secret from the environment or the file; otherwise create and save one."""
    existing = os.environ.get(config.OWNER_KEY_SECRET) or values.get(config.OWNER_KEY_SECRET)
    if existing:
        return existing
    secret = secrets.token_urlsafe(48)
    data: dict[str, Any] = {"IsEncrypted": False, "Values": {}}
    if path.exists():
        data = json.loads(path.read_text())
    data.setdefault("Values", {})[config.OWNER_KEY_SECRET] = secret
    path.write_text(json.dumps(data, indent=2) + "\n")
    path.chmod(0o600)
    print(f"devhost: generated {config.OWNER_KEY_SECRET} into {path}", flush=True)
    return secret


def external_service() -> bool:
    return any(os.environ.get(name, "").strip() for name in SERVICE_SETTINGS)


def external_storage() -> bool:
    return any(os.environ.get(name, "").strip() for name in STORAGE_SETTINGS)


def hub_name(path: Path) -> str:
    name = config.HUB
    return os.environ.get(name) or read_values(path).get(name) or config.DEFAULT_HUB


def apply(
    path: Path,
    emulator_connection_string: str | None,
    storage_connection_string: str | None = None,
) -> None:
    """Put the settings into os.environ, where function_app (like Azure) reads them."""
    values = read_values(path)
    values[config.OWNER_KEY_SECRET] = ensure_owner_key_secret(path, values)
    for name in (*SERVICE_SETTINGS, *STORAGE_SETTINGS):
        values.pop(name, None)
    if emulator_connection_string:
        values[config.CONNECTION_STRING] = emulator_connection_string
    if storage_connection_string:
        values[config.STORAGE_CONNECTION_STRING] = storage_connection_string
    for name, value in values.items():
        if not os.environ.get(name):  # an empty variable counts as unset
            os.environ[name] = value
