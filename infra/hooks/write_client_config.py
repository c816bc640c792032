"""azd hook: tell the browser client where the API lives, before the client is built.

The Static Web App and the Function App have different origins, and the API's URL is known
only after provisioning. azd passes the environment's values (the Bicep outputs) to hooks as
environment variables; this script writes the API's origin to static_web/app.config.json,
which the client build reads (the file is gitignored: the code never changes). Plain Python,
standard library only, so it runs the same on Linux, macOS and Windows.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

API_URI = "SERVICE_API_URI"
DEFAULT_OUTPUT = Path(__file__).resolve().parents[2] / "static_web" / "app.config.json"


class HookError(Exception):
    """The azd environment lacks a value or holds a malformed one."""


def _https_origin(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise HookError(f"{name} is not set: run `azd provision` first (it is a Bicep output)")
    split = urlsplit(value)
    if split.scheme != "https" or not split.hostname or split.path.strip("/") or split.query:
        raise HookError(f"{name} must be an https:// origin without a path, got {value!r}")
    return f"https://{split.netloc}"


def client_config(env: Mapping[str, str]) -> dict[str, str]:
    """The client's deploy-time config, from azd's environment values."""
    return {"apiBase": _https_origin(env, API_URI)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    try:
        config = client_config(os.environ)
    except HookError as error:
        print(f"write_client_config: {error}", file=sys.stderr)
        return 1
    args.output.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    print(f"write_client_config: wrote {args.output} (apiBase {config['apiBase']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
