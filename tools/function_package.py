"""List the files `azd deploy` would zip for the Function App, as JSON (relative paths).

Runs under .venv-infra's Python (pathspec). Usage: function_package.py PROJECT_DIR

azd (cli/azd/pkg/project/project_utils.go, createDeployableZip) walks the service folder and
leaves out: folders named `.azure`, the ignore file itself, `local.settings.json` (function
targets), and everything `.funcignore` matches with gitignore rules. When a `.funcignore`
exists, azd applies none of its default exclusions (virtual environments with a pyvenv.cfg,
`__pycache__`), so the file must name them. pathspec's GitIgnoreSpec implements git's rules.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from pathspec import GitIgnoreSpec

IGNORE_FILE = ".funcignore"


def package_files(root: Path) -> list[str]:
    ignore_file = root / IGNORE_FILE
    lines = ignore_file.read_text(encoding="utf-8-sig").splitlines() if ignore_file.exists() else []
    spec = GitIgnoreSpec.from_lines(lines)
    kept: list[str] = []
    for folder, dirs, files in os.walk(root):
        relative = Path(folder).relative_to(root)
        for name in sorted(dirs):
            path = (relative / name).as_posix()
            if name == ".azure" or spec.match_file(path + "/"):
                dirs.remove(name)
        dirs.sort()
        for name in sorted(files):
            path = (relative / name).as_posix()
            if name in (IGNORE_FILE, "local.settings.json") or spec.match_file(path):
                continue
            kept.append(path)
    return kept


if __name__ == "__main__":
    json.dump(package_files(Path(sys.argv[1]).resolve()), sys.stdout)
