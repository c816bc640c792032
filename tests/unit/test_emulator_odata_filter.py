"""The OData filter of the send APIs: the reference's own examples, precedence and refusals."""

from __future__ import annotations

import pytest

from emulator.odata_filter import FilterError, Subject, parse

USER = Subject("conn-123", "user-ab-de", frozenset({"group1", "group2"}))
ANON = Subject("conn-456", None, frozenset())
SPACED = Subject("c", " user1 ", frozenset({"group1"}))
QUOTED = Subject("c", "user'1", frozenset())


@pytest.mark.parametrize(
    ("text", "user", "anon"),
    [
        # the reference's operator table and examples (reference-odata-filter.md)
        ("length(userId) le 10 and length(userId) gt 3", True, False),
        ("length(userId) gt 10 or length(userId) le 3", False, False),
        ("not endswith(userId, 'milk')", True, True),
        ("userId eq 'user-ab-de'", True, False),
        ("userId eq null", False, True),
        ("userId ne 'user1'", True, True),
        ("userId ne null", True, False),
        ("'group1' in groups", True, False),
        ("userId in ('user1', 'user-ab-de')", True, False),
        ("userId eq 'user1' or (not (startswith(userId,'user2')))", True, True),
        ("tolower(userId) eq 'user-ab-de'", True, False),
        ("toupper(userId) eq 'USER-AB-DE'", True, False),
        ("substring(userId,5,2) eq 'ab'", True, False),
        ("substring(userId,5) eq 'ab-de'", True, False),
        ("endswith(userId,'de')", True, False),
        ("startswith(userId,'user')", True, False),
        ("indexof(userId,'-ab-') ge 0", True, False),
        ("indexof(userId,'zz') eq -1", True, True),
        ("length(userId) gt 1", True, False),
        ("length(groups) gt 1", True, False),
        ("'group1' in groups or 'group2' in groups or 'group3' in groups", True, False),
        ("userId in ('user1', 'user2', 'user-ab-de') and 'group1' in groups", True, False),
        ("userId eq 'user1' and connectionId ne '123'", False, False),
        ("userId eq 'user-ab-de' and (not ('group1' in groups))", False, False),
        ("not (length(userId) gt 5)", False, True),
        ("contains(userId, 'ab')", True, False),
        ("concat(userId, '!') eq 'user-ab-de!'", True, False),
        ("concat(userId, 'x') eq 'x'", False, True),
        ("true", True, True),
        ("false", False, False),
        ("connectionId eq 'conn-123'", True, False),
        # identifier names are case-insensitive, values are not
        ("USERID eq 'user-ab-de' and 'group1' in GROUPS", True, False),
        ("userId eq 'USER-AB-DE'", False, False),
        # precedence: and before or, comparisons before both
        ("length(userId) gt 0 and length(userId) lt 3 or length(userId) gt 7", True, False),
        ("((userId eq 'user-ab-de'))", True, False),
        ("'group1' in (groups)", True, False),
    ],
)
def test_reference_examples(text: str, user: bool, anon: bool) -> None:
    flt = parse(text)
    assert flt.matches(USER) is user
    assert flt.matches(ANON) is anon


def test_precedence_matches_the_parenthesised_form() -> None:
    plain = (
        "length(userId) gt 0 and length(userId) lt 3 or "
        "length(userId) gt 7 and length(userId) lt 10"
    )
    grouped = (
        "((length(userId) gt 0) and (length(userId) lt 3)) or "
        "((length(userId) gt 7) and (length(userId) lt 10))"
    )
    for user in ("ab", "abcde", "abcdefgh", "abcdefghijk", None):
        subject = Subject("c", user, frozenset())
        assert parse(plain).matches(subject) is parse(grouped).matches(subject)


def test_trim_and_escaped_quotes() -> None:
    assert parse("trim(userId) eq 'user1'").matches(SPACED)
    assert parse("userId eq 'user''1'").matches(QUOTED)
    assert not parse("userId eq 'user''1'").matches(USER)


def test_substring_out_of_range_is_null() -> None:
    assert parse("substring(userId, 50) eq null").matches(USER)
    assert parse("substring(userId, 2, 100) eq null").matches(USER)
    assert parse("substring(userId, -1) eq null").matches(USER)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not length(userId) gt 5", "not"),  # not binds tighter: not(int) is an error
        ("userId gt 'a'", "gt"),
        ("length(userId)", "expected 'bool'"),
        ("userId", "expected 'bool'"),
        ("groups eq 'a'", "eq"),
        ("userId eq 'a' or 1", "or"),
        ("nobody eq 'a'", "unknown identifier"),
        ("shout(userId)", "unknown function"),
        ("substring(userId)", "argument"),
        ("tolower(userId, 'x') eq 'a'", "argument"),
        ("userId eq", "unexpected"),
        ("userId eq 'a' userId", "unexpected"),
        ("(userId eq 'a'", "expected '\\)'"),
        ("userId eq 'open", "unterminated"),
        ("userId eq 'a' & 1", "unexpected character"),
        ("userId in connectionId", "'in' needs"),
        ("userId eq 99999999999", "out of range"),
        ("   ", "empty"),
        ("(" * 150 + "true" + ")" * 150, "nested"),
        ("x" * 5000, "longer"),
    ],
)
def test_bad_filters_are_refused_with_a_reason(text: str, why: str) -> None:
    with pytest.raises(FilterError, match=why) as err:
        parse(text)
    assert "\n" not in str(err.value)
