"""The api service's two packaging steps in `azd deploy`, run as azd runs them.

1. `azd restore` creates `<project folder>_env` and runs `pip install .` in the project folder
   (pyproject.toml wins over requirements.txt: pkg/project/framework_service_python.go,
   pkg/tools/python/python.go). Here: the same build with pip, offline (no build isolation,
   setuptools from .venv-infra), on a copy of the repository.
2. The Functions zip: every file but what `.funcignore` and azd leave out
   (tools/function_package.py), on a copy holding what a developer's folder holds after
   `azd restore`, `make test` and a coverage run.
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from harness.azd import copy_repository
from harness.bicep import INFRA_PYTHON, REPO_ROOT

pytestmark = pytest.mark.infra

SHIPPED = {"function_app.py", "host.json", "requirements.txt"}
TIMEOUT_S = 120


def runtime_requirements() -> list[str]:
    lines = (REPO_ROOT / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_pip_install_dot_builds_only_what_ships(tmp_path: Path) -> None:
    root = copy_repository(tmp_path / "src")
    done = subprocess.run(
        [
            *(str(INFRA_PYTHON), "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"),
            *("--no-index", "-q", "-w", str(tmp_path / "wheels"), str(root)),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = (tmp_path / "wheels").glob("codestream-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
    top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top_level == {"codestream", "function_app.py"}
    assert "codestream/contract.json" in names  # read at import by codestream/contract.py
    shipped_code = {p.name for p in (REPO_ROOT / "codestream").glob("*.py")}
    assert {n.split("/")[1] for n in names if n.startswith("codestream/")} >= shipped_code
    requires = [
        line.removeprefix("Requires-Dist: ")
        for line in metadata.decode().splitlines()
        if line.startswith("Requires-Dist: ")
    ]
    assert requires == runtime_requirements()


# What a working copy holds besides the source: azd's virtual environment, the dev venvs,
# `pip install .` and coverage leftovers, caches, local settings.
LEFTOVERS = [
    "{name}_env/pyvenv.cfg",
    "{name}_env/lib/python3.11/site-packages/six.py",
    ".venv/pyvenv.cfg",
    ".venv-infra/pyvenv.cfg",
    "build/lib/codestream/config.py",
    "codestream.egg-info/PKG-INFO",
    ".coverage",
    ".coverage.host.1234.5678",
    "coverage.xml",
    "htmlcov/index.html",
    "codestream/__pycache__/config.cpython-311.pyc",
    ".pytest_cache/README.md",
    "local.settings.json",
    ".azure/dev/.env",
    "static_web/dist/index.html",
    "test-results/trace.zip",
    "devhost.log",
]


def function_package(root: Path) -> list[str]:
    done = subprocess.run(
        [str(INFRA_PYTHON), str(REPO_ROOT / "tools" / "function_package.py"), str(root)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=True,
    )
    return json.loads(done.stdout)


def test_the_function_package_holds_only_the_app(tmp_path: Path) -> None:
    root = copy_repository(tmp_path)
    for leftover in LEFTOVERS:
        path = root / leftover.format(name=root.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    files = function_package(root)
    codestream = {
        f"codestream/{p.name}"
        for p in (REPO_ROOT / "codestream").iterdir()
        if p.suffix == ".py" or p.name == "contract.json"
    }
    assert set(files) == SHIPPED | codestream
    assert len(files) == len(set(files))


def test_funcignore_names_the_venv_azd_creates() -> None:
    # azd applies its own venv exclusion only when there is no .funcignore
    lines = {line.strip() for line in (REPO_ROOT / ".funcignore").read_text().splitlines()}
    assert "*_env" in lines
