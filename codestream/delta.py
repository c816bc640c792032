"""Delta application with the client's exact semantics, for the server side of the protocol.

A change `[from, to, insert]` replaces `[from, to)` of the document as left by the previous
change, with offsets in UTF-16 code units (JavaScript string indices). Python strings count
code points, so the document is handled as UTF-16 code units here: a change may even split a
surrogate pair, as it may in the browser. `static_web/src/core/delta.js` is the other half;
tests/vectors/deltas.json holds the cases both must agree on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_UTF16 = "utf-16-le"


class DeltaError(ValueError):
    """A change list that cannot apply: malformed, or offsets outside the document."""


def utf16_length(text: str) -> int:
    return len(text.encode(_UTF16, "surrogatepass")) // 2


def _offset(value: Any) -> int | None:
    """What JavaScript's Number.isInteger accepts: JSON's 3 and 3.0 alike, never true."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None


def check_changes(length: int, changes: Any) -> int:
    """The document length after `changes`, or DeltaError; needs only the length, not the text."""
    if not isinstance(changes, list):
        raise DeltaError("changes must be an array")
    for change in changes:
        if not isinstance(change, list) or len(change) != 3:
            raise DeltaError("a change is [from, to, insert]")
        start, end, insert = _offset(change[0]), _offset(change[1]), change[2]
        if start is None or end is None or not isinstance(insert, str):
            raise DeltaError("a change is [int, int, string]")
        # the editor stores line breaks as "\n" only; a "\r" would shift every later offset
        if "\r" in insert:
            raise DeltaError("a change inserts a \\r; line breaks are \\n")
        if start < 0 or end < start or end > length:
            raise DeltaError(f"change [{start}, {end}] outside document of length {length}")
        length += utf16_length(insert) - (end - start)
    return length


_UNBOUNDED = 2**62


def check_shape(changes: Any) -> None:
    """DeltaError unless `changes` is a well-formed change list; for a document whose length is
    not known here (a catchup is checked by the watcher that has the document)."""
    check_changes(_UNBOUNDED, changes)


def apply_changes(doc: str, changes: Sequence[Any]) -> str:
    """Apply `changes` in order; on DeltaError nothing is applied."""
    check_changes(utf16_length(doc), changes)
    units = doc.encode(_UTF16, "surrogatepass")
    for start, end, insert in changes:
        a, b = 2 * int(start), 2 * int(end)
        units = units[:a] + insert.encode(_UTF16, "surrogatepass") + units[b:]
    return units.decode(_UTF16, "surrogatepass")
