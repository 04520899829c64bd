"""Turn check results into findings: decide every check, evaluate the condition, fill the
message, pick evidence, down-rank known-benign noise."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from typing import Any

from analyzer.engine.benign import BenignList
from analyzer.engine.checks import CHECK_KINDS, CheckResult, EvalContext
from analyzer.engine.checks.base import evidence_shape as _shape
from analyzer.engine.checks.base import short
from analyzer.engine.findings import IN_PROGRESS, SEVERITY_RANK, Evidence, Finding
from analyzer.engine.matching import NO_TIME, MatchStore
from analyzer.engine.model import Rule
from analyzer.engine.template import fill
from analyzer.redact import redact_text
from analyzer.tables import BundleTables

__all__ = ["OUTCOME_FIELDS", "CheckResult", "RuleOutcome", "evaluate_rules"]


@dataclass
class RuleOutcome:
    rule: Rule
    fired: bool
    checks: dict[str, CheckResult]
    finding: Finding | None = None
    error: str = ""


OUTCOME_FIELDS = tuple(item.name for item in fields(RuleOutcome) if item.name != "rule")
"""What an outcome holds besides its rule (what an isolated evaluation sends back: the
process it goes to holds the rules already)."""


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
        return _in_progress(rule, results, values, lang)
    positive = [results[n] for n in dict.fromkeys(rule.condition.positive_names(values))]
    finding = _finding(rule, positive, lang)
    finding.severity = _graded_severity(rule, finding, results)
    _add_running_evidence(rule, finding, results)
    if benign is not None:
        reason = benign.downrank_reason(positive, finding.count, lang)
        if reason:
            finding.severity = "info"
            finding.downranked = reason
    return RuleOutcome(rule, True, results, finding)


IN_PROGRESS_PREFIX = {"en": "Still in progress when the logs were collected: ",
                      "pt-BR": "Ainda em andamento quando os logs foram coletados: "}


def _in_progress(rule: Rule, results: dict[str, CheckResult], values: dict[str, bool],
                 lang: str) -> RuleOutcome:
    """A rule that would fire if the sequences still running at collection counted: an
    ``info`` finding with status ``in_progress`` (started, not finished, budget not yet
    elapsed), never silence and never a failure."""
    pending = {n: r.in_progress for n, r in results.items() if r.in_progress is not None}
    trial = {**values, **{name: True for name in pending}}
    if not pending or not rule.condition.evaluate(trial):
        return RuleOutcome(rule, False, results)
    chosen = {**results, **{n: r for n, r in pending.items() if r is not None}}
    positive = [chosen[n] for n in dict.fromkeys(rule.condition.positive_names(trial))]
    finding = _finding(rule, positive, lang)
    finding.severity = "info"
    finding.status = IN_PROGRESS
    finding.message = IN_PROGRESS_PREFIX.get(lang, IN_PROGRESS_PREFIX["en"]) + finding.message
    return RuleOutcome(rule, True, results, finding)


def _add_running_evidence(rule: Rule, finding: Finding,
                          results: dict[str, CheckResult]) -> None:
    """A rule fired on other checks (a status file stuck at "transitioning"): the start of a
    run still within its budget is part of the proof, so it joins the evidence."""
    for result in results.values():
        running = result.in_progress
        if running is None:
            continue
        for item in running.evidence[:1]:
            if item not in finding.evidence and len(finding.evidence) < rule.evidence_limit:
                finding.evidence.append(item)
    finding.evidence.sort(key=_evidence_order)


def _graded_severity(rule: Rule, finding: Finding, results: dict[str, CheckResult]) -> str:
    """``[severity_by]``: the rule's severity raised by count and persistence, capped when
    the failure recovered."""
    grading = rule.grading
    if grading is None:
        return rule.severity
    rank = SEVERITY_RANK[rule.severity]
    for severity, least in grading.count.items():
        if finding.count >= least:
            rank = max(rank, SEVERITY_RANK[severity])
    if finding.first_seen is not None and finding.last_seen is not None:
        span = (finding.last_seen - finding.first_seen).total_seconds()
        for severity, least_span in grading.lasting.items():
            if span >= least_span:
                rank = max(rank, SEVERITY_RANK[severity])
    recovered = results.get(grading.recovered_when)
    if grading.recovered and recovered is not None and recovered.value:
        rank = min(rank, SEVERITY_RANK[grading.recovered])
    return next(name for name, value in SEVERITY_RANK.items() if value == rank)


def _collapsed(rule: Rule, positive: list[CheckResult]) -> list[Evidence]:
    """Up to ``evidence_limit`` distinct items; a near-identical later item (same text but
    for numbers, ids, times) is counted on the first one instead of taking a slot."""
    evidence: list[Evidence] = []
    shapes: dict[str, int] = {}
    for result in positive:
        for item in result.evidence:
            if item in evidence:
                continue
            shape = _shape(item.text)
            if shape in shapes:
                kept = evidence[shapes[shape]]
                evidence[shapes[shape]] = replace(kept, repeats=kept.repeats + 1)
            elif len(evidence) < rule.evidence_limit:
                shapes[shape] = len(evidence)
                evidence.append(item)
    return evidence


_DANGLING_TRACEBACK = re.compile(r"[\s:;,.-]*Traceback \(most recent call last\):?\s*$")


def _tidy_message(message: str, positive: list[CheckResult]) -> str:
    """A message must not end in "Traceback (most recent call last):": say the exception
    the traceback ends with instead (the last line of the newest record that has one)."""
    if not _DANGLING_TRACEBACK.search(message):
        return message
    head = _DANGLING_TRACEBACK.sub("", message)
    for result in reversed(positive):
        for text in reversed(result.records_text):
            tail = _exception_line(text)
            if tail:
                return f"{head}: {tail}" if head else tail
    return head


def _exception_line(text: str) -> str:
    if "Traceback (most recent call last)" not in text:
        return ""
    after = text.rsplit("Traceback (most recent call last)", 1)[1]
    for line in reversed(after.splitlines()[1:]):  # [0] is the rest of the header line
        line = _LINE_STAMP.sub("", line).strip()  # Python-2 writers stamp every line
        if _EXCEPTION_LINE.match(line):
            return line[:300]
    return ""


_LINE_STAMP = re.compile(r"^\d{4}[/-]\d\d[/-]\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?Z? ")
_EXCEPTION_LINE = re.compile(r"[A-Za-z_][\w.]*(?::\s.*)?$")
"""The last line of a traceback: ``ValueError: No JSON object``, ``KeyboardInterrupt``, not a
frame (``File "..."``), a source line or a bare ``:``."""


def _finding(rule: Rule, positive: list[CheckResult], lang: str) -> Finding:
    count = max((r.count for r in positive), default=0) or 1
    firsts = [r.first for r in positive if r.first is not None]
    lasts = [r.last for r in positive if r.last is not None]
    evidence = _collapsed(rule, positive)
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
    # Rules pickled by an older version have no translations attribute.
    translated = getattr(rule, "translations", {}).get(lang, {})
    return Finding(
        rule=rule.id,
        category=rule.category,
        severity=rule.severity,
        title=translated.get("title", rule.title),
        message=redact_text(
            _tidy_message(fill(translated.get("message", rule.message), variables), positive)
        ),
        count=count,
        first_seen=first,
        last_seen=last,
        evidence=evidence,
        remediation=rule.remediation.get(lang) or rule.remediation["en"],
        references=list(rule.references),
        guide_cause=rule.guide_cause,
    )


def _evidence_order(item: Evidence) -> tuple[float, str, int]:
    stamp = item.timestamp.timestamp() if item.timestamp is not None else NO_TIME
    return (stamp, item.member, item.line or 0)
