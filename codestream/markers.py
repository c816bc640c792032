"""Marker labels, and where a segment's markers fall in the stream. Pure.

A marker is a named point in a stream ("step 2: tests"), dropped by the streamer. Live, it
travels in a `control` event; in storage, as a control of a segment. Both paths check the
label here, so a label the server forwards is always one it would store, and the other way
round.

Labels are trimmed with JavaScript's `String.prototype.trim` set of characters, so the
client's `label.trim()` and the server agree on what is left; lengths count Unicode code
points (JavaScript: `[...label].length`), as titles do.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from codestream.contract import CONTRACT, Contract
from codestream.errors import Code, Refusal

# ECMAScript WhiteSpace and LineTerminator: what String.prototype.trim removes
JS_TRIM = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
# Characters that would change how the rest of a timeline is drawn or read: controls, lone
# surrogates, line and paragraph separators, and the bidirectional embeddings, overrides and
# isolates that can make a label display as something else.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def parse_label(value: object, c: Contract = CONTRACT) -> str | Refusal:
    """The trimmed label, or why it is refused (bad_schema, or too_large over the limit)."""
    if not isinstance(value, str):
        return Refusal(Code.BAD_SCHEMA, "marker must be a string (its label)")
    label = value.strip(JS_TRIM)
    if not label:
        return Refusal(Code.BAD_SCHEMA, "marker label is empty")
    if len(label) > c.marker_chars:
        return Refusal(Code.TOO_LARGE, f"marker label is over {c.marker_chars} characters")
    for ch in label:
        if ch in _BIDI_CONTROLS or unicodedata.category(ch) in _REFUSED_CATEGORIES:
            return Refusal(
                Code.BAD_SCHEMA,
                f"marker label holds U+{ord(ch):04X}: no control, separator or bidi characters",
            )
    return label


@dataclass(frozen=True)
class PlacedMarker:
    label: str
    v: int  # the version of the document the marker labels
    t: int  # streamer's ms time


def place_markers(
    from_v: int, t0: int, delta_dts: list[int], markers: list[tuple[int, str]]
) -> tuple[PlacedMarker, ...]:
    """Each marker `(dt, label)` of a segment whose deltas happened at `delta_dts` (ms after
    `t0`, never decreasing), at the version it labels: the document after every delta made
    at or before the marker's time. A delta and a marker at the same millisecond: the delta
    counts as before (a segment does not order them otherwise)."""
    placed = []
    done = 0
    for dt, label in markers:
        while done < len(delta_dts) and delta_dts[done] <= dt:
            done += 1
        placed.append(PlacedMarker(label, from_v - 1 + done, t0 + dt))
    return tuple(placed)
