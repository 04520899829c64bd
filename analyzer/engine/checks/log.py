"""``kind = "log"``: at least ``min_count`` matching records (per group with ``group_by``),
optionally within the last ``within_hours`` before collection."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

from analyzer.engine.checks.base import (
    FILTER_KEYS,
    CheckBuilder,
    CheckResult,
    EvalContext,
    filter_and_pattern,
    hit_time,
    hits_result,
    window_start,
)
from analyzer.engine.matching import LogQuery
from analyzer.engine.model import Check, Location, RecordFilter


@dataclass
class LogCheck(Check):
    """True when at least ``min_count`` records match (per group when ``group_by`` is set)."""

    kind: ClassVar[str] = "log"
    filter: RecordFilter = field(default_factory=RecordFilter)
    pattern: str = ""
    min_count: int = 1
    within_hours: float | None = None
    group_by: str = ""


class LogKind:
    name: ClassVar[str] = "log"
    keys: ClassVar[frozenset[str]] = FILTER_KEYS | {
        "kind", "description", "pattern", "min_count", "within_hours", "group_by"}

    def build(self, builder: CheckBuilder, name: str, values: dict[str, Any],
              location: Location) -> LogCheck:
        where = ("checks", name)
        record_filter, pattern = filter_and_pattern(builder, self.name, name, values)
        return LogCheck(
            name,
            filter=record_filter,
            pattern=pattern,
            min_count=builder.number(values.get("min_count", 1), (*where, "min_count"), int),
            within_hours=builder.optional_number(values.get("within_hours"),
                                                 (*where, "within_hours")),
            group_by=str(values.get("group_by", "")),
            location=location,
        )

    def queries(self, rule_id: str, check: LogCheck) -> list[LogQuery]:
        return [LogQuery(rule_id, check.name, "hit", check.filter, check.pattern,
                         check.group_by)]

    def evaluate(self, rule_id: str, check: LogCheck, context: EvalContext) -> CheckResult:
        acc = context.store.accumulators.get((rule_id, check.name))
        if acc is None or acc.count == 0:
            return CheckResult(check.name, False, "no matching record")
        since = window_start(context.tables, check.within_hours)
        selected = [i for i, t in enumerate(acc.times) if since is None or t >= since]
        window_note = f" in the last {check.within_hours:g} h" if since is not None else ""
        if not selected:
            return CheckResult(check.name, False,
                               f"{acc.count} matching records, none{window_note}")
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
        return hits_result(
            check.name,
            hits,
            [acc.times[i] for i in selected],
            f"{len(selected)} matching records{window_note}",
        )
