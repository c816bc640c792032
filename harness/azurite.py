"""Azurite alone, as a real process, for storage integration tests: the same command line the
dev host uses (`devhost.azurite.AzuriteSetup`), a free port, a fresh account key, and its data
in a temporary folder unless the test names one (to stop it and start it again on the same
data, as the storage-outage test does)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from azure.storage.blob.aio import ContainerClient

from codestream.blobs import API_VERSION
from codestream.config import StreamStorage
from codestream.contract import CONTRACT
from devhost.azurite import READY_TEXT, AzuriteSetup

from .processes import ManagedProcess, free_port, run_command, wait_output

CONTAINER = CONTRACT.storage.container


@dataclass(frozen=True)
class RunningAzurite:
    setup: AzuriteSetup
    process: ManagedProcess

    @property
    def connection_string(self) -> str:
        return self.setup.connection_string

    def storage(self, container: str = CONTAINER) -> StreamStorage:
        """The Function App's setting for this Azurite."""
        return StreamStorage(container, self.connection_string, None)

    def container_client(self, container: str = CONTAINER) -> ContainerClient:
        """Microsoft's async client on this Azurite, to look at what the app stored."""
        return ContainerClient.from_connection_string(
            self.connection_string, container, api_version=API_VERSION
        )


def new_setup(location: Path) -> AzuriteSetup:
    return AzuriteSetup("127.0.0.1", free_port(), location)


@contextlib.contextmanager
def start_azurite(setup: AzuriteSetup | None = None) -> Iterator[RunningAzurite]:
    """Until the block ends; pass the `setup` of a stopped one to start it again as it was."""
    with tempfile.TemporaryDirectory(prefix="codestream-azurite-") as tmp:
        setup = setup or new_setup(Path(tmp))
        setup.location.mkdir(parents=True, exist_ok=True)
        with run_command(
            setup.command(), lambda proc: wait_output(READY_TEXT, proc), setup.environment()
        ) as process:
            yield RunningAzurite(setup, process)


# For tests that need valid settings but never reach storage (nothing listens on port 9).
NO_STORAGE = {
    "StreamStorageConnectionString": (
        "DefaultEndpointsProtocol=http;AccountName=codestream;AccountKey=bm90LWEta2V5;"
        "BlobEndpoint=http://127.0.0.1:9/codestream;"
    )
}
