"""``kind = "log"``: matching records (at least ``min_count``, per group with ``group_by``),
optionally only within ``within`` (a duration) before collection, and not counting records
that ``exclude`` drops or that ``unless_preceded_by`` explains."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from analyzer.engine.checks.base import (
    FILTER_KEYS,
    CheckBuilder,
    CheckResult,
    EvalContext,
    guard_of,
    guard_records,
    hit_time,
    hits_result,
    log_parts,
    near_of,
    window_seconds,
    window_start,
)
from analyzer.engine.durations import format_duration
from analyzer.engine.matching import (
    NO_TIME,
    Accumulator,
    Hit,
    LogQuery,
    MatchStore,
    NeighbourStore,
)
from analyzer.engine.model import Check, Guard, Location, Near, RecordFilter

GUARD = "#guard"
"""Suffix of the match-store key of a check's ``unless_preceded_by`` records."""
ANCHOR, PARTNER = "#anchor", "#near"
"""Suffixes of the keys of an adjacency join's two sides."""


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
    near: Near | None = None


class LogKind:
    name: ClassVar[str] = "log"
    keys: ClassVar[frozenset[str]] = FILTER_KEYS | {
        "kind", "description", "pattern", "min_count", "within", "within_hours", "group_by",
        "unless_preceded_by", "near"}

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
            near=near_of(builder, name, values, parts.cased),
            location=location,
        )

    def queries(self, rule_id: str, check: LogCheck) -> list[LogQuery]:
        queries = [LogQuery(rule_id, check.name, "hit", check.filter, check.pattern,
                            check.group_by, check.exclude)]
        if check.guard is not None:
            queries.append(LogQuery(rule_id, check.name + GUARD, "guard", check.filter,
                                    check.guard.pattern, check.group_by,
                                    guard_within=check.guard.within))
        if check.near is not None:
            queries.append(LogQuery(rule_id, check.name + ANCHOR, "anchor", check.filter,
                                    check.pattern, "", check.exclude))
            queries.append(LogQuery(rule_id, check.name + PARTNER, "partner",
                                    RecordFilter(sources=check.filter.sources),
                                    check.near.pattern, ""))
        return queries

    def evaluate(self, rule_id: str, check: LogCheck, context: EvalContext) -> CheckResult:
        acc = context.store.accumulators.get((rule_id, check.name))
        if acc is None or acc.count == 0:
            return CheckResult(check.name, False, "no matching record")
        since = window_start(context.tables, check.within)
        # A record with no time of its own (the orphan lines an excerpt or a rotated file starts
        # with) has an unknown age, not an old one: the window cannot exclude it.
        times = np.frombuffer(acc.times, dtype=np.float64)
        chosen = (np.arange(len(times)) if since is None
                  else np.flatnonzero((times >= since) | (times == NO_TIME)))
        selected: Any = chosen  # indices into the check's hits, in numpy throughout: a
        # failing VM can bring millions, and a Python object each cost the evaluation 400 MB
        window_note = (f" in the last {format_duration(check.within)}"
                       if since is not None and check.within is not None else "")
        # Hits past the exact cap, counted per minute (never for a guard under a minute).
        folded, boundary_whole = (acc.folded.since(since) if acc.folded is not None
                                  else (None, False))
        folded_note = _folded_note(acc, boundary_whole)
        if not len(selected) and (folded is None or not folded.total):
            return CheckResult(check.name, False,
                               f"{acc.count} matching records, none{window_note}")
        joined: _Join | None = None
        near_note = ""
        if check.near is not None:
            joined = _Join(context.store, rule_id, check.name, check.near)
            if joined.aligned_with(acc):
                selected = selected[joined.has_partner(selected)]
            elif joined.capped:
                # Past the cap the join's sides stop: a hit without a neighbour among the
                # records kept may have one among those dropped, so every hit counts.
                if joined.nothing_to_join():
                    selected = selected[:0]
                    folded = None
                else:
                    near_note = (f" (past {joined.cap:,} records, not each checked for a "
                                 f"neighbour matching near.pattern)")
            if not len(selected) and (folded is None or not folded.total):
                return CheckResult(check.name, False,
                                   f"{acc.count} matching records, none with a neighbour "
                                   f"matching near.pattern")
        guard_note = ""
        guards = None
        if check.guard is not None:
            guards = guard_records(context.store, (rule_id, check.name + GUARD),
                                   acc.group_names)
            chosen_now = np.asarray(selected, dtype=np.int64)
            explained = guards.explains(times[chosen_now], np.frombuffer(
                acc.groups, dtype=np.int32)[chosen_now], check.guard)
            kept = chosen_now[~explained]
            before = len(selected) + (folded.total if folded is not None else 0)
            if folded is not None:  # a minute row goes when one guard record explains it all
                folded = folded.where(~guards.covers(folded.first, folded.last, folded.groups,
                                                     check.guard))
            after = len(kept) + (folded.total if folded is not None else 0)
            if after < before:
                guard_note = f" ({before - after} more explained by a record just before them)"
            if not after:
                return CheckResult(check.name, False,
                                   f"{before} matching records{window_note}, all "
                                   f"preceded within {format_duration(check.guard.within)} "
                                   f"by one matching unless_preceded_by")
            selected = kept
        if check.group_by:
            group_of = np.frombuffer(acc.groups, dtype=np.int32)
            values, counts = np.unique(group_of[selected], return_counts=True)
            per_group = Counter(dict(zip(values.tolist(), counts.tolist(), strict=True)))
            if folded is not None:
                per_group.update(folded.per_group())
            groups = {g for g, n in per_group.items() if n >= check.min_count}
            best = max(per_group.values())
            if not groups:
                return CheckResult(
                    check.name,
                    False,
                    f"at most {best} matching records per "
                    f"{check.group_by}{window_note}, needed {check.min_count}{folded_note}",
                )
            selected = selected[np.isin(group_of[selected],
                                        np.fromiter(groups, dtype=np.int32, count=len(groups)))]
            if folded is not None:
                folded = folded.in_groups(groups)
            hits = [acc.group_samples[g] for g in sorted(groups) if g in acc.group_samples]
            hits += [h for h in acc.samples() if h.group in groups and h not in hits]
        else:
            total = len(selected) + (folded.total if folded is not None else 0)
            if total < check.min_count:
                return CheckResult(
                    check.name,
                    False,
                    f"{total} matching records{window_note}, needed {check.min_count}"
                    f"{folded_note}",
                    count=total,
                )
            hits = acc.samples()
        if since is not None:
            hits = [h for h in hits if hit_time(h) >= since] or hits
        if check.guard is not None and guards is not None:
            guard = check.guard
            hits = [h for h in hits
                    if not guards.explains_one(hit_time(h), h.group, guard)] or hits
        if joined is not None:
            hits = [_with_neighbour(h, found) for h in hits
                    if (found := joined.partner_captures(h.record.member, h.record.line))
                    is not None] or hits
        kept_times = times[np.asarray(selected, dtype=np.int64)]
        total = len(selected)
        if folded is not None:
            kept_times = np.concatenate((kept_times, folded.span()))
            total += folded.total
        return hits_result(
            check.name,
            hits,
            kept_times,
            f"{total} matching records{window_note}{guard_note}{folded_note}{near_note}",
            check.pattern,
            count=total,
        )


def _folded_note(acc: Accumulator, boundary_whole: bool) -> str:
    """What the detail says when hits past the exact cap were counted per minute."""
    if acc.folded is None:
        return ""
    note = f" (past {acc.exact_cap:,} records counted per minute"
    return note + (", the minute the window starts in counted whole)" if boundary_whole
                   else ")")


class _Join:
    """An adjacency join (``near``) resolved for every record of the check: the nearest
    partner of each (by lines in the same member, else by time; the lowest index on a tie),
    as arrays. Binary searches in numpy: a failing VM can log millions of both sides, and a
    Python object per record cost the evaluation hundreds of megabytes."""

    def __init__(self, store: MatchStore, rule_id: str, name: str, near: Near) -> None:
        self.anchors = store.neighbours.get((rule_id, name + ANCHOR))
        self.partners = store.neighbours.get((rule_id, name + PARTNER))
        self.best = np.zeros(0, dtype=np.int64)
        """Per anchor record: the index of its partner record, -1 for none."""
        if (self.anchors is not None and self.partners is not None and self.anchors.times
                and self.partners.times):
            self.best = _nearest_partners(self.anchors, self.partners, near)
        self._joined: Any = None
        """The anchors that have a partner, and their (member, line) keys: built once, for
        the few evidence records asked about."""
        self._keys: Any = None

    def aligned_with(self, acc: Accumulator) -> bool:
        """Whether the anchors are the check's hits, one for one (and every record of both
        sides was kept)."""
        return (self.anchors is not None and not self.capped and acc.folded is None
                and len(self.anchors.times) == len(acc.times))

    @property
    def capped(self) -> bool:
        """Whether either side stopped at its cap (:class:`NeighbourStore`)."""
        return any(side is not None and side.dropped for side in (self.anchors, self.partners))

    @property
    def cap(self) -> int:
        return max((side.cap for side in (self.anchors, self.partners) if side is not None),
                   default=0)

    def nothing_to_join(self) -> bool:
        """No partner record was ever seen: no hit has a neighbour."""
        return self.partners is None or (not self.partners.times and not self.partners.dropped)

    def has_partner(self, selected: Any) -> Any:
        if not len(self.best):
            return np.zeros(len(selected), dtype=bool)
        return self.best[selected] >= 0

    def partner_captures(self, member: str, line: int) -> dict[str, str] | None:
        """The captures of the partner of the record at (member, line) (of the last such
        anchor with one), or None when it has none."""
        if self.anchors is None or self.partners is None or not len(self.best):
            return None
        index = self.anchors.member_names.get(member)
        if index is None:
            return None
        if self._keys is None:
            self._joined = np.flatnonzero(self.best >= 0)
            members = np.frombuffer(self.anchors.members, dtype=np.int32)[self._joined]
            lines = np.frombuffer(self.anchors.lines, dtype=np.int64)[self._joined]
            self._keys = (members.astype(np.int64) << 40) | lines
        found = np.flatnonzero(self._keys == ((index << 40) | line))
        if not len(found):
            return None
        partner = int(self.best[self._joined[found[-1]]])
        return self.partners.captures.get(partner, {})


def _nearest_partners(anchors: NeighbourStore, partners: NeighbourStore, near: Near) -> Any:
    """For each anchor record, the index of its nearest partner record (-1: none)."""
    best = np.full(len(anchors.times), -1, dtype=np.int64)
    anchor_members = np.frombuffer(anchors.members, dtype=np.int32)
    if near.lines:
        anchor_lines = np.frombuffer(anchors.lines, dtype=np.int64).astype(np.float64)
        partner_members = np.frombuffer(partners.members, dtype=np.int32)
        partner_lines = np.frombuffer(partners.lines, dtype=np.int64).astype(np.float64)
        for member, index in anchors.member_names.items():
            mine = np.flatnonzero(anchor_members == index)
            other = partners.member_names.get(member)
            if other is None or not len(mine):
                continue
            theirs = np.flatnonzero(partner_members == other)
            best[mine] = _nearest(partner_lines[theirs], theirs, anchor_lines[mine],
                                  float(near.lines), skip_equal=True)
    if near.seconds:
        unjoined = np.flatnonzero(best < 0)
        best[unjoined] = _nearest(np.frombuffer(partners.times, dtype=np.float64),
                                  np.arange(len(partners.times)),
                                  np.frombuffer(anchors.times, dtype=np.float64)[unjoined],
                                  near.seconds, skip_equal=False)
    return best


def _nearest(values: Any, indices: Any, wanted: Any, most: float, skip_equal: bool) -> Any:
    """For each of ``wanted``: of the ``values`` at most ``most`` away (not equal to it when
    ``skip_equal``), the ``indices`` entry of the nearest, the lowest on a tie; -1: none.
    Equal values (-inf included: undated) are at distance 0."""
    order = np.lexsort((indices, values))
    values, indices = values[order], indices[order]
    firsts = np.concatenate(([True], values[1:] != values[:-1]))
    values, indices = values[firsts], indices[firsts]  # each value with its lowest index
    below = np.searchsorted(values, wanted, side="left" if skip_equal else "right") - 1
    above = np.searchsorted(values, wanted, side="right" if skip_equal else "left")

    def distance(at: Any) -> Any:
        inside = (at >= 0) & (at < len(values))
        found = values[np.clip(at, 0, len(values) - 1)]
        with np.errstate(invalid="ignore"):  # -inf - -inf: equal, so 0 below
            gap = np.where(found == wanted, 0.0, np.abs(found - wanted))
        return np.where(inside & (gap <= most), gap, np.inf)

    low_gap, high_gap = distance(below), distance(above)
    low_index = indices[np.clip(below, 0, len(values) - 1)]
    high_index = indices[np.clip(above, 0, len(values) - 1)]
    chosen = np.where(low_gap < high_gap, low_index,
                      np.where(high_gap < low_gap, high_index,
                               np.minimum(low_index, high_index)))
    return np.where(np.isfinite(np.minimum(low_gap, high_gap)), chosen, -1)


def _with_neighbour(hit: Hit, extra: dict[str, str]) -> Hit:
    return Hit(hit.record, {**extra, **hit.captures}, hit.group)


__all__ = ["LogCheck", "LogKind", "NeighbourStore"]
