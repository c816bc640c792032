"""azd hook (postdeploy): run the smoke check (tools/smoke.py) against the deployed app.

azd passes the environment's values (the Bicep outputs SERVICE_WEB_URI and SERVICE_API_URI)
to hooks as environment variables and runs project hooks from the project folder. The check
needs the project's dev environment (.venv: aiohttp and Microsoft's Web PubSub client SDK);
it is created here, as `make setup` creates it, if it does not exist yet. The hook exits with
the check's code, so a failed hop fails `azd deploy` / `azd up` after printing why. Plain
Python, standard library only, so it runs the same on Linux, macOS and Windows.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv"
URLS = {"--web": "SERVICE_WEB_URI", "--api": "SERVICE_API_URI"}


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_venv() -> Path:
    python = venv_python()
    if not python.exists():
        print(f"smoke: creating {VENV.name} (requirements-dev.txt) for the check", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)  # noqa: S603
        subprocess.run(  # noqa: S603 (our own venv's pip, our own requirements file)
            [str(python), "-m", "pip", "install", "--quiet", "-r", "requirements-dev.txt"],
            cwd=ROOT,
            check=True,
        )
    return python


def main() -> int:
    args: list[str] = []
    for flag, name in URLS.items():
        value = os.environ.get(name, "").strip()
        if not value:
            print(f"smoke: {name} is not set: run `azd provision` first", file=sys.stderr)
            return 1
        args += [flag, value]
    try:
        python = ensure_venv()
    except subprocess.CalledProcessError as error:
        print(f"smoke: could not set up {VENV.name}: {error}", file=sys.stderr)
        return 1
    done = subprocess.run([str(python), "-m", "tools.smoke", *args], cwd=ROOT, check=False)  # noqa: S603
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
