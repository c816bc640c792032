"""The emulator, proved with Microsoft's npm SDKs (tests/node/*.test.mjs under `node --test`).

Each Node test file gets a fresh emulator; this wrapper passes its connection string, the
port the file's own upstream (express + @azure/web-pubsub-express) must listen on, and the
venv's Python, which the Node tests use to run the Python service SDK.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys

import pytest

from emulator.config import single_handler_config
from harness.emulator import start_emulator
from harness.processes import REPO_ROOT, free_port

NODE_DIR = REPO_ROOT / "tests" / "node"
NODE_MODULES = REPO_ROOT / "harness" / "node" / "node_modules"
NODE_TIMEOUT_S = 90

pytestmark = [pytest.mark.node, pytest.mark.integration]


def _upstream(port: int, hub: str) -> dict[str, object]:
    url = f"http://127.0.0.1:{port}/api/webpubsub/hubs/{hub}"
    return single_handler_config(hub, url)["hubs"][hub]


def _hubs(upstream_port: int) -> dict[str, object]:
    """Hub "chat": client to client only. "events" and "guarded": the Node test's upstream."""
    return {
        "hubs": {
            "chat": {"eventHandlers": []},
            "events": _upstream(upstream_port, "events"),
            "guarded": _upstream(upstream_port, "guarded"),
        }
    }


@pytest.mark.parametrize("test_file", sorted(p.name for p in NODE_DIR.glob("*.test.mjs")))
def test_node_sdk(test_file: str) -> None:
    if not NODE_MODULES.is_dir():
        pytest.fail("harness/node/node_modules is missing: `make test` installs it (npm ci)")
    node = shutil.which("node")
    assert node, "node is not on PATH"
    upstream_port = free_port()
    # a fresh key, so signatures and tokens prove the configured key is used, not the default
    access_key = secrets.token_urlsafe(32)
    with start_emulator(_hubs(upstream_port), access_key=access_key) as emulator:
        env = {
            **os.environ,
            "WPS_CONNECTION_STRING": emulator.connection_string,
            "WPS_UPSTREAM_PORT": str(upstream_port),
            "PYTHON": sys.executable,
        }
        try:
            result = subprocess.run(
                [node, "--test", "--test-reporter=spec", test_file],
                cwd=NODE_DIR,
                env=env,
                capture_output=True,
                text=True,
                timeout=NODE_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(
                f"node --test {test_file} ran over {NODE_TIMEOUT_S}s\n{exc.stdout}\n{exc.stderr}"
                f"\n--- emulator ---\n{emulator.process.output()}"
            )
        emulator_log = emulator.process.output()
    if result.returncode != 0:
        pytest.fail(
            f"node --test {test_file} exited {result.returncode}\n{result.stdout}\n"
            f"{result.stderr}\n--- emulator ---\n{emulator_log}",
            pytrace=False,
        )
    print(result.stdout)  # the per-test report, for `pytest -rP`
