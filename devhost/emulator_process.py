"""The built-in Web PubSub emulator, run as a child process.

A child rather than in-process: it is a separate service in production too, its event loop
and logs stay apart from the functions', and the functions reach it over HTTP exactly as they
reach Azure. It is started with a fresh access key each run and stopped with the dev host.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path

from emulator.config import connection_string, single_handler_config

REPO_ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 30.0


class EmulatorProcess:
    def __init__(
        self,
        host: str,
        port: int,
        access_key: str,
        hub: str,
        handler_url: str,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.host, self.port, self.access_key = host, port, access_key
        self.extra_args = extra_args
        self.config = single_handler_config(hub, handler_url)
        self.process: asyncio.subprocess.Process | None = None
        self._pump: asyncio.Task[None] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def connection_string(self) -> str:
        return connection_string(self.endpoint, self.access_key)

    async def start(self) -> None:
        args = [
            *("-m", "emulator", "--host", self.host, "--port", str(self.port)),
            f"--access-key={self.access_key}",
            f"--config-json={json.dumps(self.config)}",
            *self.extra_args,
        ]
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await asyncio.wait_for(self._wait_ready(), READY_TIMEOUT)
        except TimeoutError:
            await self.stop()
            raise SystemExit(f"the emulator did not start within {READY_TIMEOUT:g}s") from None
        self._pump = asyncio.create_task(self._forward_output())

    def _stdout(self) -> asyncio.StreamReader:
        if self.process is None or self.process.stdout is None:
            raise RuntimeError("the emulator is not started")
        return self.process.stdout

    async def _wait(self) -> int:
        return await self.process.wait() if self.process else -1

    async def _wait_ready(self) -> None:
        stdout = self._stdout()
        while True:
            line = await stdout.readline()
            if not line:
                code = await self._wait()
                raise SystemExit(
                    f"the emulator exited with {code} (is port {self.port} free? "
                    "set EMULATOR_PORT to use another)"
                )
            text = line.decode(errors="replace").rstrip()
            if text.startswith("Endpoint="):
                return  # the connection string holds the key: not echoed
            print(f"[emulator] {text}", flush=True)

    async def _forward_output(self) -> None:
        stdout = self._stdout()
        async for line in stdout:
            print(f"[emulator] {line.decode(errors='replace').rstrip()}", flush=True)

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
