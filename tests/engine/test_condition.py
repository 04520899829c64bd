from __future__ import annotations

import pytest

from analyzer.engine.condition import ConditionError, parse_condition


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("a and not b", {"a": True, "b": False}, True),
        ("a and not b", {"a": True, "b": True}, False),
        ("a or b and c", {"a": False, "b": True, "c": False}, False),
        ("(a or b) and c", {"a": True, "b": False, "c": True}, True),
        ("1 of ext_*", {"ext_x": False, "ext_y": True}, True),
        ("2 of ext_*", {"ext_x": False, "ext_y": True}, False),
        ("all of ext_*", {"ext_x": True, "ext_y": True, "other": False}, True),
        ("all of none_*", {"a": True}, False),
        ("any of ext_* and not c", {"ext_x": True, "c": False}, True),
    ],
)
def test_evaluation(text: str, values: dict[str, bool], expected: bool) -> None:
    assert parse_condition(text).evaluate(values) is expected


def test_positive_names_are_the_evidence_sources() -> None:
    condition = parse_condition("(a or b) and not c")
    assert condition.positive_names({"a": True, "b": False, "c": False}) == ["a"]


@pytest.mark.parametrize(("text", "col"), [("a and", 3), ("and a", 1), ("a (b)", 3)])
def test_errors_carry_a_column(text: str, col: int) -> None:
    with pytest.raises(ConditionError) as raised:
        parse_condition(text)
    assert raised.value.col == col


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(ConditionError):
        parse_condition("(" * 400 + "a" + ")" * 400)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a and", "expected a check name after 'and' at column 3"),
        ("and a", "expected a check name at column 1, found 'and'"),
        ("a (b)", "expected 'and', 'or' or ')' at column 3, found '('"),
        ("(a or b", "'(' at column 1 is never closed"),
        ("a)", "unmatched ')' at column 2"),
        ("2 ext_*", "expected 'of' after the count '2' at column 3, found 'ext_*'"),
        ("any of", "expected a check name or wildcard such as 'ext_*' after 'of' at column 5"),
        ("ext_* and b", "'ext_*' at column 1 is not a check name; a wildcard needs a count"),
        ("a & b", "unexpected character '&' at column 3"),
        ("", "empty condition"),
        ("0 of x_*", "the count '0' at column 1 must be 1 or more"),
    ],
)
def test_errors_are_plain_words(text: str, message: str) -> None:
    """Whatever the pyparsing release, an author reads words, never a grammar dump."""
    with pytest.raises(ConditionError) as raised:
        parse_condition(text)
    assert message in str(raised.value)
    assert "Re:(" not in str(raised.value) and "{" not in str(raised.value)


@pytest.mark.parametrize("depth", [17, 600])
def test_nesting_limit_is_ours(depth: int) -> None:
    with pytest.raises(ConditionError, match="nested too deeply"):
        parse_condition("(" * depth + "a" + ")" * depth)
    with pytest.raises(ConditionError, match="nested too deeply"):
        parse_condition("not " * min(depth, 400) + "a")


def test_nesting_within_the_limit_parses() -> None:
    assert parse_condition("(" * 16 + "a" + ")" * 16).evaluate({"a": True})
    assert parse_condition("not (" * 7 + "not a" + ")" * 7).evaluate({"a": False}) is False
    assert parse_condition("not (not (a and (b or not c)))").evaluate(
        {"a": True, "b": False, "c": False}
    )
