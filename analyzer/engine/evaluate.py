"""Turn check results into findings: decide every check, evaluate the condition, fill the
message, pick evidence, down-rank known-benign noise."""

from __future__ import annotations

import bisect
import string
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from analyzer.engine.benign import BenignList
from analyzer.engine.matching import NO_TIME, Accumulator, Hit, MatchStore, SequenceStore
from analyzer.engine.model import (
    AbsenceCheck,
    Check,
    Comparison,
    LogCheck,
    Rule,
    SequenceCheck,
    TableCheck,
)
from analyzer.engine.regex import compile_pattern
from analyzer.engine.versions import compare_versions
from analyzer.facts import BundleFacts
from analyzer.redact import redact_text
from analyzer.report.model import Evidence, Finding

EVIDENCE_TEXT_CHARS = 600


@dataclass
class CheckResult:
    name: str
    value: bool
    detail: str
    count: int = 0
    evidence: list[Evidence] = field(default_factory=list)
    captures: dict[str, str] = field(default_factory=dict)
    first: datetime | None = None
    last: datetime | None = None
    records_text: list[str] = field(default_factory=list)


@dataclass
class RuleOutcome:
    rule: Rule
    fired: bool
    checks: dict[str, CheckResult]
    finding: Finding | None = None
    error: str = ""


def evaluate_rules(
    rules: list[Rule],
    facts: BundleFacts,
    store: MatchStore,
    lang: str,
    benign: BenignList | None = None,
) -> list[RuleOutcome]:
    outcomes = []
    for rule in rules:
        try:
            outcomes.append(_evaluate_rule(rule, facts, store, lang, benign))
        except Exception as error:  # one broken rule must not stop the others
            outcomes.append(RuleOutcome(rule, False, {}, error=f"{type(error).__name__}: {error}"))
    return outcomes


def _evaluate_rule(
    rule: Rule, facts: BundleFacts, store: MatchStore, lang: str, benign: BenignList | None
) -> RuleOutcome:
    results = {
        name: _evaluate_check(rule, check, facts, store) for name, check in rule.checks.items()
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
        "first_seen": _short(first),
        "last_seen": _short(last),
    }
    # Rules pickled by an older version have no translations attribute.
    translated = getattr(rule, "translations", {}).get(lang, {})
    return Finding(
        rule=rule.id,
        category=rule.category,
        severity=rule.severity,
        title=translated.get("title", rule.title),
        message=redact_text(_fill(translated.get("message", rule.message), variables)),
        count=count,
        first_seen=first,
        last_seen=last,
        evidence=evidence,
        remediation=rule.remediation.get(lang) or rule.remediation["en"],
        references=list(rule.references),
        seed_cause=rule.seed_cause,
    )


def _evidence_order(item: Evidence) -> tuple[float, str, int]:
    stamp = item.timestamp.timestamp() if item.timestamp is not None else NO_TIME
    return (stamp, item.member, item.line or 0)


class _LenientFormatter(string.Formatter):
    def get_value(self, key: int | str, args: Any, kwargs: Any) -> Any:
        if isinstance(key, str):
            return kwargs.get(key, "")
        return ""


def _fill(template: str, variables: dict[str, Any]) -> str:
    try:
        return _LenientFormatter().vformat(template, (), variables)
    except (ValueError, IndexError, KeyError):
        return template


def _short(stamp: datetime | None) -> str:
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC") if stamp else "?"


# -- checks ------------------------------------------------------------------------------------


def _evaluate_check(rule: Rule, check: Check, facts: BundleFacts, store: MatchStore) -> CheckResult:
    key = (rule.id, check.name)
    if isinstance(check, LogCheck):
        return _log_check(check, store.accumulators.get(key), facts)
    if isinstance(check, AbsenceCheck):
        return _absence_check(check, store.accumulators.get(key), facts)
    if isinstance(check, SequenceCheck):
        return _sequence_check(check, store.sequences.get(key))
    if isinstance(check, TableCheck):
        return _table_check(check, facts)
    raise TypeError(f"unknown check type {type(check).__name__}")


def _window_start(facts: BundleFacts, hours: float | None) -> float | None:
    if hours is None or facts.collected_at is None:
        return None
    return (facts.collected_at - timedelta(hours=hours)).timestamp()


def _log_check(check: LogCheck, acc: Accumulator | None, facts: BundleFacts) -> CheckResult:
    if acc is None or acc.count == 0:
        return CheckResult(check.name, False, "no matching record")
    since = _window_start(facts, check.within_hours)
    selected = [i for i, t in enumerate(acc.times) if since is None or t >= since]
    window_note = f" in the last {check.within_hours:g} h" if since is not None else ""
    if not selected:
        return CheckResult(check.name, False, f"{acc.count} matching records, none{window_note}")
    if check.group_by:
        per_group = Counter(acc.groups[i] for i in selected)
        groups = {g for g, n in per_group.items() if n >= check.min_count}
        best = max(per_group.values())
        if not groups:
            return CheckResult(
                check.name,
                False,
                f"at most {best} matching records per "
                f"{check.group_by}{window_note}, needed {check.min_count}",
            )
        selected = [i for i in selected if acc.groups[i] in groups]
        hits = [acc.group_samples[g] for g in sorted(groups) if g in acc.group_samples]
        hits += [h for h in acc.samples() if h.group in groups and h not in hits]
    else:
        if len(selected) < check.min_count:
            return CheckResult(
                check.name,
                False,
                f"{len(selected)} matching records{window_note}, needed {check.min_count}",
                count=len(selected),
            )
        hits = acc.samples()
    if since is not None:
        hits = [h for h in hits if _time(h) >= since] or hits
    return _hits_result(
        check.name,
        hits,
        [acc.times[i] for i in selected],
        f"{len(selected)} matching records{window_note}",
    )


def _time(hit: Hit) -> float:
    stamp = hit.record.timestamp
    return stamp.timestamp() if stamp is not None else NO_TIME


def _hits_result(name: str, hits: list[Hit], times: list[float], detail: str) -> CheckResult:
    real_times = [t for t in times if t != NO_TIME]
    ordered = sorted(hits, key=lambda h: (_time(h), h.record.member, h.record.line))
    evidence = [_record_evidence(h) for h in ordered]
    latest = ordered[-1] if ordered else None
    return CheckResult(
        name,
        True,
        detail,
        count=len(times),
        evidence=evidence,
        captures=dict(latest.captures) if latest else {},
        first=_from_ts(min(real_times)) if real_times else None,
        last=_from_ts(max(real_times)) if real_times else None,
        records_text=[h.record.message for h in ordered],
    )


def _from_ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


def _record_evidence(hit: Hit) -> Evidence:
    record = hit.record
    text = record.message
    header = " ".join(p for p in (record.level, record.thread, record.prefix) if p)
    line = f"{header} {text}" if header else text
    if len(line) > EVIDENCE_TEXT_CHARS:
        line = line[:EVIDENCE_TEXT_CHARS] + " [...]"
    return Evidence(record.member, record.line, record.timestamp, redact_text(line))


def _absence_check(check: AbsenceCheck, acc: Accumulator | None, facts: BundleFacts) -> CheckResult:
    coverage = [facts.coverage[k] for k in check.filter.sources if k in facts.coverage]
    collected = facts.collected_at
    starts = [c.first for c in coverage if c.first is not None]
    if not starts or collected is None:
        return CheckResult(check.name, False, "no log of these sources with timestamps")
    window_start = collected - timedelta(hours=check.within_hours)
    if min(starts) > window_start:
        return CheckResult(
            check.name,
            False,
            f"logs start at {_short(min(starts))}, after the "
            f"window start {_short(window_start)}: cannot tell",
        )
    since = window_start.timestamp()
    recent = [t for t in (acc.times if acc else []) if t >= since]
    if recent:
        return CheckResult(
            check.name,
            False,
            f"{len(recent)} matching records in the last {check.within_hours:g} h",
        )
    hits = acc.samples() if acc else []
    before = sorted(hits, key=_time)[-1:]
    evidence = [_record_evidence(h) for h in before]
    detail = f"no matching record between {_short(window_start)} and {_short(collected)}"
    result = CheckResult(
        check.name, True, detail, count=1, evidence=evidence, first=window_start, last=collected
    )
    if before:
        result.captures = dict(before[0].captures)
        result.captures.setdefault("last_match", _short(before[0].record.timestamp))
    result.captures.setdefault("last_match", "never")
    result.captures["hours"] = f"{check.within_hours:g}"
    return result


def _sequence_check(check: SequenceCheck, store: SequenceStore | None) -> CheckResult:
    if store is None or not store.events:
        return CheckResult(check.name, False, "no start record")
    window = check.within_minutes * 60
    ends = store.ends_by_group()
    violations: list[Hit] = []
    for start in store.events:
        times = ends.get(start.group, [])
        index = bisect.bisect_left(times, start.time)
        resolved = index < len(times) and times[index] - start.time <= window
        if not resolved and start.hit is not None:
            violations.append(start.hit)
    starts = len(store.events)
    if not violations:
        return CheckResult(
            check.name,
            False,
            f"all {starts} starts were followed by an end within {check.within_minutes:g} min",
        )
    return _hits_result(
        check.name,
        violations,
        [_time(h) for h in violations],
        f"{len(violations)} of {starts} starts had no end within {check.within_minutes:g} min",
    )


# -- tables ------------------------------------------------------------------------------------


def _table_check(check: TableCheck, facts: BundleFacts) -> CheckResult:
    rows = [r for r in facts.table(check.table) if _row_where(r, check.where)]
    if check.latest_by:
        rows = _latest(rows, check.latest_by)
    matching = [r for r in rows if check.compare is None or _compare(r, check.compare)]
    described = _describe_filter(check)
    if check.mode == "none":
        if matching:
            return CheckResult(
                check.name,
                False,
                f"{len(matching)} {check.table} rows {described}",
                evidence=[_row_evidence(check.table, r) for r in matching[:3]],
            )
        return CheckResult(check.name, True, f"no {check.table} row {described}", count=1)
    if not matching:
        near = f" ({len(rows)} rows matched the filter)" if rows else ""
        return CheckResult(check.name, False, f"no {check.table} row {described}{near}")
    stamps = [r["timestamp"] for r in matching if r.get("timestamp")]
    captures = {
        k: str(v) for k, v in matching[-1].items() if isinstance(v, str | int | float) and v != ""
    }
    return CheckResult(
        check.name,
        True,
        f"{len(matching)} {check.table} rows {described}",
        count=len(matching),
        evidence=[_row_evidence(check.table, r) for r in matching[:3]],
        captures=captures,
        first=min(stamps) if stamps else None,
        last=max(stamps) if stamps else None,
    )


def _describe_filter(check: TableCheck) -> str:
    parts = [f"{k}={v}" for k, v in check.where.items()]
    if check.compare:
        parts.append(f"{check.compare.field} {check.compare.op} {check.compare.value}")
    return "where " + " and ".join(parts) if parts else ""


def _row_where(row: dict[str, Any], where: dict[str, str]) -> bool:
    for name, wanted in where.items():
        actual = "" if row.get(name) is None else str(row.get(name))
        if wanted.startswith("~"):
            if compile_pattern(wanted[1:]).search(actual) is None:
                return False
        elif actual.lower() != wanted.lower():
            return False
    return True


def _latest(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    newest: dict[str, tuple[float, int, dict[str, Any]]] = {}
    for order, row in enumerate(rows):
        stamp = row.get("timestamp")
        rank = stamp.timestamp() if isinstance(stamp, datetime) else NO_TIME
        name = str(row.get(key, "")).lower()
        if name not in newest or (rank, order) >= newest[name][:2]:
            newest[name] = (rank, order, row)
    return [entry[2] for entry in newest.values()]


def _compare(row: dict[str, Any], comparison: Comparison) -> bool:
    actual = row.get(comparison.field)
    if comparison.op in ("~", "!~"):
        found = compile_pattern(comparison.value).search("" if actual is None else str(actual))
        return (found is not None) == (comparison.op == "~")
    if actual is None or actual == "":
        return False
    if comparison.type == "version":
        order = compare_versions(str(actual), comparison.value)
    elif comparison.type == "number":
        try:
            left, right = float(actual), float(comparison.value)
        except ValueError:
            return False
        order = (left > right) - (left < right)
    else:
        left_s, right_s = str(actual), comparison.value
        order = (left_s > right_s) - (left_s < right_s)
    return {
        "<": order < 0,
        "<=": order <= 0,
        ">": order > 0,
        ">=": order >= 0,
        "==": order == 0,
        "!=": order != 0,
    }[comparison.op]


_ROW_TEXT = {
    "extensions": ("name", "version", "state", "status", "code", "source_kind", "message"),
    "config": ("key", "value"),
    "agent": ("role", "value"),
    "goal_states": ("document", "incarnation", "etag", "deployment", "role"),
    "files": ("logical_path", "kind", "size"),
}


def _row_evidence(table: str, row: dict[str, Any]) -> Evidence:
    parts = [f"{name}={row[name]}" for name in _ROW_TEXT[table] if row.get(name) not in (None, "")]
    stamp = row.get("timestamp")
    return Evidence(
        str(row.get("member", "")),
        row.get("line"),
        stamp if isinstance(stamp, datetime) else None,
        redact_text(" ".join(parts))[:EVIDENCE_TEXT_CHARS],
    )
