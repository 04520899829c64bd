"""``kind = "sequence"``: a record matching ``pattern`` not followed by one matching ``then``
within ``within`` in the same group (a run that started and never finished).

Without ``within`` a start counts until a ``then`` follows it at any later time ("failed and
never recovered"). With ``within``, a start that has no end yet but whose budget had not
elapsed when the bundle was collected is *in progress*: not a violation, reported apart
(:attr:`CheckResult.in_progress`) so that the rule can say "still running" instead of
"never finished" or nothing.

When nothing but the logs' newest line tells when the bundle was taken, and that newest line
comes within :data:`ENDS_WITH_IT` of the check's last start (an excerpt of extension.log that
ends a few lines after a phase marker), nothing in the logs shows time passing after the run:
its starts are not called in progress - it is a run that stopped, which is what such a log
shows. A later record elsewhere (the agent's heartbeat half an hour on) does show it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from analyzer.engine.checks.base import (
    FILTER_KEYS,
    CheckBuilder,
    CheckResult,
    EvalContext,
    GuardRecords,
    fold_case,
    guard_of,
    guard_records,
    hits_result,
    log_parts,
    short,
    window_seconds,
)
from analyzer.engine.durations import format_duration
from analyzer.engine.matching import Folded, Hit, LogQuery, resolved
from analyzer.engine.model import Check, Guard, Location, RecordFilter

GUARD = "#guard"
ENDS_WITH_IT = 600.0
"""Seconds: logs whose newest line is this close to a check's last start end with that run."""


@dataclass
class SequenceCheck(Check):
    """True when a record matching ``pattern`` is not followed by one matching ``then`` within
    ``within`` seconds in the same group (a run that started and never finished)."""

    kind: ClassVar[str] = "sequence"
    filter: RecordFilter = field(default_factory=RecordFilter)
    pattern: str = ""
    then: str = ""
    within: float | None = None
    """Seconds a start has to be followed by a ``then``; ``None``: ever (never recovered)."""
    group_by: str = ""
    exclude: tuple[str, ...] = ()
    guard: Guard | None = None


class SequenceKind:
    name: ClassVar[str] = "sequence"
    keys: ClassVar[frozenset[str]] = FILTER_KEYS | {
        "kind", "description", "pattern", "then", "within", "within_minutes", "group_by",
        "unless_preceded_by"}

    def build(self, builder: CheckBuilder, name: str, values: dict[str, Any],
              location: Location) -> SequenceCheck:
        where = ("checks", name)
        parts = log_parts(builder, self.name, name, values)
        then = builder.pattern(values.get("then", ""), (*where, "then"))
        if "then" not in values:
            builder.error("a sequence check needs both 'pattern' and 'then'", *where)
        group_by = str(values.get("group_by", ""))
        return SequenceCheck(
            name,
            filter=parts.filter,
            pattern=parts.pattern,
            then=fold_case(then, parts.cased),
            within=window_seconds(builder, name, values, None),
            group_by=group_by,
            exclude=parts.exclude,
            guard=guard_of(builder, name, values, parts.cased, group_by),
            location=location,
        )

    def queries(self, rule_id: str, check: SequenceCheck) -> list[LogQuery]:
        queries = [
            LogQuery(rule_id, check.name, "start", check.filter, check.pattern, check.group_by,
                     check.exclude),
            LogQuery(rule_id, check.name, "then", check.filter, check.then, check.group_by),
        ]
        if check.guard is not None:
            queries.append(LogQuery(rule_id, check.name + GUARD, "guard", check.filter,
                                    check.guard.pattern, check.group_by,
                                    guard_within=check.guard.within))
        return queries

    def evaluate(self, rule_id: str, check: SequenceCheck, context: EvalContext) -> CheckResult:
        store = context.store.sequences.get((rule_id, check.name))
        if store is None or not store.starts:
            return CheckResult(check.name, False, "no start record")
        window = check.within
        budget = f"within {format_duration(window)}" if window is not None else "at any later time"
        ends = store.ends_by_group()
        folded = store.folded_ends
        guards = (guard_records(context.store, (rule_id, check.name + GUARD),
                                store.group_names) if check.guard is not None else None)
        collected, collected_source = context.tables.collection_time()
        now = collected.timestamp() if collected is not None else None
        kept = sorted(store.kept().items())
        starts = np.frombuffer(store.start_times, dtype=np.float64)[:store.starts]
        groups = np.frombuffer(store.start_groups, dtype=np.int32)[:store.starts]
        ends_with_run = (collected_source == "newest_line" and now is not None
                         and now - float(starts.max()) <= ENDS_WITH_IT)
        left = ~_explained(starts, groups, check.guard, guards)
        explained = int(np.count_nonzero(~left))
        left &= ~_resolved(starts, groups, left, ends, folded, window)
        in_budget = (left & (now - starts < window) if window is not None and now is not None
                     else np.zeros(len(starts), dtype=bool))
        stopped_at_end = 0
        if ends_with_run:
            # the logs end with the run: no sign of time passing
            stopped_at_end = int(np.count_nonzero(in_budget))
            in_budget[:] = False
        running = np.flatnonzero(in_budget)  # no end yet, budget left
        left &= ~in_budget
        unresolved = np.flatnonzero(left)
        notes = (f" (only the first {store.starts} starts were kept; "
                 f"{store.starts_dropped} more not checked)" if store.starts_dropped else "")
        if explained:
            notes += f" ({explained} explained by a record just before them)"
        if stopped_at_end:
            notes += (f" ({stopped_at_end} with nothing logged after them but the run's own "
                      "lines and no collection time: a run that stopped, not one in progress)")
        in_progress = None
        if len(running):
            in_progress = hits_result(
                check.name,
                _samples_of(kept, in_budget),
                starts[running],
                f"{len(running)} of {store.starts} starts had no end yet, but their budget of "
                f"{format_duration(window or 0)} had not elapsed at collection "
                f"({short(collected)}): in progress",
                check.pattern,
            )
            in_progress.captures.setdefault("budget", format_duration(window or 0))
        if not len(unresolved):
            result = CheckResult(
                check.name,
                False,
                f"all {store.starts - explained - len(running)} finished starts were followed "
                f"by an end {budget}{notes}"
                + (f"; {len(running)} still in progress at collection" if len(running) else ""),
            )
            result.in_progress = in_progress
            return result
        hits = _samples_of(kept, left)
        elapsed = (f"; the budget had elapsed before collection ({short(collected)})"
                   if window is not None and collected is not None
                   and stopped_at_end < len(unresolved) else "")
        result = hits_result(
            check.name,
            hits,
            starts[unresolved],
            f"{len(unresolved)} of {store.starts} starts had no end {budget}{elapsed}{notes}",
            check.pattern,
            last_first=True,
        )
        if check.group_by:
            # What the unresolved starts are grouped by (an extension, a run) names the
            # finding even when the start record's text does not: ``{extension}``.
            names = {index: name for name, index in store.group_names.items()}
            latest = int(unresolved[int(np.argmax(starts[unresolved]))])  # first of the latest
            result.captures.setdefault(check.group_by, names.get(store.start_groups[latest], ""))
        result.in_progress = in_progress
        return result



def _samples_of(kept: list[tuple[int, Any]], wanted: Any) -> list[Hit]:
    """The kept samples of the ``wanted`` starts (a mask over the starts), in start order,
    parsed now: only the ones shown cost a parse."""
    return [resolved(hit) for index, hit in kept if index < len(wanted) and wanted[index]]


def _explained(starts: Any, groups: Any, guard: Guard | None,
               guards: GuardRecords | None) -> Any:
    """Starts with a guard record just before them (one binary search each, in numpy)."""
    if guard is None or guards is None:
        return np.zeros(len(starts), dtype=bool)
    return guards.explains(starts, groups, guard)


def _resolved(starts: Any, groups: Any, wanted: Any, ends: dict[int, Any],
              folded: Folded | None, window: float | None) -> Any:
    """Which ``wanted`` starts an end of their group follows within ``window`` (None: at
    any later time): the group's first end at or after the start, one array search per
    group; past the exact cap, an end counted per minute (:meth:`Folded.resolves_each`)."""
    resolved = np.zeros(len(starts), dtype=bool)
    index = np.flatnonzero(wanted)
    if not len(index):
        return resolved
    if groups.min() == groups.max():  # one group (no ``group_by``): nothing to sort
        parts = [index]
    else:
        by_group = index[np.argsort(groups[index], kind="stable")]
        parts = np.split(by_group, np.flatnonzero(np.diff(groups[by_group])) + 1)
    for index in parts:
        group = int(groups[index[0]])
        times = starts[index]
        found = np.zeros(len(index), dtype=bool)
        ends_of_group = ends.get(group)
        if ends_of_group is not None and len(ends_of_group):
            position = np.searchsorted(ends_of_group, times, side="left")
            inside = position < len(ends_of_group)
            gaps = ends_of_group[np.minimum(position, len(ends_of_group) - 1)] - times
            found = inside & (gaps <= window) if window is not None else inside
        if folded is not None and not found.all():
            found |= folded.resolves_each(group, times, window)
        resolved[index] = found
    return resolved
