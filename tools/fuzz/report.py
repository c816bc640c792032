"""What a fuzz run counts and how it reports: shared by the HTTP and the emulator fuzzers."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Tally:
    """Outcomes by kind of input; `problems` are what makes the run fail."""

    name: str
    started: float = field(default_factory=time.monotonic)
    outcomes: Counter[str] = field(default_factory=Counter)  # status / close code -> count
    by_kind: Counter[tuple[str, str]] = field(default_factory=Counter)
    sent: int = 0
    problems: list[str] = field(default_factory=list)

    def record(self, kind: str, outcome: str) -> None:
        self.sent += 1
        self.outcomes[outcome] += 1
        self.by_kind[(kind, outcome)] += 1

    def problem(self, message: str) -> None:
        if len(self.problems) < 50:  # enough to debug; a flood says the same thing
            self.problems.append(message)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def count_5xx(self) -> int:
        """Server errors: every 5xx but 501, oEmbed's documented answer for format=xml (the
        HTTP fuzzer checks that no other route answers 501)."""
        return sum(
            n
            for outcome, n in self.outcomes.items()
            if outcome.startswith("5") and outcome != "501"
        )

    def report(self) -> str:
        lines = [
            f"## {self.name}: {self.sent} inputs in {self.seconds:.1f} s",
            f"machine: {machine()}",
            "",
            "| outcome | count |",
            "|---|---|",
        ]
        lines += [f"| {o} | {n} |" for o, n in sorted(self.outcomes.items())]
        lines += ["", "| kind | outcome | count |", "|---|---|---|"]
        lines += [f"| {k} | {o} | {n} |" for (k, o), n in sorted(self.by_kind.items())]
        lines += ["", f"5xx: {self.count_5xx()}; problems: {len(self.problems)}"]
        lines += [f"- {p}" for p in self.problems]
        return "\n".join(lines)


def machine() -> str:
    cpu = platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{platform.system()}, {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def arguments(prog: str, unit: str, default: int, *more_units: str) -> argparse.Namespace:
    """`--<unit> N` (and `--<more unit> N` each, default: the same N), `--seed S`."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument(f"--{unit}", type=int, default=default, help=f"how many {unit} to send")
    for more in more_units:
        parser.add_argument(f"--{more}", type=int, default=None, help=f"how many {more} to send")
    parser.add_argument("--seed", type=int, default=None, help="repeat a run (default: random)")
    return parser.parse_args()
