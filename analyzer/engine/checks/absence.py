"""``kind = "absence"``: the logs cover the last ``within_hours`` before collection and no
record in that window matches (e.g. no heartbeat)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

from analyzer.engine.checks.base import (
    FILTER_KEYS,
    CheckBuilder,
    CheckResult,
    EvalContext,
    hit_time,
    log_parts,
    record_evidence,
    short,
    window_seconds,
)
from analyzer.engine.durations import format_duration
from analyzer.engine.matching import NO_MINUTE, LogQuery
from analyzer.engine.model import Check, Location, RecordFilter


@dataclass
class AbsenceCheck(Check):
    """True when the logs cover the last ``within_hours`` before collection and no record in
    that window matches (e.g. no heartbeat)."""

    kind: ClassVar[str] = "absence"
    filter: RecordFilter = field(default_factory=RecordFilter)
    pattern: str = ""
    within: float = 6 * 3600.0
    """Seconds before collection the logs must cover with no matching record."""
    exclude: tuple[str, ...] = ()


class AbsenceKind:
    name: ClassVar[str] = "absence"
    keys: ClassVar[frozenset[str]] = FILTER_KEYS | {
        "kind", "description", "pattern", "within", "within_hours"}

    def build(self, builder: CheckBuilder, name: str, values: dict[str, Any],
              location: Location) -> AbsenceCheck:
        parts = log_parts(builder, self.name, name, values)
        return AbsenceCheck(
            name,
            filter=parts.filter,
            pattern=parts.pattern,
            within=window_seconds(builder, name, values, 6 * 3600.0) or 0.0,
            exclude=parts.exclude,
            location=location,
        )

    def queries(self, rule_id: str, check: AbsenceCheck) -> list[LogQuery]:
        return [LogQuery(rule_id, check.name, "hit", check.filter, check.pattern, "",
                         check.exclude)]

    def evaluate(self, rule_id: str, check: AbsenceCheck, context: EvalContext) -> CheckResult:
        acc = context.store.accumulators.get((rule_id, check.name))
        tables = context.tables
        coverage = [tables.coverage[k] for k in check.filter.sources if k in tables.coverage]
        collected = tables.collected_at
        starts = [c.first for c in coverage if c.first is not None]
        if not starts or collected is None:
            return CheckResult(check.name, False, "no log of these sources with timestamps")
        window_start = collected - timedelta(seconds=check.within)
        if min(starts) > window_start:
            return CheckResult(
                check.name,
                False,
                f"logs start at {short(min(starts))}, after the "
                f"window start {short(window_start)}: cannot tell",
            )
        since = window_start.timestamp()
        recent = len([t for t in (acc.times if acc else []) if t >= since])
        if acc is not None and acc.folded is not None:  # undated hits count in no window here
            folded, _ = acc.folded.since(since)
            recent += int(folded.counts[folded.minutes != NO_MINUTE].sum())
        if recent:
            return CheckResult(
                check.name,
                False,
                f"{recent} matching records in the last {format_duration(check.within)}",
            )
        hits = acc.samples() if acc else []
        before = sorted(hits, key=hit_time)[-1:]
        evidence = [record_evidence(h) for h in before]
        detail = f"no matching record between {short(window_start)} and {short(collected)}"
        result = CheckResult(
            check.name, True, detail, count=1, evidence=evidence, first=window_start,
            last=collected,
        )
        if before:
            result.captures = dict(before[0].captures)
            result.captures.setdefault("last_match", short(before[0].record.timestamp))
        result.captures.setdefault("last_match", "never")
        result.captures["hours"] = f"{check.within / 3600:g}"
        result.captures["window"] = format_duration(check.within)
        return result
