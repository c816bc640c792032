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

# The browser tests' service keeps a dropped reliable connection this long (the emulator's
# default is 60 s): long enough for a blip to be recovered, short enough that a test can
# outlast it and see what watchers see when a streamer is really gone.
RECOVERY_WINDOW_S = 8
EMULATOR_ARGS = (f"--recovery-window={RECOVERY_WINDOW_S}",)
