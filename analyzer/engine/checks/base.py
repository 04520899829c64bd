"""The protocol every check kind implements, what a check returns, and the evidence helpers
the kinds share.

A kind is one module of :mod:`analyzer.engine.checks` with one class:

* ``name`` - the ``kind = "..."`` of the rule file;
* ``keys`` - the TOML keys a check of this kind may have (the loader rejects the others);
* ``build(builder, name, values, location)`` - the typed check from its TOML table (values
  already have their ``{param}`` placeholders substituted); errors go to ``builder.error``;
* ``queries(rule_id, check)`` - the log patterns the one-pass matcher must collect for it
  (none for checks on tables);
* ``evaluate(rule_id, check, context)`` - decide it from the tables and the matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol

import numpy as np

from analyzer.engine.findings import Evidence
from analyzer.engine.matching import NO_TIME, Hit, LogQuery, MatchStore
from analyzer.engine.model import Check, Comparison, Guard, Location, Near, RecordFilter
from analyzer.engine.regex import CASE_INSENSITIVE
from analyzer.redact import redact_text
from analyzer.tables import BundleTables

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
    in_progress: CheckResult | None = None
    """Sequence checks: starts with no end yet whose budget had not elapsed at collection
    (what the check would report if they were counted)."""


@dataclass
class EvalContext:
    """What checks are decided on: the bundle's tables and the log matches of every rule."""

    tables: BundleTables
    store: MatchStore


class CheckBuilder(Protocol):
    """What the rule loader offers a kind's ``build``: validated pieces, errors with their
    ``path:line:col``."""

    def error(self, message: str, *keys: str | int) -> None: ...

    def record_filter(self, values: dict[str, Any], where: tuple[str, str]) -> RecordFilter: ...

    def pattern(self, pattern: Any, keys: tuple[str | int, ...]) -> str: ...

    def number(self, value: Any, keys: tuple[str | int, ...], kind: type) -> Any: ...

    def optional_number(self, value: Any, keys: tuple[str | int, ...]) -> float | None: ...

    def duration(self, value: Any, keys: tuple[str | int, ...]) -> float: ...

    def field_filters(self, raw: Any, keys: tuple[str | int, ...],
                      cased: bool = False) -> dict[str, str]: ...

    def comparison(self, raw: Any, keys: tuple[str | int, ...]) -> Comparison | None: ...


class CheckKind(Protocol):
    name: ClassVar[str]
    keys: ClassVar[frozenset[str]]

    def build(self, builder: CheckBuilder, name: str, values: dict[str, Any],
              location: Location) -> Check: ...

    def queries(self, rule_id: str, check: Any) -> list[LogQuery]: ...

    def evaluate(self, rule_id: str, check: Any, context: EvalContext) -> CheckResult: ...


FILTER_KEYS = frozenset({
    "sources", "levels", "threads", "prefixes", "extensions", "exclude_extensions", "where",
    "emitted_by", "cased", "exclude",
})
"""Keys of the record filter every log-based kind accepts."""


@dataclass
class LogParts:
    """What every log-based check has: the record filter, the (case-folded) pattern and
    the exclude patterns."""

    filter: RecordFilter
    pattern: str
    exclude: tuple[str, ...] = ()
    cased: bool = False


# -- shared helpers --------------------------------------------------------------------------


def filter_and_pattern(builder: CheckBuilder, kind: str, name: str,
                       values: dict[str, Any]) -> tuple[RecordFilter, str]:
    """The record filter and the pattern every log-based check has."""
    where = ("checks", name)
    record_filter = builder.record_filter(values, where)
    pattern = builder.pattern(values.get("pattern", ""), (*where, "pattern"))
    if "pattern" not in values:
        # Every log check feeds the one-pass prefilter; without a pattern it would have to
        # see every record of the bundle.
        builder.error(f"a {kind} check needs a pattern", *where)
    return record_filter, pattern


def fold_case(pattern: str, cased: bool) -> str:
    """Rule patterns are case-insensitive unless the check says ``cased = true``."""
    return pattern if cased or not pattern else CASE_INSENSITIVE + pattern


def log_parts(builder: CheckBuilder, kind: str, name: str, values: dict[str, Any]) -> LogParts:
    """The filter, pattern and excludes of a log-based check (``cased``, ``exclude``)."""
    where = ("checks", name)
    cased = values.get("cased", False)
    if not isinstance(cased, bool):
        builder.error("'cased' must be true or false", *where, "cased")
        cased = False
    record_filter, pattern = filter_and_pattern(builder, kind, name, values)
    raw_exclude = values.get("exclude", [])
    if isinstance(raw_exclude, str):
        raw_exclude = [raw_exclude]
    if not isinstance(raw_exclude, list) or not all(isinstance(p, str) for p in raw_exclude):
        builder.error("'exclude' must be a pattern or a list of patterns", *where, "exclude")
        raw_exclude = []
    exclude = tuple(fold_case(builder.pattern(p, (*where, "exclude")), cased)
                    for p in raw_exclude)
    return LogParts(record_filter, fold_case(pattern, cased), tuple(p for p in exclude if p),
                    cased)


def window_seconds(builder: CheckBuilder, name: str, values: dict[str, Any],
                   default: float | None) -> float | None:
    """``within = "72h"`` (or the older ``within_hours`` / ``within_minutes`` numbers) in
    seconds; ``default`` when none is given."""
    where = ("checks", name)
    given = [k for k in ("within", "within_hours", "within_minutes") if k in values]
    if len(given) > 1:
        builder.error(f"give one of {', '.join(given)}, not several", *where, given[1])
    if "within" in values:
        return float(builder.duration(values["within"], (*where, "within")))
    if "within_hours" in values:
        return float(builder.number(values["within_hours"], (*where, "within_hours"),
                                    float)) * 3600
    if "within_minutes" in values:
        return float(builder.number(values["within_minutes"], (*where, "within_minutes"),
                                    float)) * 60
    return default


def guard_of(builder: CheckBuilder, name: str, values: dict[str, Any], cased: bool,
             group_by: str) -> Guard | None:
    """``unless_preceded_by = { pattern = '...', within = "10m", same_group = true }``."""
    raw = values.get("unless_preceded_by")
    if raw is None:
        return None
    keys = ("checks", name, "unless_preceded_by")
    if isinstance(raw, str):
        raw = {"pattern": raw}
    if not isinstance(raw, dict) or "pattern" not in raw:
        builder.error("unless_preceded_by needs a pattern (and optionally within, "
                      "same_group)", *keys)
        return None
    unknown = set(raw) - {"pattern", "within", "same_group"}
    if unknown:
        builder.error(f"unknown key {sorted(unknown)[0]!r} in unless_preceded_by; valid keys: "
                      "pattern, within, same_group", *keys)
    same_group = bool(raw.get("same_group", False))
    if same_group and not group_by:
        builder.error("unless_preceded_by.same_group needs the check's group_by", *keys)
    pattern = fold_case(builder.pattern(raw["pattern"], keys), cased)
    within = builder.duration(raw.get("within", "10m"), keys)
    return Guard(pattern, float(within), same_group)


def near_of(builder: CheckBuilder, name: str, values: dict[str, Any],
            cased: bool) -> Near | None:
    """``near = { pattern = '...', lines = 3, within = "2s" }`` (an adjacency join)."""
    raw = values.get("near")
    if raw is None:
        return None
    keys = ("checks", name, "near")
    if not isinstance(raw, dict) or "pattern" not in raw:
        builder.error("near needs a pattern and lines and/or within", *keys)
        return None
    unknown = set(raw) - {"pattern", "lines", "within"}
    if unknown:
        builder.error(f"unknown key {sorted(unknown)[0]!r} in near; valid keys: pattern, "
                      "lines, within", *keys)
    lines = int(builder.number(raw.get("lines", 0), keys, int))
    seconds = float(builder.duration(raw["within"], keys)) if "within" in raw else 0.0
    if not lines and not seconds:
        builder.error("near needs lines (> 0) or within", *keys)
    return Near(fold_case(builder.pattern(raw["pattern"], keys), cased), lines, seconds)


def window_start(tables: BundleTables, seconds: float | None) -> float | None:
    if seconds is None or tables.collected_at is None:
        return None
    return (tables.collected_at - timedelta(seconds=seconds)).timestamp()


@dataclass(frozen=True)
class GuardRecords:
    """The guard records of a check (``unless_preceded_by``): their times and groups, the
    groups renumbered to the check's own (-2: a group the check never saw). Records folded
    per minute stand here as their row's first and last time: for a guard of a minute or
    more the answers are those of every record (see :meth:`explains`)."""

    times: Any
    groups: Any

    def explains(self, times: Any, groups: Any, guard: Guard) -> Any:
        """For each record (``times``, ``groups``: arrays of the same length), whether a guard
        record came at most ``guard.within`` seconds before it or at the same time (of its
        group, when the guard asks for it). One binary search per record, in numpy: a
        failing VM can have millions of both.

        Folded rows: a guard record of a minute row at or before ``t`` lies within
        ``within`` of ``t`` when that minute's last record (at or before ``t``) does, or, if
        the row reaches past ``t``, its first record does (both in one minute with ``t``)."""
        times = np.asarray(times, dtype=np.float64)
        found, latest = self._latest_at_or_before(times, groups, guard.same_group)
        return found & (latest >= times - guard.within)

    def covers(self, first: Any, last: Any, groups: Any, guard: Guard) -> Any:
        """For rows of records folded per minute (their ``first`` and ``last`` times),
        whether one guard record explains every record of the row: the latest at or before
        its first is at most ``within`` before its last. A row this cannot show counts
        whole (more records, never fewer)."""
        first = np.asarray(first, dtype=np.float64)
        found, latest = self._latest_at_or_before(first, groups, guard.same_group)
        return found & (latest >= np.asarray(last, dtype=np.float64) - guard.within)

    def explains_one(self, time: float, group: int, guard: Guard) -> bool:
        return bool(self.explains(np.array([time]), np.array([group]), guard)[0])

    def _latest_at_or_before(self, times: Any, groups: Any, same_group: bool
                             ) -> tuple[Any, Any]:
        """Whether a guard record is at or before each time, and the latest such."""
        found = np.zeros(len(times), dtype=bool)
        latest = np.full(len(times), NO_TIME, dtype=np.float64)
        if not len(times) or not len(self.times):
            return found, latest
        if not same_group:
            return _latest_of(times, np.sort(self.times))
        groups = np.asarray(groups, dtype=np.int64)
        order = np.lexsort((self.times, self.groups))
        guard_times, guard_groups = self.times[order], self.groups[order]
        by_group = np.argsort(groups, kind="stable")
        cuts = np.flatnonzero(np.diff(groups[by_group])) + 1
        for part in np.split(by_group, cuts):
            group = groups[part[0]]
            low, high = np.searchsorted(guard_groups, [group, group + 1])
            found[part], latest[part] = _latest_of(times[part], guard_times[low:high])
        return found, latest


def _latest_of(times: Any, guards: Any) -> tuple[Any, Any]:
    """For each time: whether one of ``guards`` (sorted) is at or before it, and the latest
    such (an undated record, -inf, finds an undated guard only)."""
    latest = np.full(len(times), NO_TIME, dtype=np.float64)
    if not len(guards):
        return np.zeros(len(times), dtype=bool), latest
    at = np.searchsorted(guards, times, side="right") - 1
    found = at >= 0
    latest[found] = guards[at[found]]
    return found, latest


def guard_records(store: MatchStore, key: tuple[str, str],
                  group_names: dict[str, int]) -> GuardRecords:
    """The guard records of a check, groups renumbered to the check's own."""
    guards = store.sequences.get(key)
    if guards is None:
        return GuardRecords(np.zeros(0, dtype=np.float64), np.zeros(0, dtype=np.int64))
    names = {index: name for name, index in guards.group_names.items()}
    unnamed = group_names.get("", -2)  # an index the store never named reads as ""
    renumbered = np.array([group_names.get(names.get(index, ""), -2)
                           for index in range(max(names, default=-1) + 1)] + [unnamed],
                          dtype=np.int64)
    times = np.frombuffer(guards.end_times, dtype=np.float64)
    groups = np.frombuffer(guards.end_groups, dtype=np.int32).astype(np.int64)
    folded = guards.folded_ends
    if folded is not None:  # each minute row as its first and last record
        times = np.concatenate((times, folded.first, folded.last))
        groups = np.concatenate((groups, np.tile(folded.groups.astype(np.int64), 2)))
    groups = renumbered[np.where((groups >= 0) & (groups < len(renumbered) - 1), groups, -1)]
    return GuardRecords(times.astype(np.float64, copy=True), groups)


def short(stamp: datetime | None) -> str:
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC") if stamp else "?"


def hit_time(hit: Hit) -> float:
    stamp = hit.record.timestamp
    return stamp.timestamp() if stamp is not None else NO_TIME


def from_ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


def record_evidence(hit: Hit, pattern: str = "") -> Evidence:
    """The record as proof: short records whole; in a long one (a handler's stderr, a
    traceback) the first line, then the lines around what ``pattern`` matched, with real line
    breaks and the skipped lines counted."""
    record = hit.record
    header = " ".join(p for p in (record.level, record.thread, record.prefix) if p)
    line = f"{header} {record.message}" if header else record.message
    if len(line) > EVIDENCE_TEXT_CHARS:
        line = _excerpt(line, _match_span(pattern, line))
    return Evidence(record.member, record.line, record.timestamp, redact_text(line))


EVIDENCE_CONTEXT_LINES = 2
EVIDENCE_LINE_CHARS = 300
"""Lines of context kept on each side of the match, and the most kept of one long line."""


def _match_span(pattern: str, text: str) -> tuple[int, int] | None:
    if not pattern:
        return None
    from analyzer.engine.regex import compile_pattern

    found = compile_pattern(pattern).search(text)
    if found is None:
        return None
    # Spans are byte offsets into UTF-8; map them back to characters.
    data = text.encode("utf-8", "surrogateescape")
    start = len(data[:found.start()].decode("utf-8", "surrogateescape"))
    end = len(data[:found.end()].decode("utf-8", "surrogateescape"))
    return start, end


def _excerpt(text: str, span: tuple[int, int] | None) -> str:
    lines = text.split("\n")
    if span is None:
        first, last = 0, 0
    else:
        first = text.count("\n", 0, span[0])
        last = text.count("\n", 0, max(span[0], span[1] - 1))
    low = max(0, first - EVIDENCE_CONTEXT_LINES)
    high = min(len(lines), last + EVIDENCE_CONTEXT_LINES + 1)
    if high - low > 4 * EVIDENCE_CONTEXT_LINES + 1:  # a match over many lines: its two ends
        high = low + 4 * EVIDENCE_CONTEXT_LINES + 1
    out: list[str] = []
    if low > 0:
        out.append(_clip(lines[0]))
        if low > 1:
            out.append(f"[... {low - 1} lines ...]")
    offset = sum(len(x) + 1 for x in lines[:low])
    for index in range(low, high):
        piece = lines[index]
        local = None
        if span is not None and first <= index <= last:
            local = (max(0, span[0] - offset), min(len(piece), span[1] - offset))
        out.append(_clip(piece, local))
        offset += len(piece) + 1
    if high < len(lines):
        out.append(f"[... {len(lines) - high} lines ...]")
    return "\n".join(out)


def _clip(line: str, span: tuple[int, int] | None = None) -> str:
    """One line, cut around ``span`` when it is too long."""
    if len(line) <= EVIDENCE_LINE_CHARS:
        return line
    start, end = span if span is not None else (0, 0)
    room = max(0, EVIDENCE_LINE_CHARS - (end - start)) // 2
    low = max(0, start - room)
    high = min(len(line), max(end + room, low + EVIDENCE_LINE_CHARS))
    return ("[...] " if low else "") + line[low:high] + (" [...]" if high < len(line) else "")


_VARYING = re.compile(r"0x[0-9a-fA-F]+|[0-9a-fA-F]{8}-[0-9a-fA-F-]{27}|\d+")


def evidence_shape(text: str) -> str:
    """What near-identical evidence shares: the text with numbers, ids and times blanked."""
    return _VARYING.sub("#", text)


def hits_result(name: str, hits: list[Hit], times: Any, detail: str,
                pattern: str = "", last_first: bool = False,
                count: int | None = None) -> CheckResult:
    """A true check whose evidence is ``hits`` and whose count/span come from ``times``
    (``count``, when given: ``times`` then holds the span of hits counted per minute).

    ``last_first``: the newest hit leads the evidence list, so that a finding with more hits
    than evidence slots still shows it (a run that stopped: where it started *and* the last
    step it reached); the report sorts evidence by time again."""
    import numpy as np

    every = np.asarray(times, dtype=np.float64)
    real_times = every[every != NO_TIME]
    ordered = sorted(hits, key=lambda h: (hit_time(h), h.record.member, h.record.line))
    evidence = [record_evidence(h, pattern) for h in ordered]
    if last_first and len(evidence) > 1:
        shapes = {evidence_shape(item.text) for item in evidence[:-1]}
        if evidence_shape(evidence[-1].text) not in shapes:  # a repeat is counted, not shown
            evidence = [evidence[-1], *evidence[:-1]]
    latest = ordered[-1] if ordered else None
    return CheckResult(
        name,
        True,
        detail,
        count=len(times) if count is None else count,
        evidence=evidence,
        captures=dict(latest.captures) if latest else {},
        first=from_ts(float(real_times.min())) if len(real_times) else None,
        last=from_ts(float(real_times.max())) if len(real_times) else None,
        records_text=[h.record.message for h in ordered],
    )
