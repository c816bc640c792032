"""Azurite, Microsoft's Azure Storage emulator (npm `azurite`, pinned in devhost/package.json),
as the dev host's stream storage: the blob service only, on loopback, without telemetry, with
a fresh account key every run (AZURITE_ACCOUNTS) and its data in a folder of our choosing.

`AzuriteSetup` is the one description of how Azurite is run; the dev host's child process
(`AzuriteProcess`) and the test harness (`harness/azurite.py`) both start it from here.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devhost.child_process import REPO_ROOT, ChildProcess

PACKAGE_DIR = REPO_ROOT / "devhost" / "node_modules" / "azurite"
BLOB_MAIN = PACKAGE_DIR / "dist" / "src" / "blob" / "main.js"
ACCOUNT = "codestream"
READY_TEXT = "successfully listens on"
INSTALL_HINT = "run `make setup` (npm ci in devhost/) to install Azurite"


def new_account_key() -> str:
    """A storage account key: 64 random bytes, base64 (the form Azure's keys have)."""
    return base64.b64encode(secrets.token_bytes(64)).decode()


def node_executable() -> str:
    node = shutil.which("node")
    if node is None:
        raise SystemExit("Azurite needs Node.js (20 or later) on PATH")
    return node


@dataclass(frozen=True)
class AzuriteSetup:
    host: str
    port: int
    location: Path
    account_key: str = field(default_factory=new_account_key, repr=False)

    @property
    def blob_endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};"
            f"AccountKey={self.account_key};BlobEndpoint={self.blob_endpoint};"
        )

    def command(self) -> list[str]:
        if not BLOB_MAIN.exists():
            raise SystemExit(f"Azurite is not installed ({BLOB_MAIN} is missing): {INSTALL_HINT}")
        return [
            node_executable(),
            str(BLOB_MAIN),
            *("--blobHost", self.host, "--blobPort", str(self.port)),
            *("--location", str(self.location)),
            "--silent",
            "--disableTelemetry",
        ]

    def environment(self) -> dict[str, str]:
        return {**os.environ, "AZURITE_ACCOUNTS": f"{ACCOUNT}:{self.account_key}"}


class AzuriteProcess(ChildProcess):
    label = "azurite"

    def __init__(self, setup: AzuriteSetup) -> None:
        super().__init__()
        self.setup = setup

    def command(self) -> Sequence[str]:
        self.setup.location.mkdir(parents=True, exist_ok=True)
        return self.setup.command()

    def environment(self) -> Mapping[str, str]:
        return self.setup.environment()

    def is_ready_line(self, line: str) -> bool:
        return READY_TEXT in line

    def exit_hint(self) -> str:
        return f"is port {self.setup.port} free? set STORAGE_PORT to use another"
