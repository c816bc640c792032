"""Marker labels (one row per rule) and where a segment's markers fall."""

from __future__ import annotations

import pytest

from codestream.contract import CONTRACT
from codestream.errors import Code, Refusal
from codestream.markers import JS_TRIM, parse_label, place_markers

LIMIT = CONTRACT.marker_chars


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("step 2: tests", "step 2: tests"),
        ("  step 2  ", "step 2"),
        ("\t\n\u00a0\u3000\ufeffsetup\u2028\u2029 ", "setup"),  # String.prototype.trim's set
        ("a  b", "a  b"),  # inner spaces stay
        ("x" * LIMIT, "x" * LIMIT),
        ("😀" * LIMIT, "😀" * LIMIT),  # code points, not UTF-16 units
        ("👩‍💻 pairing", "👩‍💻 pairing"),  # a zero-width joiner is fine
        ("שלב 2", "שלב 2"),  # right-to-left text is fine
        (" " * 50 + "x" * LIMIT + " " * 50, "x" * LIMIT),  # trimmed first, then counted
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),  # escaped where shown
    ],
)
def test_labels_accepted(raw: str, label: str) -> None:
    assert parse_label(raw) == label


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", Code.BAD_SCHEMA),
        ("   ", Code.BAD_SCHEMA),
        ("\ufeff\u3000", Code.BAD_SCHEMA),
        ("x" * (LIMIT + 1), Code.TOO_LARGE),
        ("😀" * (LIMIT + 1), Code.TOO_LARGE),
        ("a\nb", Code.BAD_SCHEMA),
        ("a\x00b", Code.BAD_SCHEMA),
        ("a\x7fb", Code.BAD_SCHEMA),
        ("a\x85b", Code.BAD_SCHEMA),  # C1 control
        ("a\u2028b", Code.BAD_SCHEMA),  # line separator inside
        ("a\u202eb", Code.BAD_SCHEMA),  # right-to-left override
        ("a\u2066b", Code.BAD_SCHEMA),  # isolate
        ("a\ud800b", Code.BAD_SCHEMA),  # lone surrogate
        (None, Code.BAD_SCHEMA),
        (3, Code.BAD_SCHEMA),
        (["step"], Code.BAD_SCHEMA),
        ({"label": "x"}, Code.BAD_SCHEMA),
    ],
)
def test_labels_refused(raw: object, code: Code) -> None:
    refused = parse_label(raw)
    assert isinstance(refused, Refusal)
    assert refused.code == code
    assert refused.message


def test_the_trim_set_is_javascripts() -> None:
    # ECMAScript WhiteSpace (incl. USP: every Zs) and LineTerminator; U+180E is Cf since 6.3
    import unicodedata

    zs = {chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Zs"}
    assert set(JS_TRIM) == zs | set("\t\v\f\ufeff") | set("\n\r\u2028\u2029")


@pytest.mark.parametrize(
    ("delta_dts", "markers", "expected"),
    [
        ([], [(0, "a")], [("a", 9, 100)]),  # a controls-only segment: the head before it
        ([0, 10, 20], [(5, "a")], [("a", 10, 105)]),
        ([0, 10, 20], [(10, "a")], [("a", 11, 110)]),  # same ms: the delta came first
        ([0, 10, 20], [(25, "a"), (25, "b")], [("a", 12, 125), ("b", 12, 125)]),
        ([5], [(0, "a"), (9, "b")], [("a", 9, 100), ("b", 10, 109)]),
    ],
)
def test_markers_label_the_version_at_their_time(
    delta_dts: list[int], markers: list[tuple[int, str]], expected: list[tuple[str, int, int]]
) -> None:
    placed = place_markers(10, 100, delta_dts, markers)
    assert [(m.label, m.v, m.t) for m in placed] == expected
