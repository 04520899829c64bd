"""``kind = "sequence"``: a record matching ``pattern`` not followed by one matching ``then``
within ``within_minutes`` in the same group (a run that started and never finished)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, ClassVar

from analyzer.engine.checks.base import (
    FILTER_KEYS,
    CheckBuilder,
    CheckResult,
    EvalContext,
    filter_and_pattern,
    hits_result,
)
from analyzer.engine.matching import Hit, LogQuery
from analyzer.engine.model import Check, Location, RecordFilter


@dataclass
class SequenceCheck(Check):
    """True when a record matching ``pattern`` is not followed by one matching ``then`` within
    ``within_minutes`` in the same group (a run that started and never finished)."""

    kind: ClassVar[str] = "sequence"
    filter: RecordFilter = field(default_factory=RecordFilter)
    pattern: str = ""
    then: str = ""
    within_minutes: float = 60.0
    group_by: str = ""


class SequenceKind:
    name: ClassVar[str] = "sequence"
    keys: ClassVar[frozenset[str]] = FILTER_KEYS | {
        "kind", "description", "pattern", "then", "within_minutes", "group_by"}

    def build(self, builder: CheckBuilder, name: str, values: dict[str, Any],
              location: Location) -> SequenceCheck:
        where = ("checks", name)
        record_filter, pattern = filter_and_pattern(builder, self.name, name, values)
        then = builder.pattern(values.get("then", ""), (*where, "then"))
        if "then" not in values:
            builder.error("a sequence check needs both 'pattern' and 'then'", *where)
        return SequenceCheck(
            name,
            filter=record_filter,
            pattern=pattern,
            then=then,
            within_minutes=builder.number(values.get("within_minutes", 60),
                                          (*where, "within_minutes"), float),
            group_by=str(values.get("group_by", "")),
            location=location,
        )

    def queries(self, rule_id: str, check: SequenceCheck) -> list[LogQuery]:
        return [
            LogQuery(rule_id, check.name, "start", check.filter, check.pattern, check.group_by),
            LogQuery(rule_id, check.name, "then", check.filter, check.then, check.group_by),
        ]

    def evaluate(self, rule_id: str, check: SequenceCheck, context: EvalContext) -> CheckResult:
        store = context.store.sequences.get((rule_id, check.name))
        if store is None or not store.starts:
            return CheckResult(check.name, False, "no start record")
        window = check.within_minutes * 60
        ends = store.ends_by_group()
        unresolved: list[int] = []
        for index in range(store.starts):
            start = store.start_times[index]
            times = ends.get(store.start_groups[index], [])
            position = bisect.bisect_left(times, start)
            if not (position < len(times) and times[position] - start <= window):
                unresolved.append(index)
        dropped = (f" (only the first {store.starts} starts were kept; "
                   f"{store.starts_dropped} more not checked)" if store.starts_dropped else "")
        if not unresolved:
            return CheckResult(
                check.name,
                False,
                f"all {store.starts} starts were followed by an end within "
                f"{check.within_minutes:g} min{dropped}",
            )
        sampled = store.sampled()
        hits: list[Hit] = [sampled[i] for i in unresolved if i in sampled]
        return hits_result(
            check.name,
            hits,
            [store.start_times[i] for i in unresolved],
            f"{len(unresolved)} of {store.starts} starts had no end within "
            f"{check.within_minutes:g} min{dropped}",
        )
