"""The conformance vectors in tests/vectors/, as both test suites read them.

A vector value `{"repeat": s, "times": "titleChars+1"}` stands for `s` repeated a number of
times taken from the contract's limits, so a vector follows the contract when a limit changes.
static_web/test/vectors.js reads the same files the same way.
"""

from __future__ import annotations

import json
import re
from typing import Any

from harness.processes import REPO_ROOT

VECTORS = REPO_ROOT / "tests" / "vectors"
_TIMES = re.compile(r"([A-Za-z]+)([+-]\d+)?")


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))
    return document


def expand(value: Any, limits: dict[str, int]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"repeat", "times"}:
            match = _TIMES.fullmatch(str(value["times"]))
            if match is None:
                raise ValueError(f"bad vector count {value['times']!r}")
            count = limits[match.group(1)] + int(match.group(2) or 0)
            return str(value["repeat"]) * count
        return {k: expand(v, limits) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, limits) for v in value]
    return value
