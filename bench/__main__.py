"""`python -m bench [name ...]`: every benchmark (or the named ones), each with its defaults.

Each writes its own bench/results-<name>.md; pass options to one benchmark by running it
directly (`python -m bench.fanout --help`).
"""

from __future__ import annotations

import importlib
import sys

# Add a benchmark by listing its module here: it must offer `main(argv) -> int`.
BENCHMARKS = ("bench.fanout", "bench.invocations")


def main(argv: list[str]) -> int:
    chosen = [f"bench.{name}" for name in argv] or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {BENCHMARKS}", file=sys.stderr)
        return 2
    failed = []
    for name in chosen:
        print(f"== {name}", flush=True)
        if importlib.import_module(name).main([]) != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
