"""`python -m tools.smoke` against a dev host started as `make run` starts it: it passes, and
it fails naming the hop (and the side) when Web PubSub is gone or refused by the handler."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.azurite import start_azurite
from harness.devhost import RunningDevHost, start_devhost
from harness.emulator import RecordingHandler, UpstreamCall, handler_config, start_emulator
from harness.processes import REPO_ROOT

pytestmark = pytest.mark.integration

SMOKE_TIMEOUT_S = 120
HOP_LINE = re.compile(r"^([✓✗-]) (\d+) (\w+)", re.MULTILINE)


def smoke(url: str) -> tuple[int, str]:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "tools.smoke", "--web", url, "--api", url),
            *("--timeout", "10", "--startup", "10"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=SMOKE_TIMEOUT_S,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def marks(output: str) -> dict[str, str]:
    return {name: mark for mark, _index, name in HOP_LINE.findall(output)}


ALL_HOPS = [
    "site", "health", "cors", "negotiate", "store", "load", "recording", "streamer", "watcher",
    "delta", "presence", "delete",
]  # fmt: skip


def test_smoke_passes_against_the_dev_host() -> None:
    with start_devhost() as host:
        code, output = smoke(host.url)
    assert code == 0, output
    assert marks(output) == dict.fromkeys(ALL_HOPS, "✓")
    assert "all 12 hops passed" in output
    assert "1 watcher reached the streamer; the status 'ended' reached the watcher" in output
    assert "the join state replays to the stored document (gzip, then 304)" in output
    assert "a 3-line JSON Lines download" in output
    assert "204; the recording then reads 410" in output


def emulator_children(host: RunningDevHost) -> list[int]:
    """The dev host's own emulator process (its child, listening on the emulator port)."""
    parent = host.process.process.pid
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if (
            ppid == parent
            and b"emulator" in cmdline
            and str(host.emulator_port).encode() in cmdline
        ):
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_smoke_fails_at_the_streamer_hop_when_web_pubsub_is_gone() -> None:
    with start_devhost() as host:
        (emulator,) = emulator_children(host)
        os.kill(emulator, signal.SIGKILL)
        wait_until_refused(host.emulator_endpoint + "/api/health")
        code, output = smoke(host.url)
    assert code == 1, output
    assert marks(output) == {
        **dict.fromkeys(["site", "health", "cors", "negotiate", "store", "load"], "✓"),
        "recording": "✓",
        "streamer": "✗",
        **dict.fromkeys(["watcher", "delta", "presence"], "-"),
        "delete": "✓",  # storage does not need Web PubSub
    }
    assert f"cannot reach Web PubSub at ws://127.0.0.1:{host.emulator_port}" in output
    assert "likely remedy: the service is down or unreachable" in output
    assert "8 of 12 hops passed, 1 failed, 3 skipped" in output


def wait_until_refused(url: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).close()  # noqa: S310 (loopback)
        except (urllib.error.URLError, OSError):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{url} still answers")


@pytest.fixture
def host_behind_a_forging_upstream() -> Iterator[RunningDevHost]:
    """Web PubSub -> an upstream hop that spoils the service's credential (ce-signature), as a
    wrong upstream audience spoils Entra tokens in Azure -> the real event handler."""
    target: dict[str, str] = {}

    def respond(call: UpstreamCall) -> tuple[int, dict[str, str], bytes]:
        skip = ("host", "content-length")
        headers = {k: v for k, v in call.headers.items() if k.lower() not in skip}
        headers["ce-signature"] = "sha256=" + "0" * 64
        request = urllib.request.Request(  # noqa: S310 (loopback)
            target["url"], data=call.body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
                return resp.status, {}, resp.read()
        except urllib.error.HTTPError as refused:
            return refused.code, {"Content-Type": "application/json"}, refused.read()

    with (
        RecordingHandler(respond) as upstream,
        start_emulator(handler_config(upstream.url), access_key="k" * 48) as emulator,
        start_devhost(env={"WebPubSubConnectionString": emulator.connection_string}) as host,
    ):
        target["url"] = host.events_url
        yield host


def test_smoke_says_the_event_handler_refused_web_pubsubs_token(
    host_behind_a_forging_upstream: RunningDevHost,
) -> None:
    code, output = smoke(host_behind_a_forging_upstream.url)
    assert code == 1, output
    assert marks(output)["streamer"] == "✗"
    assert marks(output)["negotiate"] == "✓"
    assert "the event handler (the API) refused Web PubSub's upstream token" in output
    assert "401" in output
    assert "the API's side refused. In Azure: WebPubSubUpstreamAudience must equal" in output


def test_the_postdeploy_hook_runs_the_check_against_the_deployed_urls() -> None:
    # as azd runs it: from the project folder, with the environment's values
    with start_devhost() as host:
        env = {**os.environ, "SERVICE_WEB_URI": host.url, "SERVICE_API_URI": host.url}
        done = subprocess.run(
            [sys.executable, "infra/hooks/smoke.py"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=SMOKE_TIMEOUT_S,
            check=False,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"CodeStream smoke check: site {host.url}, API {host.url}" in done.stdout
    assert "all 12 hops passed" in done.stdout


def test_smoke_says_storage_is_unavailable_and_goes_on() -> None:
    with start_azurite() as azurite:
        env = {"StreamStorageConnectionString": azurite.connection_string}
        with start_devhost(env=env) as host:
            azurite.process.stop()
            code, output = smoke(host.url)
    assert code == 1, output
    assert marks(output) == {
        **dict.fromkeys(ALL_HOPS, "✓"),
        "store": "✗",
        **dict.fromkeys(["load", "recording", "delete"], "-"),
    }
    assert "uploading a keyframe: 503 storage_unavailable" in output
    assert "Storage Blob Data Contributor on the streams container" in output
    assert "8 of 12 hops passed, 1 failed, 3 skipped" in output
