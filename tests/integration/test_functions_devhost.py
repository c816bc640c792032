"""The dev host as `make run` starts it: real processes, real ports, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from harness.azurite import start_azurite
from harness.devhost import start_devhost
from harness.emulator import handler_config, start_emulator
from harness.processes import REPO_ROOT, free_port, run_process

pytestmark = pytest.mark.integration


def fetch(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=body, method=method)  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_routes_come_from_the_function_app_and_are_counted() -> None:
    with start_devhost() as host:
        before = host.invocations()["functions"].get("health", 0)  # start-up probes
        status, headers, body = fetch(f"{host.url}/api/health")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        assert headers["Content-Type"].startswith("application/json")
        # negotiate is declared POST only: the dev host does not route GET to it
        assert fetch(f"{host.url}/api/negotiate")[0] == 405
        status, _, body = fetch(f"{host.url}/api/negotiate", "POST", b"[1]")
        assert status == 400
        assert json.loads(body)["error"]["code"] == "bad_schema"
        status, headers, _ = fetch(f"{host.url}/api/negotiate", "POST", b"{}")
        assert status == 200
        assert headers["Cache-Control"] == "no-store"
        counts = host.invocations()
        assert counts["functions"] == {"health": before + 1, "negotiate": 2}


def test_static_site_headers_and_missing_build(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html><title>t</title>")
    (dist / "app.js").write_text("console.log(1)")
    (dist / "staticwebapp.config.json").write_text(
        json.dumps(
            {
                "globalHeaders": {
                    "Content-Security-Policy": "default-src 'none'; connect-src 'self'",
                    "X-Frame-Options": "DENY",
                },
                "routes": [{"route": "/assets/*", "headers": {"Cache-Control": "max-age=300"}}],
                "responseOverrides": {"404": {"rewrite": "/index.html"}},
            }
        )
    )
    with start_devhost(static_dir=dist) as host:
        status, headers, body = fetch(f"{host.url}/")
        assert status == 200
        assert body.startswith(b"<!doctype html>")
        assert headers["X-Frame-Options"] == "DENY"
        csp = headers["Content-Security-Policy"]
        assert f"connect-src 'self' ws://127.0.0.1:{host.emulator_port}" in csp
        status, headers, _ = fetch(f"{host.url}/app.js")
        assert status == 200
        assert headers["Content-Type"].startswith("text/javascript")
        # outside the root, and the config file itself, are never served
        assert (
            fetch(f"{host.url}/../pyproject.toml")[2] != (REPO_ROOT / "pyproject.toml").read_bytes()
        )
        status, _, body = fetch(f"{host.url}/staticwebapp.config.json")
        assert b"globalHeaders" not in body
        status, _, body = fetch(f"{host.url}/no/such/page")
        assert (status, body) == (404, b"<!doctype html><title>t</title>")

    with start_devhost(static_dir=tmp_path / "not-built") as host:
        status, _, body = fetch(f"{host.url}/")
        assert status == 503
        assert b"make build" in body


def test_ctrl_c_stops_the_dev_host_and_its_emulator() -> None:
    with start_devhost() as host:
        out = host.process.output()
        assert f"CodeStream is running at http://localhost:{host.port}" in out
        assert f"Web PubSub (built-in emulator): http://127.0.0.1:{host.emulator_port}" in out
        assert host.access_key not in out  # the emulator's key is never printed
        assert host.storage is not None
        blob = host.storage.blob_endpoint
        assert f"Stream storage: Azurite {blob}, data in {host.storage.location}" in out
        assert host.storage.account_key not in out  # nor Azurite's
        assert fetch(f"{host.emulator_endpoint}/api/health")[0] == 200
        assert fetch(blob)[0] in (400, 403)  # Azurite answers (an unsigned request)
        host.process.process.send_signal(signal.SIGINT)
        assert host.process.process.wait(15) == 0
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"{host.emulator_endpoint}/api/health", timeout=2)  # noqa: S310
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(blob, timeout=2)  # noqa: S310
        assert "devhost: stopping" in host.process.output()


def local_args(port: int, tmp: Path) -> list[str]:
    """The dev host on free ports, its Azurite's data in `tmp`: never the developer's own."""
    return [
        *("-m", "devhost", "--port", str(port), "--emulator-port", str(free_port())),
        *("--storage-port", str(free_port()), "--storage-dir", str(tmp / "azurite")),
    ]


def test_connection_strings_in_the_environment_replace_the_stand_ins(tmp_path: Path) -> None:
    port = free_port()
    config = handler_config(f"http://127.0.0.1:{port}/api/webpubsub/events")
    with (
        start_emulator(config, access_key="external-key-123") as external,
        start_azurite() as blobs,
    ):
        args = local_args(port, tmp_path)
        env = {
            "WebPubSubConnectionString": external.connection_string,
            "StreamStorageConnectionString": blobs.connection_string,
            "OwnerKeySecret": "k" * 40,
        }
        with run_process(args, f"http://127.0.0.1:{port}/api/health", env=env) as proc:
            status, _, body = fetch(f"http://127.0.0.1:{port}/api/negotiate", "POST", b"{}")
            assert status == 200
            assert json.loads(body)["url"].startswith(f"{external.ws_endpoint}/client/hubs/")
            out = proc.output()
            assert f"Web PubSub (from the environment): {external.endpoint}" in out
            assert "Stream storage: from the environment (connection string)" in out
            assert "[azurite]" not in out
            assert not (tmp_path / "azurite").exists()
            stream_id = json.loads(body)["streamId"]
            assert fetch(f"http://127.0.0.1:{port}/api/streams/{stream_id}")[0] == 404


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"OwnerKeySecret": "too-short"}, "OwnerKeySecret"),
        ({"WebPubSubHub": "9-bad", "OwnerKeySecret": "k" * 40}, "WebPubSubHub"),
        (
            {"WebPubSubEndpoint": "https://x.webpubsub.azure.com", "OwnerKeySecret": "k" * 40},
            "WebPubSubUpstreamAudience",
        ),
        (
            {"StreamStorageAccountUrl": "http://storage.example", "OwnerKeySecret": "k" * 40},
            "StreamStorageAccountUrl",
        ),
        (
            {"StreamStorageContainer": "Bad_Name", "OwnerKeySecret": "k" * 40},
            "StreamStorageContainer",
        ),
    ],
)
def test_bad_settings_stop_the_start_naming_the_setting(
    env: dict[str, str], setting: str, tmp_path: Path
) -> None:
    args = [sys.executable, *local_args(free_port(), tmp_path)]
    args += ["--settings", str(tmp_path / "s.json")]
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("WebPubSub", "StreamStorage"))
    }
    done = subprocess.run(
        args, cwd=REPO_ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert f"setting {setting}:" in done.stderr
    assert "Traceback" not in done.stderr
    assert "[azurite]" not in done.stdout  # settings are checked before anything starts


def test_owner_key_secret_is_generated_once(tmp_path: Path) -> None:
    settings = tmp_path / "local.settings.json"
    port = free_port()
    args = [*local_args(port, tmp_path), "--settings", str(settings)]
    env = {"OwnerKeySecret": "", "WebPubSubConnectionString": "", "WebPubSubEndpoint": ""}
    env |= {"StreamStorageConnectionString": "", "StreamStorageAccountUrl": ""}
    with run_process(args, f"http://127.0.0.1:{port}/api/health", env=env):
        secret = json.loads(settings.read_text())["Values"]["OwnerKeySecret"]
        assert len(secret) >= 32
        assert oct(settings.stat().st_mode & 0o777) == "0o600"
    port = free_port()
    args = [*local_args(port, tmp_path), "--settings", str(settings)]
    with run_process(args, f"http://127.0.0.1:{port}/api/health", env=env) as proc:
        assert json.loads(settings.read_text())["Values"]["OwnerKeySecret"] == secret
        assert secret not in proc.output()
