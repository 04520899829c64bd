"""Turn check results into findings: decide every check, evaluate the condition, fill the
message, pick evidence, down-rank known-benign noise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analyzer.engine.benign import BenignList
from analyzer.engine.checks import CHECK_KINDS, CheckResult, EvalContext
from analyzer.engine.checks.base import short
from analyzer.engine.findings import Evidence, Finding
from analyzer.engine.matching import NO_TIME, MatchStore
from analyzer.engine.model import Rule
from analyzer.engine.template import fill
from analyzer.redact import redact_text
from analyzer.tables import BundleTables

__all__ = ["CheckResult", "RuleOutcome", "evaluate_rules"]


@dataclass
class RuleOutcome:
    rule: Rule
    fired: bool
    checks: dict[str, CheckResult]
    finding: Finding | None = None
    error: str = ""


def evaluate_rules(
    rules: list[Rule],
    tables: BundleTables,
    store: MatchStore,
    lang: str,
    benign: BenignList | None = None,
) -> list[RuleOutcome]:
    context = EvalContext(tables, store)
    outcomes = []
    for rule in rules:
        try:
            outcomes.append(_evaluate_rule(rule, context, lang, benign))
        except Exception as error:  # one broken rule must not stop the others
            outcomes.append(RuleOutcome(rule, False, {}, error=f"{type(error).__name__}: {error}"))
    return outcomes


def _evaluate_rule(
    rule: Rule, context: EvalContext, lang: str, benign: BenignList | None
) -> RuleOutcome:
    results = {
        name: CHECK_KINDS[check.kind].evaluate(rule.id, check, context)
        for name, check in rule.checks.items()
    }
    values = {name: result.value for name, result in results.items()}
    if not rule.condition.evaluate(values):
        return RuleOutcome(rule, False, results)
    positive = [results[n] for n in dict.fromkeys(rule.condition.positive_names(values))]
    finding = _finding(rule, positive, lang)
    if benign is not None:
        reason = benign.downrank_reason(positive, finding.count)
        if reason:
            finding.severity = "info"
            finding.downranked = reason
    return RuleOutcome(rule, True, results, finding)


def _finding(rule: Rule, positive: list[CheckResult], lang: str) -> Finding:
    count = max((r.count for r in positive), default=0) or 1
    firsts = [r.first for r in positive if r.first is not None]
    lasts = [r.last for r in positive if r.last is not None]
    evidence: list[Evidence] = []
    for result in positive:
        for item in result.evidence:
            if len(evidence) < rule.evidence_limit and item not in evidence:
                evidence.append(item)
    evidence.sort(key=_evidence_order)
    captures: dict[str, Any] = {}
    for result in positive:
        for key, value in result.captures.items():
            captures.setdefault(key, value)
    first, last = (min(firsts) if firsts else None), (max(lasts) if lasts else None)
    variables = {
        **rule.params,
        **captures,
        "count": count,
        "first_seen": short(first),
        "last_seen": short(last),
    }
    return Finding(
        rule=rule.id,
        category=rule.category,
        severity=rule.severity,
        title=rule.title,
        message=redact_text(fill(rule.message, variables)),
        count=count,
        first_seen=first,
        last_seen=last,
        evidence=evidence,
        remediation=rule.remediation.get(lang) or rule.remediation["en"],
        references=list(rule.references),
        seed_cause=rule.guide_cause,
    )


def _evidence_order(item: Evidence) -> tuple[float, str, int]:
    stamp = item.timestamp.timestamp() if item.timestamp is not None else NO_TIME
    return (stamp, item.member, item.line or 0)
