"""azure.yaml against the facts of azd's schema (schemas/v1.0/azure.yaml.json in Azure/azure-dev).

azd itself is not installed here, so the schema's rules that matter to this project are
written down once below and checked: names, hosts, languages, hook names and hook shapes.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from harness.bicep import REPO_ROOT

pytestmark = pytest.mark.infra

NAME_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
HOSTS = {"appservice", "containerapp", "function", "springapp", "staticwebapp", "aks"}
LANGUAGES = {"dotnet", "csharp", "fsharp", "py", "python", "js", "ts", "java", "go", "docker"}
# Hosts that deploy source: `project` required; `image`, `docker`, `k8s`, `env` not allowed.
SOURCE_HOSTS = {"appservice", "function", "springapp", "staticwebapp"}
SERVICE_HOOKS = {
    f"{when}{event}"
    for when in ("pre", "post")
    for event in ("restore", "build", "package", "publish", "deploy")
}
PROJECT_HOOKS = {
    f"{when}{event}"
    for when in ("pre", "post")
    for event in (
        "provision",
        "infracreate",
        "infradelete",
        "down",
        "up",
        "package",
        "publish",
        "deploy",
        "restore",
    )
}
HOOK_KEYS = {
    "shell",
    "kind",
    "dir",
    "run",
    "continueOnError",
    "interactive",
    "windows",
    "posix",
    "secrets",
    "config",
}
SHELLS = {"sh", "pwsh"}
TOP_LEVEL = {
    "name",
    "resourceGroup",
    "metadata",
    "infra",
    "services",
    "resources",
    "pipeline",
    "hooks",
    "requiredVersions",
    "state",
    "platform",
    "workflows",
    "cloud",
}


def check_hook(hook: dict[str, Any], base: Path, where: str) -> list[Path]:
    """Validate one hook's shape; return the scripts it runs (resolved from `base`)."""
    assert set(hook) <= HOOK_KEYS, f"{where}: unknown keys {set(hook) - HOOK_KEYS}"
    if "windows" in hook and "posix" in hook:
        assert set(hook) == {"windows", "posix"}, f"{where}: run/shell go inside windows/posix"
        scripts = check_hook(hook["windows"], base, where + ".windows")
        return scripts + check_hook(hook["posix"], base, where + ".posix")
    assert "run" in hook, f"{where}: `run` is required"
    assert hook.get("shell", "sh") in SHELLS, f"{where}: shell must be sh or pwsh"
    words = shlex.split(hook["run"])
    # Python scripts, not shell: the same hook works on Linux, macOS and Windows.
    assert words[0] in {"python", "python3"}, f"{where}: hooks run Python scripts"
    return [(base / PurePosixPath(words[1])).resolve()]


@pytest.fixture(scope="module")
def services(azure_yaml: dict[str, Any]) -> dict[str, Any]:
    return azure_yaml["services"]


def test_top_level(azure_yaml: dict[str, Any]) -> None:
    assert set(azure_yaml) <= TOP_LEVEL
    assert NAME_PATTERN.match(azure_yaml["name"])
    assert azure_yaml["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    assert (REPO_ROOT / "infra" / "main.bicep").is_file()
    assert azure_yaml["pipeline"]["provider"] == "github"


def test_services_and_hosts(services: dict[str, Any]) -> None:
    for name, service in services.items():
        assert service["host"] in HOSTS, name
        assert service["language"] in LANGUAGES, name
        if service["host"] in SOURCE_HOSTS:
            assert "project" in service, name
            assert not {"image", "docker", "k8s", "env", "apiVersion"} & set(service), name
            assert (REPO_ROOT / service["project"]).is_dir(), name
    api, web = services["api"], services["web"]
    assert (api["host"], api["language"], api["project"]) == ("function", "python", ".")
    assert (REPO_ROOT / "function_app.py").is_file(), "the api project has no function_app.py"
    assert (web["host"], web["language"], web["project"]) == ("staticwebapp", "js", "static_web")
    assert web["dist"] == "dist"
    package = (REPO_ROOT / "static_web" / "package.json").read_text()
    assert '"build"' in package  # azd builds the `web` service with `npm run build`


def test_hooks_are_known_events_and_run_existing_python_scripts(
    azure_yaml: dict[str, Any], services: dict[str, Any]
) -> None:
    scripts: list[Path] = []
    for event, hook in azure_yaml.get("hooks", {}).items():
        assert event in PROJECT_HOOKS, event
        scripts += check_hook(hook, REPO_ROOT, f"hooks.{event}")
    for name, service in services.items():
        for event, hook in service.get("hooks", {}).items():
            assert event in SERVICE_HOOKS, f"{name}.{event}"
            # Service hook paths are relative to the service's project folder.
            scripts += check_hook(hook, REPO_ROOT / service["project"], f"{name}.{event}")
    assert scripts, "the client config hook is missing"
    hooks_dir = (REPO_ROOT / "infra" / "hooks").resolve()
    for script in scripts:
        assert script.is_file(), script
        assert script.parent == hooks_dir, script


def test_client_config_is_written_before_the_package_step(
    azure_yaml: dict[str, Any], services: dict[str, Any]
) -> None:
    # prepackage, not prebuild: azd builds a js service inside its package step
    # (tests/infra/test_azd_lifecycle.py runs that sequence).
    hook = services["web"]["hooks"]["prepackage"]
    for platform in ("windows", "posix"):
        assert hook[platform]["run"].endswith("../infra/hooks/write_client_config.py")
    # `azd up` must provision before it packages, or the first package has no API URL.
    steps = [step["azd"] for step in azure_yaml["workflows"]["up"]["steps"]]
    assert steps == ["provision", "deploy --all"]


def test_the_smoke_check_runs_after_every_deploy(azure_yaml: dict[str, Any]) -> None:
    hook = azure_yaml["hooks"]["postdeploy"]
    for platform in ("windows", "posix"):
        assert hook[platform]["run"].endswith("infra/hooks/smoke.py")
    assert "continueOnError" not in hook  # a failed hop fails `azd deploy` / `azd up`
