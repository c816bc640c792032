"""Debian's Chromium as the browser tests and benchmarks launch it.

The flags keep it off the network: on a machine that reaches only package registries,
Chromium's background services would otherwise fail connection after connection.
"""

from __future__ import annotations

from pathlib import Path

from harness.processes import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# the built client (`make build`)
DIST = REPO_ROOT / "static_web" / "dist"
