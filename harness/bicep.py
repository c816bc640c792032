"""Read pycep's JSON form of Bicep templates: symbols, resources, and expressions as text.

pycep drops the quotes of string literals, so a bare string is a literal unless it names a
symbol of its template (`is_reference`). `render` turns any expression back into Bicep-like
text, so tests compare readable strings such as `identity.outputs.clientId`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
_VENV_PYTHON = "Scripts/python.exe" if os.name == "nt" else "bin/python"
INFRA_PYTHON = REPO_ROOT / ".venv-infra" / _VENV_PYTHON
MAIN = "infra/main.bicep"

_BINARY = {
    "equals": "==",
    "not_equals": "!=",
    "and": "&&",
    "or": "||",
    "coalesce": "??",
    "add": "+",
    "greater_than": ">",
    "less_than": "<",
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def render(expr: Any) -> str:
    """Bicep-like source text of a pycep expression."""
    if expr is None:
        return "null"
    if isinstance(expr, bool):
        return "true" if expr else "false"
    if isinstance(expr, int | str):
        return str(expr)
    if isinstance(expr, list):
        return "[" + ", ".join(render(item) for item in expr) + "]"
    if "operator" in expr:
        kind, ops = expr["operator"]["type"], expr["operator"]["operands"]
        if kind == "property_accessor":
            return f"{render(ops['operand_1'])}.{render(ops['operand_2'])}"
        if kind == "conditional":
            return (
                f"{render(ops['condition'])} ? {render(ops['true_value'])}"
                f" : {render(ops['false_value'])}"
            )
        if kind == "not":
            return "!" + render(ops["bool_value"])
        if kind in _BINARY:
            return f"{render(ops['operand_1'])} {_BINARY[kind]} {render(ops['operand_2'])}"
        return f"{kind}(" + ", ".join(render(v) for v in ops.values()) + ")"
    if "function" in expr:
        function = expr["function"]
        args = [render(v) for v in (function.get("parameters") or {}).values() if v is not None]
        text = f"{_camel(function['type'])}({', '.join(args)})"
        # pycep keeps `.prop` after a call as the repr of lark tokens: Token('STRING', 'prop')
        props = str(function.get("property_name") or "")
        for prop in re.findall(r"Token\('\w+', '(\w+)'\)", props):
            text += f".{prop}"
        return text
    return "{" + ", ".join(f"{key}: {render(value)}" for key, value in expr.items()) + "}"


@dataclass(frozen=True)
class Resource:
    symbol: str
    type: str
    api_version: str
    existing: bool
    condition: Any
    body: dict[str, Any]

    def get(self, dotted: str) -> Any:
        """A nested property by path, e.g. `properties.siteConfig.cors`; KeyError if absent."""
        node: Any = self.body
        for part in dotted.split("."):
            node = node[part]
        return node


class Template:
    def __init__(self, path: str, parsed: dict[str, Any]) -> None:
        self.path = path
        self.parsed = parsed
        self.params: dict[str, Any] = parsed.get("parameters", {})
        self.variables: dict[str, Any] = parsed.get("variables", {})
        self.outputs: dict[str, Any] = parsed.get("outputs", {})
        self.modules: dict[str, Any] = parsed.get("modules", {})
        self.resources: dict[str, Resource] = {}
        for symbol, raw in parsed.get("resources", {}).items():
            config = raw["config"]
            condition = None
            if "condition" in config and "config" in config:  # `= if (...) {...}`
                condition, config = config["condition"], config["config"]
            self.resources[symbol] = Resource(
                symbol, raw["type"], raw["api_version"], raw["existing"], condition, config
            )

    def symbols(self) -> set[str]:
        return set(self.params) | set(self.variables) | set(self.resources) | set(self.modules)

    def is_reference(self, value: Any) -> bool:
        """A bare identifier naming a param, var, resource or module of this template."""
        return isinstance(value, str) and value in self.symbols()

    def of_type(self, resource_type: str, *, existing: bool = False) -> list[Resource]:
        return [
            r for r in self.resources.values() if r.type == resource_type and r.existing == existing
        ]

    def one(self, resource_type: str) -> Resource:
        found = self.of_type(resource_type)
        assert len(found) == 1, f"{self.path}: expected one {resource_type}, found {len(found)}"
        return found[0]

    def param_default(self, name: str) -> Any:
        return self.params[name].get("default")

    def decorators(self, name: str) -> dict[str, Any]:
        return {d["type"]: d.get("argument") for d in self.params[name]["decorators"]}

    def output(self, name: str) -> str:
        return render(self.outputs[name]["value"])

    def var(self, name: str) -> Any:
        return self.variables[name]["value"]


class Templates:
    def __init__(self, parsed: dict[str, dict[str, Any]]) -> None:
        self.by_path = {path: Template(path, body) for path, body in parsed.items()}

    def __getitem__(self, path: str) -> Template:
        return self.by_path[path]

    @property
    def main(self) -> Template:
        return self.by_path[MAIN]

    def module_template(self, owner: Template, symbol: str) -> Template:
        """The template a `module` of `owner` points at (local paths only)."""
        path = owner.modules[symbol]["detail"]["path"]
        full = PurePosixPath(owner.path).parent / path
        return self.by_path[full.as_posix()]

    def module_params(self, owner: Template, symbol: str) -> dict[str, str]:
        """What `owner` passes to a module, each value rendered as text."""
        return {k: render(v) for k, v in owner.modules[symbol]["config"]["params"].items()}

    def all_resources(self) -> list[tuple[Template, Resource]]:
        return [(t, r) for t in self.by_path.values() for r in t.resources.values()]


DUMP_SCRIPT = REPO_ROOT / "tools" / "dump_infra.py"
DUMP_TIMEOUT_S = 120


def run_dump(*extra: Path) -> dict[str, Any]:
    """Parse every infra file under .venv-infra's Python (pycep, PyYAML)."""
    if not INFRA_PYTHON.exists():
        raise RuntimeError(f"{INFRA_PYTHON} is missing: run `make infra-tools` (or `make test`)")
    done = subprocess.run(
        [str(INFRA_PYTHON), str(DUMP_SCRIPT), str(REPO_ROOT), *map(str, extra)],
        capture_output=True,
        text=True,
        timeout=DUMP_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"dump_infra.py failed:\n{done.stderr}")
    return json.loads(done.stdout)


SCHEMA_SCRIPT = REPO_ROOT / "tools" / "arm_schemas.py"


def run_arm_schemas(wanted: list[str]) -> dict[str, Any]:
    """Resource schemas for `type@api-version` pairs, from the SDKs pinned in .venv-infra."""
    if not INFRA_PYTHON.exists():
        raise RuntimeError(f"{INFRA_PYTHON} is missing: run `make infra-tools` (or `make test`)")
    done = subprocess.run(
        [str(INFRA_PYTHON), str(SCHEMA_SCRIPT), *wanted],
        capture_output=True,
        text=True,
        timeout=DUMP_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"arm_schemas.py failed:\n{done.stderr}")
    return json.loads(done.stdout)
