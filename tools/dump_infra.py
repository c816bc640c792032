"""Parse the deployment files with the checkers' own parsers and print them as one JSON object.

Runs under .venv-infra's Python (pycep, tree-sitter-bicep and PyYAML live there, away from the
app's venv); the tests run it once and assert on its output.
Usage: dump_infra.py REPO_ROOT [FILE.bicep ...] (with files: only those, else all of infra/)

Every Bicep file goes through two independent grammars: pycep (checkov's parser, whose JSON
the structural tests read) and tree-sitter-bicep (a newer grammar, closer to today's Bicep).
Output: {"bicep": {relative path: pycep's JSON}, "errors": {relative path: message},
"yaml": {relative path: document}}. A file either grammar rejects is listed under "errors"
and nowhere else, so no check can pass on a template that was never read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import tree_sitter_bicep
import yaml
from pycep import BicepParser
from tree_sitter import Language, Node, Parser

YAML_FILES = ("azure.yaml", "infra/checkov.yaml")
WORKFLOWS = ".github/workflows"


def syntax_errors(node: Node) -> list[str]:
    """Where tree-sitter found an error or had to invent a missing token."""
    found = []
    if node.type == "ERROR" or node.is_missing:
        row, column = node.start_point
        found.append(f"line {row + 1}, column {column + 1}: {node.type}")
    for child in node.children:
        found += syntax_errors(child)
    return found


def main(root: Path, extra: list[Path]) -> dict[str, dict[str, object]]:
    parser = BicepParser()
    tree_sitter = Parser(Language(tree_sitter_bicep.language()))
    out: dict[str, dict[str, object]] = {"bicep": {}, "errors": {}, "yaml": {}}
    files = extra or sorted((root / "infra").rglob("*.bicep"))
    for path in files:
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        source = path.read_bytes()
        tree = tree_sitter.parse(source)
        if tree.root_node.has_error:
            out["errors"][name] = "tree-sitter-bicep: " + "; ".join(syntax_errors(tree.root_node))
            continue
        try:
            out["bicep"][name] = parser.parse(text=source.decode("utf-8"))
        except Exception as error:  # any parser failure is a finding
            first_line = str(error).splitlines()[0] if str(error) else ""
            out["errors"][name] = f"pycep: {type(error).__name__}: {first_line}"
    if extra:
        return out
    workflows = sorted((root / WORKFLOWS).glob("*.yml")) if (root / WORKFLOWS).is_dir() else []
    for path in [root / name for name in YAML_FILES] + workflows:
        if path.exists():
            text = path.read_text(encoding="utf-8")
            # BaseLoader keeps every scalar a string (a GitHub `on:` key stays "on").
            out["yaml"][path.relative_to(root).as_posix()] = yaml.load(text, yaml.BaseLoader)  # noqa: S506
    return out


if __name__ == "__main__":
    repo = Path(sys.argv[1]).resolve()
    json.dump(main(repo, [Path(p).resolve() for p in sys.argv[2:]]), sys.stdout)
