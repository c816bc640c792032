"""Package a service the way `azd deploy` does, on a copy of the repository (azd is not here).

What azd runs, read from its source (Azure/azure-dev, cli/azd):
- `azd deploy` builds a graph of `package-<svc>` -> `publish-<svc>` -> `deploy-<svc>`
  (internal/cmd/service_graph.go); `serviceManager.Package` first restores when the language
  asks for it, builds only when the language's `Requirements().Package.RequireBuild` is true,
  then raises the `package` event around the framework's Package (pkg/project/service_manager.go).
- For `language: js` (pkg/project/framework_service_node.go) RequireRestore is true and
  RequireBuild is false; its Package runs `npm run build --if-present` itself, in the service
  folder, with the azd environment's values as environment variables. So in `azd deploy` the
  service hooks `prerestore`/`postrestore` and `prepackage`/`postpackage` run, and
  `prebuild`/`postbuild` never do.
- Service hooks run with the service folder as their working directory
  (cmd/middleware/hooks.go: `Cwd: service.Path()`), with the azd environment's values.
- The staticwebapp target deploys with `swa deploy --app-location <project> --output-location
  <dist>` from the project root (pkg/project/service_target_staticwebapp.go, pkg/tools/swa).

And what the SWA CLI then does with the app location (Azure/static-web-apps-cli,
src/core/utils/user-config.ts `findSWAConfigFile`): it walks the folder recursively (skipping
entries whose name contains `node_modules` or starts with `.git`) and keeps the *last*
`staticwebapp.config.json` it meets, in directory order.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.bicep import REPO_ROOT

SWA_CONFIG = "staticwebapp.config.json"
# Service events of `azd deploy` in order, for a js service (see the module docstring).
JS_DEPLOY_HOOKS_BEFORE_BUILD = ("prerestore", "postrestore", "prepackage")
JS_DEPLOY_HOOKS_AFTER_BUILD = ("postpackage",)
# Hooks that exist for a service but that `azd deploy` does not run for js.
JS_HOOKS_NOT_RUN_IN_DEPLOY = ("prebuild", "postbuild")
COPY_IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv*",
    "node_modules",
    "dist",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    ".hypothesis",
    "test-results",
    "app.config.json",
    "local.settings.json",
    "*_env",
    "build",
    "*.egg-info",
)
STEP_TIMEOUT_S = 180


class AzdStepFailed(Exception):
    """A hook or the build exited non-zero: `azd deploy` would stop here."""

    def __init__(self, step: str, done: subprocess.CompletedProcess[str]) -> None:
        super().__init__(f"{step} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        self.step = step
        self.output = done.stdout + done.stderr


@dataclass
class Packaged:
    service_dir: Path
    output_dir: Path
    steps: list[str] = field(default_factory=list)
    log: str = ""


NODE_PROJECTS = ("static_web", "harness/node")


def copy_repository(destination: Path) -> Path:
    """The repository without build output, caches or environments; node_modules linked."""
    root = destination / REPO_ROOT.name
    shutil.copytree(REPO_ROOT, root, ignore=COPY_IGNORE, symlinks=True)
    for project in NODE_PROJECTS:
        modules = REPO_ROOT / project / "node_modules"
        if modules.is_dir() and (root / project).is_dir():
            (root / project / "node_modules").symlink_to(modules, target_is_directory=True)
    return root


def _hook_command(hook: Mapping[str, Any]) -> tuple[str, str]:
    """(shell, run) of a hook as azd picks it on Linux/macOS (posix, else the hook itself)."""
    chosen = hook.get("posix", hook)
    return chosen.get("shell", "sh"), chosen["run"]


def _run(step: str, args: list[str], cwd: Path, env: Mapping[str, str]) -> str:
    done = subprocess.run(
        args,
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise AzdStepFailed(step, done)
    return done.stdout + done.stderr


def package_js_service(
    root: Path, service: Mapping[str, Any], azd_env: Mapping[str, str]
) -> Packaged:
    """Run what `azd deploy` runs for a js service up to its package: hooks, then the build."""
    service_dir = root / service["project"]
    # azd adds its environment's values to the process environment; a test's own shell must
    # not leak an azd environment of its own into the copy
    inherited = {
        k: v
        for k, v in os.environ.items()
        if k != "AZURE_ENV_NAME" and not k.startswith("SERVICE_")
    }
    env = {**inherited, **azd_env}
    hooks: Mapping[str, Any] = service.get("hooks", {})
    packaged = Packaged(service_dir, service_dir / service.get("dist", ""))

    def hook(event: str) -> None:
        if event in hooks:
            shell, run = _hook_command(hooks[event])
            packaged.log += _run(f"{event} hook", [shell, "-c", run], service_dir, env)
            packaged.steps.append(f"{event} hook")

    for event in JS_DEPLOY_HOOKS_BEFORE_BUILD:
        hook(event)
    packaged.log += _run("npm run build", ["npm", "run", "build", "--if-present"], service_dir, env)
    packaged.steps.append("npm run build")
    for event in JS_DEPLOY_HOOKS_AFTER_BUILD:
        hook(event)
    return packaged


def swa_config_files(app_location: Path) -> list[Path]:
    """Every staticwebapp.config.json the SWA CLI meets in the app location, in its order;
    it deploys with the last one."""
    found: list[Path] = []

    def walk(folder: Path) -> None:
        with os.scandir(folder) as entries:
            for entry in entries:  # directory order, as Node's fs.readdir gives it
                if "node_modules" in entry.name or entry.name.startswith(".git"):
                    continue
                if entry.is_dir(follow_symlinks=False):  # a Dirent does not follow links
                    walk(Path(entry.path))
                elif entry.name == SWA_CONFIG:
                    found.append(Path(entry.path))

    walk(app_location)
    return found
