"""``kind = "log"``: matching records (at least ``min_count``, per group with ``group_by``),
optionally only within ``within`` (a duration) before collection, and not counting records
that ``exclude`` drops or that ``unless_preceded_by`` explains."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

from analyzer.engine.checks.base import (
    FILTER_KEYS,
    CheckBuilder,
    CheckResult,
    EvalContext,
    guard_of,
    guard_times,
    hit_time,
    hits_result,
    log_parts,
    preceded,
    window_seconds,
    window_start,
)
from analyzer.engine.durations import format_duration
from analyzer.engine.matching import LogQuery
from analyzer.engine.model import Check, Guard, Location, RecordFilter

GUARD = "#guard"
"""Suffix of the match-store key of a check's ``unless_preceded_by`` records."""


@dataclass
class LogCheck(Check):
    """True when at least ``min_count`` records match (per group when ``group_by`` is set)."""

    kind: ClassVar[str] = "log"
    filter: RecordFilter = field(default_factory=RecordFilter)
    pattern: str = ""
    min_count: int = 1
    within: float | None = None
    """Seconds before collection; ``None``: the whole log."""
    group_by: str = ""
    exclude: tuple[str, ...] = ()
    guard: Guard | None = None


class LogKind:
    name: ClassVar[str] = "log"
    keys: ClassVar[frozenset[str]] = FILTER_KEYS | {
        "kind", "description", "pattern", "min_count", "within", "within_hours", "group_by",
        "unless_preceded_by"}

    def build(self, builder: CheckBuilder, name: str, values: dict[str, Any],
              location: Location) -> LogCheck:
        where = ("checks", name)
        parts = log_parts(builder, self.name, name, values)
        group_by = str(values.get("group_by", ""))
        return LogCheck(
            name,
            filter=parts.filter,
            pattern=parts.pattern,
            min_count=builder.number(values.get("min_count", 1), (*where, "min_count"), int),
            within=window_seconds(builder, name, values, None),
            group_by=group_by,
            exclude=parts.exclude,
            guard=guard_of(builder, name, values, parts.cased, group_by),
            location=location,
        )

    def queries(self, rule_id: str, check: LogCheck) -> list[LogQuery]:
        queries = [LogQuery(rule_id, check.name, "hit", check.filter, check.pattern,
                            check.group_by, check.exclude)]
        if check.guard is not None:
            queries.append(LogQuery(rule_id, check.name + GUARD, "guard", check.filter,
                                    check.guard.pattern, check.group_by))
        return queries

    def evaluate(self, rule_id: str, check: LogCheck, context: EvalContext) -> CheckResult:
        acc = context.store.accumulators.get((rule_id, check.name))
        if acc is None or acc.count == 0:
            return CheckResult(check.name, False, "no matching record")
        since = window_start(context.tables, check.within)
        selected = [i for i, t in enumerate(acc.times) if since is None or t >= since]
        window_note = (f" in the last {format_duration(check.within)}"
                       if since is not None and check.within is not None else "")
        if not selected:
            return CheckResult(check.name, False,
                               f"{acc.count} matching records, none{window_note}")
        guard_note = ""
        guards: list[tuple[float, int]] = []
        if check.guard is not None:
            guards = guard_times(context.store, (rule_id, check.name + GUARD), acc.group_names)
            kept = [i for i in selected
                    if not preceded(acc.times[i], acc.groups[i], check.guard, guards)]
            if len(kept) < len(selected):
                guard_note = (f" ({len(selected) - len(kept)} more explained by a record "
                              f"just before them)")
            if not kept:
                return CheckResult(check.name, False,
                                   f"{len(selected)} matching records{window_note}, all "
                                   f"preceded within {format_duration(check.guard.within)} "
                                   f"by one matching unless_preceded_by")
            selected = kept
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
            hits = [h for h in hits if hit_time(h) >= since] or hits
        if check.guard is not None:
            guard = check.guard
            hits = [h for h in hits if not preceded(hit_time(h), h.group, guard, guards)] or hits
        return hits_result(
            check.name,
            hits,
            [acc.times[i] for i in selected],
            f"{len(selected)} matching records{window_note}{guard_note}",
            check.pattern,
        )
