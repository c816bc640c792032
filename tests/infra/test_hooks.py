"""The azd hook that writes static_web/app.config.json, run as azd runs it: a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.bicep import REPO_ROOT

pytestmark = pytest.mark.infra

HOOK = REPO_ROOT / "infra" / "hooks" / "write_client_config.py"
API = "https://func-abc123.azurewebsites.net"


def run_hook(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    output = tmp_path / "app.config.json"
    clean = {k: v for k, v in os.environ.items() if k != "SERVICE_API_URI"}
    done = subprocess.run(
        [sys.executable, str(HOOK), "--output", str(output)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done, output


def test_writes_the_api_base(tmp_path: Path) -> None:
    done, output = run_hook(tmp_path, SERVICE_API_URI=API + "/")
    assert done.returncode == 0, done.stderr
    assert json.loads(output.read_text()) == {"apiBase": API}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "SERVICE_API_URI is not set"),
        ({"SERVICE_API_URI": "  "}, "SERVICE_API_URI is not set"),
        ({"SERVICE_API_URI": "http://func.example"}, "https://"),
        ({"SERVICE_API_URI": API + "/api"}, "without a path"),
        ({"SERVICE_API_URI": API + "?x=1"}, "without a path"),
    ],
)
def test_refuses_missing_or_bad_values_and_writes_nothing(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    done, output = run_hook(tmp_path, **env)
    assert done.returncode == 1
    assert named in done.stderr
    assert "Traceback" not in done.stderr
    assert not output.exists()


def test_default_output_is_deploy_time_only() -> None:
    # that the build reads what the hook writes is shown end to end by test_azd_lifecycle.py
    assert '"static_web" / "app.config.json"' in HOOK.read_text()
    # deploy-time output, never committed (a .gitignore rule anywhere in the tree will do)
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "static_web/app.config.json"],  # noqa: S607
        cwd=REPO_ROOT,
        timeout=30,
        check=False,
    )
    assert ignored.returncode == 0, "static_web/app.config.json must be gitignored"


def test_reads_the_outputs_main_bicep_declares() -> None:
    main = (REPO_ROOT / "infra" / "main.bicep").read_text()
    assert "output SERVICE_API_URI string = api.outputs.uri" in main


SMOKE_HOOK = REPO_ROOT / "infra" / "hooks" / "smoke.py"


@pytest.mark.parametrize("missing", ["SERVICE_WEB_URI", "SERVICE_API_URI"])
def test_the_smoke_hook_needs_the_deployed_urls(missing: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVICE_")}
    env.update({"SERVICE_WEB_URI": "https://web.example", "SERVICE_API_URI": API})
    del env[missing]
    done = subprocess.run(
        [sys.executable, str(SMOKE_HOOK)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert f"smoke: {missing} is not set" in done.stderr
    assert "Traceback" not in done.stderr
