"""Field checks every request body shares (user events, uploads): one wording, one rule.

Each returns the checked value or the `Refusal` to answer with, so parsers read as a list of
checks; nothing here does I/O.
"""

from __future__ import annotations

from typing import Any

from codestream.contract import Contract
from codestream.errors import Code, Refusal
from codestream.http import parse_json


def json_object(body: bytes, max_bytes: int, what: str = "body") -> dict[str, Any] | Refusal:
    if len(body) > max_bytes:
        return Refusal(Code.TOO_LARGE, f"{what} is {len(body)} bytes; the limit is {max_bytes}")
    try:
        value = parse_json(body)
    except ValueError:
        return Refusal(Code.BAD_JSON, f"{what} is not valid UTF-8 JSON")
    if not isinstance(value, dict):
        return Refusal(Code.BAD_SCHEMA, f"{what} must be a JSON object")
    return value


def unknown_keys(value: dict[str, Any], allowed: set[str]) -> Refusal | None:
    extra = sorted(set(value) - allowed)
    if extra:
        return Refusal(Code.BAD_SCHEMA, f"unknown field(s): {', '.join(extra)}")
    return None


def missing_keys(value: dict[str, Any], required: set[str]) -> Refusal | None:
    missing = sorted(required - set(value))
    if missing:
        return Refusal(Code.BAD_SCHEMA, f"missing field(s): {', '.join(missing)}")
    return None


def exact_keys(value: dict[str, Any], required: set[str], optional: set[str]) -> Refusal | None:
    return unknown_keys(value, required | optional) or missing_keys(value, required)


def version(value: Any, name: str, c: Contract) -> int | Refusal:
    """An integer JavaScript holds exactly (0 to 2^53-1): versions, times, offsets."""
    if type(value) is not int or not 0 <= value <= c.max_version:
        return Refusal(Code.BAD_SCHEMA, f"{name} must be an integer from 0 to 2^53-1")
    return value


def epoch(value: Any, name: str, c: Contract) -> str | Refusal:
    if not isinstance(value, str) or not c.epoch.fullmatch(value):
        return Refusal(Code.BAD_SCHEMA, f"{name} must be 1-64 characters of [A-Za-z0-9_-]")
    return value


def lang(value: Any, c: Contract) -> str | Refusal:
    if not isinstance(value, str) or not c.lang.fullmatch(value):
        return Refusal(Code.BAD_SCHEMA, "lang must be up to 40 characters of [A-Za-z0-9+#._-]")
    return value


def title(value: Any, c: Contract) -> str | Refusal:
    if not isinstance(value, str):
        return Refusal(Code.BAD_SCHEMA, "title must be a string")
    if len(value) > c.title_chars:
        return Refusal(Code.TOO_LARGE, f"title is over {c.title_chars} characters")
    return value
