"""One parametrized test runs every test case kept inside the built-in rule files.

It also fails a rule that lacks a firing or a non-firing case, or whose file does not load.
"""

from __future__ import annotations

import pytest

from analyzer.engine.benign import load_benign
from analyzer.engine.loader import default_rules_dir, load_rules
from analyzer.testing.rules import run_rule_test

PACK = load_rules([default_rules_dir()], require_tests=True)
BENIGN, BENIGN_ERRORS = load_benign(default_rules_dir() / "benign.toml")
BY_ID = PACK.by_id()
CASES = [
    pytest.param(rule, test, id=f"{rule.id}::{test.name}")
    for rule in PACK.rules
    for test in rule.tests
]


def test_rule_pack_loads_without_errors() -> None:
    assert [str(e) for e in PACK.errors] == []
    assert BENIGN_ERRORS == []
    assert len(PACK.rules) >= 40


def test_every_guide_cause_is_covered() -> None:
    causes = {rule.guide_cause for rule in PACK.rules}
    assert {1, 2, 4, 5} <= causes  # cause 3 is about Windows VMs


@pytest.mark.parametrize(("rule", "test"), CASES)
def test_rule_case(rule, test) -> None:  # type: ignore[no-untyped-def]
    result = run_rule_test(rule, test, BY_ID, BENIGN)
    assert result.passed, result.reason
