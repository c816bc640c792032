"""Every Bicep file parses, and the parser really rejects broken Bicep (the CLI is not here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from harness.bicep import REPO_ROOT, Templates, run_dump

pytestmark = pytest.mark.infra


def bicep_files() -> set[str]:
    return {p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "infra").rglob("*.bicep")}


def test_every_bicep_file_parses(dump: dict[str, Any]) -> None:
    assert dump["errors"] == {}
    assert set(dump["bicep"]) == bicep_files()
    assert "infra/main.bicep" in dump["bicep"]


BROKEN = {
    "unclosed.bicep": (
        "param n string\nresource s 'Microsoft.Web/sites@2024-04-01' = {\n",
        "tree-sitter",
    ),
    "bad_loop.bicep": ("param n string\nvar x = [for i in range(0, 2) { }]\n", "tree-sitter"),
    "bad_function.bicep": ("param n string\nvar x = sys.noSuchFunction(1)\n", "pycep"),
}


def test_parsers_reject_broken_bicep(tmp_path: Path) -> None:
    paths = []
    for name, (source, _) in BROKEN.items():
        paths.append(tmp_path / name)
        paths[-1].write_text(source)
    out = run_dump(*paths)
    assert out["bicep"] == {}
    for path in paths:
        assert out["errors"][str(path)].startswith(BROKEN[path.name][1]), out["errors"]


def test_no_nested_child_resources(templates: Templates) -> None:
    # pycep keeps only the last of several nested children (checkov would not see the rest),
    # so children are declared at top level with `parent:`.
    nested = [f"{t.path}:{r.symbol}" for t, r in templates.all_resources() if "__" in r.symbol]
    assert nested == []


def test_every_module_exists_and_gets_exactly_its_params(templates: Templates) -> None:
    checked = 0
    for owner in list(templates.by_path.values()):
        for symbol, module in owner.modules.items():
            assert module["type"] == "local", f"{owner.path}:{symbol} must be a local module"
            target = templates.module_template(owner, symbol)
            passed = set(module["config"]["params"])
            required = {name for name in target.params if target.param_default(name) is None}
            assert passed <= set(target.params), f"{symbol}: unknown {passed - set(target.params)}"
            assert required <= passed, f"{symbol}: missing {required - passed}"
            checked += 1
    assert checked >= 9


def test_every_referenced_module_output_exists(templates: Templates) -> None:
    main = templates.main
    values = [v for symbol in main.modules for v in templates.module_params(main, symbol).values()]
    text = " ".join(values + [main.output(name) for name in main.outputs])
    for symbol in main.modules:
        target = templates.module_template(main, symbol)
        for used in set(re.findall(rf"\b{symbol}\.outputs\.(\w+)", text)):
            assert used in target.outputs, f"{symbol}.outputs.{used} is not declared"
