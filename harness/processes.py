"""Start the project's own servers as real child processes and wait until they answer.

Every wait is bounded; a process that dies or never becomes healthy fails loudly with its
own output attached, so a broken start is never mistaken for a slow one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A loopback port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ManagedProcess:
    process: subprocess.Popen[bytes]
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> int:
        """SIGINT first (what Ctrl-C sends), then SIGKILL if it does not exit in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode


def wait_http_ok(
    url: str,
    proc: ManagedProcess | None = None,
    timeout: float = 30.0,
    context: ssl.SSLContext | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.process.poll() is not None:
            raise RuntimeError(
                f"process exited with {proc.process.returncode} before {url} answered:\n"
                + proc.output()
            )
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as resp:  # noqa: S310
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(0.05)
    output = proc.output() if proc else ""
    raise TimeoutError(f"{url} did not answer 200 within {timeout}s ({last_error})\n{output}")


def wait_output(text: str, proc: ManagedProcess, timeout: float = 30.0) -> None:
    """Until the process has printed `text` (for a server without a health URL)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in proc.output():
            return
        if proc.process.poll() is not None:
            raise RuntimeError(
                f"process exited with {proc.process.returncode} before it printed {text!r}:\n"
                + proc.output()
            )
        time.sleep(0.05)
    raise TimeoutError(f"no {text!r} within {timeout}s\n{proc.output()}")


@contextlib.contextmanager
def run_command(
    argv: Sequence[str],
    ready: Callable[[ManagedProcess], None],
    env: dict[str, str] | None = None,
) -> Iterator[ManagedProcess]:
    """Run `argv` from the repo root, wait until `ready` returns, stop it when the block ends."""
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (kept open for the child's lifetime)
        prefix="codestream-", suffix=".log", delete=False
    )
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.Popen(
        list(argv), cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=full_env
    )
    managed = ManagedProcess(proc, Path(log.name))
    try:
        ready(managed)
        yield managed
    finally:
        managed.stop()
        log.close()


@contextlib.contextmanager
def run_process(
    args: Sequence[str],
    health_url: str,
    env: dict[str, str] | None = None,
    timeout: float = 30.0,
    context: ssl.SSLContext | None = None,
) -> Iterator[ManagedProcess]:
    """Run `python args...` from the repo root until the block ends."""
    with run_command(
        [sys.executable, *args],
        lambda proc: wait_http_ok(health_url, proc, timeout, context),
        env,
    ) as managed:
        yield managed
