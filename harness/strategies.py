"""Hypothesis strategies shared by the property tests: valid inputs and hostile ones."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from codestream.ids import STREAM_ID_PATTERN

stream_ids = st.from_regex(STREAM_ID_PATTERN, fullmatch=True)
epochs = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
versions = st.integers(0, 2**53 - 1)
connection_ids = st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True)

plain_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
# lone surrogates: valid JSON escapes ("\\ud800", what JavaScript's JSON.stringify writes for
# them), yet not encodable as UTF-8
lone_surrogates = st.text(
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3
)
scalars = plain_scalars | lone_surrogates


def _tree(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner),
        max_leaves=20,
    )


json_values = _tree(scalars)
plain_json_values = _tree(plain_scalars)  # what UTF-8 can carry as it is


def nested(depth: int, opener: str = "[") -> str:
    """JSON nested `depth` levels deep: valid JSON that a recursive decoder chokes on."""
    closer = {"[": "]", "{": "}"}[opener]
    if opener == "{":
        return '{"a":' * depth + "1" + closer * depth
    return opener * depth + closer * depth


deep_json = st.integers(900, 20_000).map(nested) | st.integers(900, 5000).map(
    lambda d: nested(d, "{")
)


def dump(value: Any) -> bytes:
    return json.dumps(value).encode()


def mutate(
    base: dict[str, Any], keys: list[str], values: st.SearchStrategy[Any] | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """`base` with one of `keys` replaced by any JSON value, deleted, or a key added."""

    def replace(key: str, value: Any) -> dict[str, Any]:
        return {**base, key: value}

    def delete(key: str) -> dict[str, Any]:
        return {k: v for k, v in base.items() if k != key}

    def extra(key: str, value: Any) -> dict[str, Any]:
        return {**base, key: value}

    values = json_values if values is None else values
    return (
        st.builds(replace, st.sampled_from(keys), values)
        | st.builds(delete, st.sampled_from(keys))
        | st.builds(extra, st.text(min_size=1, max_size=10), values)
    )


# bodies as an attacker sends them: raw bytes, JSON of any shape, deep nesting, mutations
def hostile_bodies(*valid: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[bytes]:
    options: list[st.SearchStrategy[bytes]] = [
        st.binary(max_size=300),
        json_values.map(dump),
        deep_json.map(str.encode),
        st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
    ]
    options += [v.map(dump) for v in valid]
    return st.one_of(*options)
