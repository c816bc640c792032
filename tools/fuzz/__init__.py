"""Long-running fuzz clients: `python -m tools.fuzz.http`, `python -m tools.fuzz.emulator`."""
