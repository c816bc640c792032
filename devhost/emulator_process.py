"""The built-in Web PubSub emulator, run as a child process with a fresh access key each run."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from devhost.child_process import REPO_ROOT, ChildProcess
from emulator.config import connection_string, single_handler_config

__all__ = ["REPO_ROOT", "EmulatorProcess"]


class EmulatorProcess(ChildProcess):
    label = "emulator"

    def __init__(
        self,
        host: str,
        port: int,
        access_key: str,
        hub: str,
        handler_url: str,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.host, self.port, self.access_key = host, port, access_key
        self.extra_args = extra_args
        self.config = single_handler_config(hub, handler_url)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def connection_string(self) -> str:
        return connection_string(self.endpoint, self.access_key)

    def command(self) -> Sequence[str]:
        return [
            sys.executable,
            *("-m", "emulator", "--host", self.host, "--port", str(self.port)),
            f"--access-key={self.access_key}",
            f"--config-json={json.dumps(self.config)}",
            *self.extra_args,
        ]

    def is_ready_line(self, line: str) -> bool:
        return line.startswith("Endpoint=")

    def show_line(self, line: str) -> bool:
        return not line.startswith("Endpoint=")  # the connection string holds the key

    def exit_hint(self) -> str:
        return f"is port {self.port} free? set EMULATOR_PORT to use another"
