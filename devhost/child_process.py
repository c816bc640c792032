"""A local stand-in run as a child process of the dev host: started, awaited until it says it
is ready, its output forwarded with a prefix, and stopped with the dev host.

A child rather than in-process: each stand-in is a separate service in production too, its
event loop and logs stay apart from the functions', and the functions reach it over HTTP
exactly as they reach Azure.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 30.0


class ChildProcess:
    """Subclasses say what to run (`command`), when it is ready (`is_ready_line`) and what a
    failed start most likely means (`exit_hint`)."""

    label = "child"

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None
        self._pump: asyncio.Task[None] | None = None

    def command(self) -> Sequence[str]:
        raise NotImplementedError

    def environment(self) -> Mapping[str, str] | None:
        """None: the dev host's own environment."""
        return None

    def is_ready_line(self, line: str) -> bool:
        raise NotImplementedError

    def show_line(self, line: str) -> bool:
        """Whether a line is echoed (lines holding a key are not)."""
        return True

    def exit_hint(self) -> str:
        return ""

    async def start(self) -> None:
        command = list(self.command())
        try:
            self.process = await asyncio.create_subprocess_exec(
                *command,
                cwd=REPO_ROOT,
                env=self.environment(),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
        except OSError as exc:
            raise SystemExit(f"cannot start the {self.label} ({exc}); {self.exit_hint()}") from None
        try:
            await asyncio.wait_for(self._wait_ready(), READY_TIMEOUT)
        except TimeoutError:
            await self.stop()
            raise SystemExit(f"the {self.label} did not start within {READY_TIMEOUT:g}s") from None
        self._pump = asyncio.create_task(self._forward_output())

    def _stdout(self) -> asyncio.StreamReader:
        if self.process is None or self.process.stdout is None:
            raise RuntimeError(f"the {self.label} is not started")
        return self.process.stdout

    def _print(self, line: str) -> None:
        if self.show_line(line):
            print(f"[{self.label}] {line}", flush=True)

    async def _wait_ready(self) -> None:
        stdout = self._stdout()
        while True:
            line = await stdout.readline()
            if not line:
                code = await self.process.wait() if self.process else -1
                raise SystemExit(f"the {self.label} exited with {code} ({self.exit_hint()})")
            text = line.decode(errors="replace").rstrip()
            self._print(text)
            if self.is_ready_line(text):
                return

    async def _forward_output(self) -> None:
        async for line in self._stdout():
            self._print(line.decode(errors="replace").rstrip())

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
