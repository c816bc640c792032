"""Resource schemas for exact (type, api-version) pairs, read from Azure's management SDKs.

Runs under .venv-infra's Python, where infra/requirements-check.txt pins the azure-mgmt-*
packages. Usage: arm_schemas.py TYPE@API_VERSION ... ; prints one JSON object:

    {"schemas": {"Microsoft.Web/sites@2024-04-01": {"root": MODEL, "source": "..."}},
     "models": {MODEL: {"fields": {wire name: FIELD}, "open": bool}},
     "missing": {"Microsoft.X/y@2020-01-01": "why no schema was found"}}

FIELD is {"type", "readonly", "required", "enum", "constraints"}; `type` is "str", "int",
"bool", "float", "object", a date/duration format, "[T]" (list of T), "{T}" (map of T) or a
MODEL key. MODEL keys are qualified ("azure.mgmt.web.v2024_04_01.models.Site"); flattened
properties (`"key": "properties.serverFarmId"` in the SDK) become nested synthetic models, so
the schema has the resource's wire shape, the shape a Bicep body has.

Which model is a resource type's body is not written down here: the SDK's own PUT operation
for that URL names it. Every `build_*_request` builder whose method is PUT and whose default
api-version is the wanted one gives a URL template; its provider path gives the resource type
(`.../providers/Microsoft.Web/sites/{name}/basicPublishingCredentialsPolicies/ftp` ->
`Microsoft.Web/sites/basicPublishingCredentialsPolicies`), and the operation that calls the
builder serializes its body as `self._serialize.body(x, "Model")`. So any resource of any
installed SDK is covered without a table.
"""

from __future__ import annotations

import enum
import importlib
import importlib.metadata
import inspect
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.mgmt

_VERSION_DIR = re.compile(r"v\d{4}_\d{2}_\d{2}\w*")
_TOP_LEVEL = re.compile(r"^(?=def |class |async def )", re.MULTILINE)
_METHOD = re.compile(r"^(?=    def |    async def )", re.MULTILINE)
_BUILDER_NAME = re.compile(r"def (build_\w+_request)\(")
_TEMPLATE_URL = re.compile(r'"template_url",\s*"([^"]+)"')
_API_VERSION = re.compile(r'_params\.pop\("api-version",\s*"([^"]+)"\)')
_PUT = re.compile(r'HttpRequest\(method="PUT"')
_CALLS_BUILDER = re.compile(r"\b(build_\w+_request)\(")
_BODY_MODEL = re.compile(r'self\._serialize\.body\(\s*\w+,\s*"(\w+)"')
_MODEL_REF = re.compile(r"_models\.(\w+)")
_UNESCAPED_DOT = re.compile(r"(?<!\\)\.")
# Date and time formats of msrest's serializer: JSON strings on the wire.
STRING_FORMATS = {"str", "iso-8601", "rfc-1123", "duration", "date", "time", "base64", "bytearray"}
SCALARS = STRING_FORMATS | {"int", "long", "float", "bool", "object", "unix-time", "decimal"}
CONSTRAINTS = (
    "maximum",
    "minimum",
    "max_length",
    "min_length",
    "pattern",
    "max_items",
    "min_items",
)


@dataclass(frozen=True)
class PutOperation:
    resource_type: str
    api_version: str
    models_module: str  # e.g. azure.mgmt.web.v2024_04_01.models
    model: str
    url: str


def resource_type_of(url: str) -> str | None:
    """ARM resource type of a PUT URL template, or None if it names no resource."""
    path = url.split("?")[0].strip("/")
    if "/providers/" not in f"/{path}":
        segments = path.split("/")
        kinds = [segments[0].lower(), segments[2].lower()] if len(segments) == 4 else []
        if kinds == ["subscriptions", "resourcegroups"]:
            return "Microsoft.Resources/resourceGroups"
        return None
    tail = path.rsplit("providers/", 1)[1].split("/")
    if len(tail) < 3 or len(tail) % 2 == 0:
        return None
    namespace, rest = tail[0], tail[1:]
    types = [rest[i] for i in range(0, len(rest), 2)]
    if any("{" in t for t in types):
        return None
    return "/".join([namespace, *types])


def _operations_dirs(api_version: str) -> list[Path]:
    wanted = "v" + api_version.replace("-", "_")
    found = []
    for root in azure.mgmt.__path__:
        for ops in Path(root).rglob("operations"):
            if not ops.is_dir() or "aio" in ops.parts:
                continue
            versioned = [p for p in ops.relative_to(root).parts if _VERSION_DIR.fullmatch(p)]
            if versioned and versioned[-1] != wanted:
                continue
            found.append(ops)
    return sorted(found)


def _module_name(path: Path) -> str:
    for root in azure.mgmt.__path__:
        if path.is_relative_to(root):
            relative = path.relative_to(root).with_suffix("")
            return ".".join(["azure", "mgmt", *relative.parts])
    raise ValueError(path)


def put_operations(api_version: str) -> list[PutOperation]:
    """Every PUT of every installed SDK for this api-version, with the model of its body."""
    found = []
    for ops in _operations_dirs(api_version):
        models_module = _module_name(ops.parent / "models")
        for source in sorted(ops.glob("_*operations.py")):
            text = source.read_text(encoding="utf-8")
            builders: dict[str, str] = {}
            chunks = _TOP_LEVEL.split(text)
            for chunk in chunks:
                name = _BUILDER_NAME.match(chunk)
                url = _TEMPLATE_URL.search(chunk)
                version = _API_VERSION.search(chunk)
                wanted = version is not None and version.group(1) == api_version
                if name and url and wanted and _PUT.search(chunk):
                    builders[name.group(1)] = url.group(1)
            if not builders:
                continue
            for chunk in chunks:
                if not chunk.startswith("class "):
                    continue
                for method in _METHOD.split(chunk):
                    body = _BODY_MODEL.search(method)
                    if body is None:
                        continue
                    for called in _CALLS_BUILDER.findall(method):
                        url = builders.get(called)
                        resource_type = resource_type_of(url) if url else None
                        if url and resource_type:
                            found.append(
                                PutOperation(
                                    resource_type, api_version, models_module, body.group(1), url
                                )
                            )
    return found


def _distribution(module: str) -> str:
    package = ".".join(module.split(".")[:3])
    for dist in importlib.metadata.distributions():
        top = (dist.read_text("top_level.txt") or "").split()
        files = [str(f) for f in (dist.files or [])]
        wanted = package.replace(".", "/") + "/__init__.py"
        if package in top or wanted in files:
            return f"{dist.metadata['Name']} {dist.version}"
    return package


class SchemaBuilder:
    """Turns msrest models (`_attribute_map`, `_validation`, `__init__` hints) into FIELDs."""

    def __init__(self) -> None:
        self.models: dict[str, dict[str, Any]] = {}

    def model(self, module: str, name: str) -> str:
        key = f"{module}.{name}"
        if key in self.models:
            return key
        self.models[key] = {"fields": {}, "open": False}  # placeholder: models may recurse
        cls = getattr(importlib.import_module(module), name)
        self._fill(key, module, cls)
        return key

    def _enums(self, module: str, cls: type) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        models = importlib.import_module(module)
        for pname, parameter in inspect.signature(cls.__init__).parameters.items():
            for ref in _MODEL_REF.findall(str(parameter.annotation)):
                candidate = getattr(models, ref, None)
                if isinstance(candidate, type) and issubclass(candidate, enum.Enum):
                    found[pname] = [str(member.value) for member in candidate]
        return found

    def _type(self, module: str, sdk_type: str) -> str:
        if sdk_type.startswith("[") and sdk_type.endswith("]"):
            return f"[{self._type(module, sdk_type[1:-1])}]"
        if sdk_type.startswith("{") and sdk_type.endswith("}"):
            return "{" + self._type(module, sdk_type[1:-1]) + "}"
        if sdk_type in SCALARS:
            return "str" if sdk_type in STRING_FORMATS else sdk_type
        models = importlib.import_module(module)
        candidate = getattr(models, sdk_type, None)
        if isinstance(candidate, type) and issubclass(candidate, enum.Enum):
            return "str"
        if isinstance(candidate, type):
            return self.model(module, sdk_type)
        return "object"  # an SDK type this reader does not know: accept any value

    def _fill(self, key: str, module: str, cls: type) -> None:
        attribute_map: dict[str, dict[str, str]] = getattr(cls, "_attribute_map", {})
        validation: dict[str, dict[str, Any]] = getattr(cls, "_validation", {})
        enums = self._enums(module, cls)
        root = self.models[key]
        for python_name, spec in attribute_map.items():
            wire_key = spec["key"]
            if wire_key == "":  # additional_properties: the object takes any other key
                root["open"] = True
                continue
            path = [p.replace("\\.", ".") for p in _UNESCAPED_DOT.split(wire_key)]
            rules = validation.get(python_name, {})
            node_key = key
            for part in path[:-1]:
                fields = self.models[node_key]["fields"]
                child = f"{node_key}#{part}"
                if part not in fields:
                    fields[part] = {
                        "type": child,
                        "readonly": False,
                        "required": False,
                        "enum": None,
                        "constraints": {},
                    }
                    self.models.setdefault(child, {"fields": {}, "open": False})
                if rules.get("required") and not rules.get("readonly"):
                    fields[part]["required"] = True
                node_key = fields[part]["type"]
            self.models[node_key]["fields"][path[-1]] = {
                "type": self._type(module, spec["type"]),
                "readonly": bool(rules.get("readonly")),
                "required": bool(rules.get("required")),
                "enum": enums.get(python_name),
                "constraints": {c: rules[c] for c in CONSTRAINTS if c in rules},
            }
        # a synthetic object is read-only when everything in it is
        for name, field in list(root["fields"].items()):
            child = self.models.get(field["type"], {})
            fields = child.get("fields") or {}
            if "#" in field["type"] and fields and all(f["readonly"] for f in fields.values()):
                root["fields"][name]["readonly"] = True


def schemas(wanted: list[str]) -> dict[str, Any]:
    builder = SchemaBuilder()
    out: dict[str, Any] = {"schemas": {}, "models": builder.models, "missing": {}}
    by_version: dict[str, list[PutOperation]] = {}
    for item in wanted:
        resource_type, _, api_version = item.partition("@")
        if api_version not in by_version:
            by_version[api_version] = put_operations(api_version)
        matches = {
            (op.models_module, op.model)
            for op in by_version[api_version]
            if op.resource_type.lower() == resource_type.lower()
        }
        if not matches:
            out["missing"][item] = (
                f"no pinned azure-mgmt-* SDK in infra/requirements-check.txt has a PUT for "
                f"{resource_type} at api-version {api_version}"
            )
            continue
        if len(matches) > 1:
            out["missing"][item] = f"ambiguous: the SDKs name several body models {sorted(matches)}"
            continue
        ((module, model),) = matches
        out["schemas"][item] = {
            "root": builder.model(module, model),
            "source": f"{_distribution(module)}: {module}.{model}",
        }
    return out


if __name__ == "__main__":
    json.dump(schemas(sys.argv[1:]), sys.stdout)
