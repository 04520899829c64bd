"""Run the test cases kept as data inside rule files (``[[tests]]``).

A case passes when its rule fires exactly when its id is in ``expect``, every other id in
``expect`` fires too, and, when ``evidence_lines`` is given, the rule's evidence points at
exactly those lines of the bundle.
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzer.engine.benign import BenignList, load_benign
from analyzer.engine.loader import RulePack, default_rules_dir, load_rules
from analyzer.engine.model import Rule, RuleTest
from analyzer.pipeline import AnalyzeOptions, analyze_files


@dataclass
class RuleTestResult:
    rule_id: str
    name: str
    passed: bool
    reason: str = ""


def run_rule_tests(pack: RulePack, benign: BenignList | None = None) -> list[RuleTestResult]:
    if benign is None:
        benign, _ = load_benign(default_rules_dir() / "benign.toml")
    by_id = pack.by_id()
    return [run_rule_test(rule, test, by_id, benign) for rule in pack.rules for test in rule.tests]


def run_rule_test(
    rule: Rule, test: RuleTest, by_id: dict[str, Rule], benign: BenignList
) -> RuleTestResult:
    subject = _with_params(rule, test) if test.params else rule
    others = [by_id[i] for i in test.expect if i != rule.id and i in by_id]
    missing = [i for i in test.expect if i != rule.id and i not in by_id]
    if missing:
        return RuleTestResult(rule.id, test.name, False, f"unknown rule ids in expect: {missing}")
    analysis = analyze_files(
        test.files,
        AnalyzeOptions(),
        pack=RulePack([subject, *others]),
        benign=benign,
        source="test",
    )
    fired = {f.rule: f for f in analysis.report.findings}
    wanted = set(test.expect)
    if (rule.id in fired) != (rule.id in wanted):
        outcome = next(o for o in analysis.outcomes if o.rule.id == rule.id)
        details = "; ".join(f"{n}={r.value} ({r.detail})" for n, r in outcome.checks.items())
        verb = "fired" if rule.id in fired else "did not fire"
        return RuleTestResult(rule.id, test.name, False, f"{rule.id} {verb}: {details}")
    absent = sorted(i for i in wanted if i not in fired)
    if absent:
        return RuleTestResult(rule.id, test.name, False, f"expected {absent} to fire too")
    if test.evidence_lines and rule.id in fired:
        lines = [e.line for e in fired[rule.id].evidence]
        if lines != test.evidence_lines:
            return RuleTestResult(
                rule.id, test.name, False, f"evidence lines {lines}, expected {test.evidence_lines}"
            )
    return RuleTestResult(rule.id, test.name, True)


def _with_params(rule: Rule, test: RuleTest) -> Rule:
    assert rule.path is not None
    pack = load_rules([rule.path], {rule.id: {k: str(v) for k, v in test.params.items()}})
    if pack.errors or not pack.rules:
        raise ValueError(f"{rule.id}: test params rejected: {pack.errors}")
    return pack.rules[0]
