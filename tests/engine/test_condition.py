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
