"""`python -m bench [name ...]` (what `make bench` runs): every benchmark, or the named ones.

`compare` writes bench/results.md (CodeStream vs the original sample's design); the others
write bench/results-<name>.md. Pass options to one benchmark by running it directly
(`python -m bench.compare --help`). The whole run is meant to stay under 20 minutes on a
2-core machine, 8 of them `replay`'s, whose hour of uploads the server's upload bucket paces
(2/s); the time each benchmark took is printed at the end.
"""

from __future__ import annotations

import importlib
import sys
import time

# name -> arguments `make bench` gives it; each module offers `main(argv) -> int`
BENCHMARKS: dict[str, list[str]] = {
    "compare": [],
    "fanout": [],
    "invocations": ["--seconds", "20"],
    # one hour of typing; its ~900 uploads are paced by the server's upload bucket (2/s)
    "replay": [],
}
BUDGET_S = 1200


def main(argv: list[str]) -> int:
    chosen = argv or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; known: {list(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    started = time.monotonic()
    failed, took = [], []
    for name in chosen:
        print(f"== bench.{name}", flush=True)
        t0 = time.monotonic()
        if importlib.import_module(f"bench.{name}").main(BENCHMARKS[name]) != 0:
            failed.append(name)
        took.append(f"{name} {time.monotonic() - t0:.0f} s")
    total = time.monotonic() - started
    print(f"== done in {total:.0f} s ({', '.join(took)})")
    if total > BUDGET_S:
        print(f"over the {BUDGET_S} s budget", file=sys.stderr)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
