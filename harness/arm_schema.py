"""Check Bicep resource bodies against the resource schemas tools/arm_schemas.py reads from
Azure's management SDKs: unknown or misspelt properties, wrong types, values outside an
enum or a range, read-only properties, missing required ones.

Pure: it takes the parsed templates (harness.bicep) and the schema JSON and returns findings.
Values are followed to what they can be: a literal, a parameter (its declared type and its
`@allowed` / `@minValue` / `@maxValue` / `@minLength` / `@maxLength`), a variable (its value),
both branches of `?:`; anything else (function calls, outputs of other resources,
interpolated strings) is taken as unknown and not judged.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from harness.bicep import Resource, Template, Templates

# Keys of a Bicep resource body that are Bicep's, not the resource type's.
BICEP_KEYS = {"name", "parent", "scope", "dependsOn"}
EXISTING_KEYS = {"name", "parent", "scope"}
_BICEP_TYPES = {"string": "str", "int": "int", "bool": "bool", "object": "object", "array": "list"}
_SCALAR_OK = {
    "str": {"str"},
    "int": {"int"},
    "long": {"int"},
    "float": {"int", "float"},
    "bool": {"bool"},
    "unix-time": {"int"},
    "decimal": {"int", "float"},
}


@dataclass(frozen=True)
class Finding:
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


@dataclass(frozen=True)
class Unknown:
    """A value the template computes at deployment time."""


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # str, int, bool, object, list
    allowed: tuple[Any, ...] | None
    minimum: int | None
    maximum: int | None
    min_length: int | None
    max_length: int | None


@dataclass(frozen=True)
class Loop:
    item: Any


def _is_expression(value: dict[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)) in ("operator", "function")


def _kind_of_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list | Loop):
        return "list"
    return "object"


class Resolver:
    """What a pycep expression of one template can evaluate to."""

    def __init__(self, template: Template) -> None:
        self.template = template

    def param(self, name: str) -> Param:
        decorators = self.template.decorators(name)
        allowed = decorators.get("allowed")
        return Param(
            name=name,
            kind=_BICEP_TYPES.get(self.template.params[name].get("type", ""), "object"),
            allowed=tuple(allowed) if allowed is not None else None,
            minimum=decorators.get("min_value"),
            maximum=decorators.get("max_value"),
            min_length=decorators.get("min_length"),
            max_length=decorators.get("max_length"),
        )

    def values(self, expr: Any, depth: int = 0) -> list[Any]:
        """Every concrete form `expr` may take: literals, Param, Loop, dict, list or Unknown."""
        if depth > 20:
            return [Unknown()]
        if isinstance(expr, str):
            if self.template.is_reference(expr):
                if expr in self.template.params:
                    return [self.param(expr)]
                if expr in self.template.variables:
                    return self.values(self.template.var(expr), depth + 1)
                return [Unknown()]
            return [Unknown()] if "${" in expr else [expr]
        if isinstance(expr, dict):
            if "loop_type" in expr and "config" in expr:
                return [Loop(expr["config"])]
            if _is_expression(expr):
                operator = expr.get("operator")
                if operator and operator["type"] == "conditional":
                    ops = operator["operands"]
                    return self.values(ops["true_value"], depth + 1) + self.values(
                        ops["false_value"], depth + 1
                    )
                return [Unknown()]
        return [expr]


class SchemaCheck:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.schemas: dict[str, dict[str, str]] = schema["schemas"]
        self.models: dict[str, dict[str, Any]] = schema["models"]
        self.missing: dict[str, str] = schema["missing"]

    # -------------------------------------------------------------- entry points

    def check(self, templates: Templates) -> list[Finding]:
        findings: list[Finding] = []
        for template, resource in templates.all_resources():
            findings += self.check_resource(template, resource)
        return findings

    def check_resource(self, template: Template, resource: Resource) -> list[Finding]:
        where = f"{template.path}:{resource.symbol} ({resource.type}@{resource.api_version})"
        key = f"{resource.type}@{resource.api_version}"
        if resource.existing:
            extra = set(resource.body) - EXISTING_KEYS
            problems = [
                f"an `existing` resource takes only {sorted(EXISTING_KEYS)}: {sorted(extra)}"
            ]
            return [Finding(where, problems[0])] if extra else []
        if key not in self.schemas:
            reason = self.missing.get(key, "no schema was asked for")
            return [Finding(where, f"cannot be checked: {reason}")]
        findings: list[Finding] = []
        self._object(
            Resolver(template), self.schemas[key]["root"], resource.body, where, "", findings, True
        )
        return findings

    # -------------------------------------------------------------- walking

    def _object(
        self,
        resolver: Resolver,
        model_key: str,
        body: dict[str, Any],
        where: str,
        path: str,
        findings: list[Finding],
        envelope: bool = False,
    ) -> None:
        model = self.models[model_key]
        fields: dict[str, dict[str, Any]] = model["fields"]
        present = set()
        for raw_key, value in body.items():
            name = raw_key.strip("'")
            present.add(name)
            at = f"{path}.{name}" if path else name
            if envelope and name in BICEP_KEYS:
                continue
            field = fields.get(name)
            if field is None:
                if not model["open"]:
                    findings.append(Finding(where, self._unknown(name, at, fields)))
                continue
            if field["readonly"]:
                findings.append(Finding(where, f"{at} is read-only in the schema"))
                continue
            for form in resolver.values(value):
                self._value(resolver, field, form, where, at, findings)
        for name, field in fields.items():
            wanted = field["required"] and not field["readonly"] and name not in present
            if wanted and not (envelope and name in BICEP_KEYS):
                at = f"{path}.{name}" if path else name
                findings.append(Finding(where, f"{at} is required by the schema"))

    @staticmethod
    def _unknown(name: str, at: str, fields: dict[str, Any]) -> str:
        same_case = [f for f in fields if f.lower() == name.lower()]
        if same_case:
            return f"{at} is not in the schema; its property is spelt {same_case[0]!r}"
        close = difflib.get_close_matches(name, list(fields), n=3, cutoff=0.7)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        return f"{at} is not a property of this resource type at this api-version{hint}"

    def _value(
        self,
        resolver: Resolver,
        field: dict[str, Any],
        form: Any,
        where: str,
        at: str,
        findings: list[Finding],
    ) -> None:
        sdk_type: str = field["type"]
        if isinstance(form, Unknown) or form is None or sdk_type == "object":
            return
        if isinstance(form, Param):
            self._param(resolver, field, form, where, at, findings)
            return
        kind = _kind_of_literal(form)
        if sdk_type.startswith("["):
            if kind != "list":
                findings.append(Finding(where, f"{at} must be a list, got {kind} {form!r}"))
                return
            item = {**field, "type": sdk_type[1:-1], "enum": None, "constraints": {}}
            if isinstance(form, Loop):
                for inner in resolver.values(form.item):
                    self._value(resolver, item, inner, where, f"{at}[]", findings)
                return
            self._length(field, len(form), where, at, findings, "items")
            for index, entry in enumerate(form):
                for inner in resolver.values(entry):
                    self._value(resolver, item, inner, where, f"{at}[{index}]", findings)
            return
        if sdk_type.startswith("{"):
            if kind != "object":
                findings.append(Finding(where, f"{at} must be an object, got {kind} {form!r}"))
                return
            item = {**field, "type": sdk_type[1:-1], "enum": None, "constraints": {}}
            for key, entry in form.items():
                for inner in resolver.values(entry):
                    self._value(
                        resolver, item, inner, where, f"{at}.{key.strip(chr(39))}", findings
                    )
            return
        if sdk_type in self.models:
            if kind != "object":
                findings.append(Finding(where, f"{at} must be an object, got {kind} {form!r}"))
                return
            self._object(resolver, sdk_type, form, where, at, findings)
            return
        if kind not in _SCALAR_OK.get(sdk_type, {sdk_type}):
            findings.append(Finding(where, f"{at} must be {sdk_type}, got {kind} {form!r}"))
            return
        self._scalar(field, form, where, at, findings)

    def _scalar(
        self, field: dict[str, Any], value: Any, where: str, at: str, findings: list[Finding]
    ) -> None:
        enum = field["enum"]
        if enum and isinstance(value, str) and value.lower() not in {e.lower() for e in enum}:
            findings.append(Finding(where, f"{at} = {value!r} is not one of {enum}"))
        rules = field["constraints"]
        if isinstance(value, int | float) and not isinstance(value, bool):
            if "minimum" in rules and value < rules["minimum"]:
                findings.append(Finding(where, f"{at} = {value} is below {rules['minimum']}"))
            if "maximum" in rules and value > rules["maximum"]:
                findings.append(Finding(where, f"{at} = {value} is above {rules['maximum']}"))
        if isinstance(value, str):
            self._length(field, len(value), where, at, findings, "length")
            pattern = rules.get("pattern")
            if pattern and not re.search(pattern, value):
                findings.append(Finding(where, f"{at} = {value!r} does not match {pattern!r}"))

    @staticmethod
    def _length(
        field: dict[str, Any], size: int, where: str, at: str, findings: list[Finding], what: str
    ) -> None:
        rules = field["constraints"]
        low, high = ("min_items", "max_items") if what == "items" else ("min_length", "max_length")
        if low in rules and size < rules[low]:
            findings.append(Finding(where, f"{at}: {what} {size} is below {rules[low]}"))
        if high in rules and size > rules[high]:
            findings.append(Finding(where, f"{at}: {what} {size} is above {rules[high]}"))

    def _param(
        self,
        resolver: Resolver,
        field: dict[str, Any],
        param: Param,
        where: str,
        at: str,
        findings: list[Finding],
    ) -> None:
        sdk_type: str = field["type"]
        wanted = (
            "list"
            if sdk_type.startswith("[")
            else "object"
            if sdk_type.startswith("{") or sdk_type in self.models
            else None
        )
        accepted = {wanted} if wanted else _SCALAR_OK.get(sdk_type, {sdk_type})
        if param.kind != "object" and param.kind not in accepted:
            findings.append(
                Finding(
                    where, f"{at} must be {sdk_type}, got the {param.kind} parameter {param.name}"
                )
            )
            return
        shown = f"{at} (parameter {param.name})"
        for value in param.allowed or ():
            self._value(resolver, field, value, where, f"{shown} @allowed", findings)
        rules = field["constraints"]
        if param.allowed is None and param.kind == "int":
            if "minimum" in rules and (param.minimum is None or param.minimum < rules["minimum"]):
                findings.append(Finding(where, f"{shown} needs @minValue({rules['minimum']})"))
            if "maximum" in rules and (param.maximum is None or param.maximum > rules["maximum"]):
                findings.append(Finding(where, f"{shown} needs @maxValue({rules['maximum']})"))
        if param.allowed is None and param.kind == "str":
            if field["enum"]:
                findings.append(
                    Finding(
                        where, f"{shown} takes any string; the schema allows only {field['enum']}"
                    )
                )
            if "max_length" in rules and (
                param.max_length is None or param.max_length > rules["max_length"]
            ):
                findings.append(Finding(where, f"{shown} needs @maxLength({rules['max_length']})"))


def wanted_schemas(templates: Templates) -> list[str]:
    """Every `type@api-version` a template declares (existing ones need no schema)."""
    return sorted(
        {f"{r.type}@{r.api_version}" for _t, r in templates.all_resources() if not r.existing}
    )
