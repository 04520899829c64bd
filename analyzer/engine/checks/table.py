"""``kind = "table"``: some row of a table matches (``mode = "any"``) or none does
(``"none"``), optionally only the newest row per ``latest_by`` value.

Rows are read where they are (attributes of the row dataclasses): a check never copies a
table, so its cost is one pass over the (capped) rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from analyzer.engine.agent_releases import superseded_days
from analyzer.engine.checks.base import (
    EVIDENCE_TEXT_CHARS,
    CheckBuilder,
    CheckResult,
    EvalContext,
    fold_case,
)
from analyzer.engine.findings import Evidence
from analyzer.engine.matching import NO_TIME, LogQuery, where_test
from analyzer.engine.model import Check, Comparison, Location
from analyzer.engine.regex import compile_pattern
from analyzer.engine.versions import compare_versions
from analyzer.parse.rows import AgentRow
from analyzer.redact import redact_text
from analyzer.tables import TABLES


@dataclass
class TableCheck(Check):
    """True when some row of a table matches (``mode = "any"``) or none does (``"none"``)."""

    kind: ClassVar[str] = "table"
    table: str = "extensions"
    where: dict[str, str] = field(default_factory=dict)
    compare: Comparison | None = None
    mode: str = "any"
    latest_by: str = ""
    """Only look at the newest row per value of this field (e.g. the current version of each
    extension), newest by timestamp then by bundle order."""


class TableKind:
    name: ClassVar[str] = "table"
    keys: ClassVar[frozenset[str]] = frozenset(
        {"kind", "description", "table", "where", "compare", "mode", "latest_by", "cased"})

    def build(self, builder: CheckBuilder, name: str, values: dict[str, Any],
              location: Location) -> TableCheck:
        where = ("checks", name)
        table = values.get("table", "extensions")
        if table not in TABLES:
            builder.error(
                f"unknown table {table!r}; valid options: {', '.join(TABLES)}", *where, "table"
            )
        mode = values.get("mode", "any")
        if mode not in ("any", "none"):
            builder.error(f"unknown mode {mode!r}; valid options: any, none", *where, "mode")
        compare = None
        raw_compare = values.get("compare")
        if raw_compare is not None:
            compare = builder.comparison(raw_compare, (*where, "compare"))
        cased = values.get("cased", False) is True
        if compare is not None:
            compare.cased = cased
            if compare.op in ("~", "!~"):
                compare.value = fold_case(compare.value, cased)
        return TableCheck(
            name,
            table=table,
            where=builder.field_filters(values.get("where", {}), (*where, "where"), cased),
            compare=compare,
            mode=mode,
            latest_by=str(values.get("latest_by", "")),
            location=location,
        )

    def queries(self, rule_id: str, check: TableCheck) -> list[LogQuery]:
        return []

    def evaluate(self, rule_id: str, check: TableCheck, context: EvalContext) -> CheckResult:
        row_filter = _RowFilter(check.where)
        rows = [r for r in context.tables.rows(check.table) if row_filter(r)]
        if check.latest_by:
            rows = _latest(rows, check.latest_by)
        matching = [r for r in rows if check.compare is None
                    or _compare(r, check.compare, context)]
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
        stamps = [s for r in matching if (s := _value(r, "timestamp"))]
        captures = {
            k: str(v) for k, v in vars(matching[-1]).items()
            if isinstance(v, str | int | float) and v != ""
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


def _value(row: Any, name: str) -> Any:
    """A column of a row dataclass (``None`` for a column the table does not have)."""
    return getattr(row, name, None)


def _describe_filter(check: TableCheck) -> str:
    parts = [f"{k}={v}" for k, v in check.where.items()]
    if check.compare:
        parts.append(f"{check.compare.field} {check.compare.op} {check.compare.value}")
    return "where " + " and ".join(parts) if parts else ""


class _RowFilter:
    """``where``: equality ignoring case, an RE2 search for a value starting with ``~``, or
    one that must not be found (``!~``); patterns are compiled once per check, not per row."""

    def __init__(self, where: dict[str, str]) -> None:
        self.tests = [where_test(name, wanted) for name, wanted in where.items()]

    def __call__(self, row: Any) -> bool:
        for name, wanted, regex, negate in self.tests:
            value = _value(row, name)
            actual = "" if value is None else str(value)
            if regex is not None:
                if (regex.search(actual) is None) != negate:
                    return False
            elif actual.lower() != wanted.lower():
                return False
        return True


def _latest(rows: list[Any], key: str) -> list[Any]:
    newest: dict[str, tuple[float, int, Any]] = {}
    for order, row in enumerate(rows):
        stamp = _value(row, "timestamp")
        rank = stamp.timestamp() if isinstance(stamp, datetime) else NO_TIME
        name = str(getattr(row, key, "")).lower()
        if name not in newest or (rank, order) >= newest[name][:2]:
            newest[name] = (rank, order, row)
    return [entry[2] for entry in newest.values()]


def _derived(row: Any, name: str, context: EvalContext | None) -> Any:
    """A column computed when compared, for agent version rows: ``superseded_days`` is how
    many days before collection a newer agent release came out (see
    :mod:`analyzer.engine.agent_releases`); ``vs_running`` is -1, 0 or 1 as the row's version
    is older than, the same as or newer than the agent that runs extensions (the newest
    goal-state agent row, else the newest daemon row; None when neither is known) - e.g. a
    blacklisted version newer than the running one means the VM is stuck on the old one.
    ``age_minutes`` (any row with a timestamp) is how many minutes before collection the
    row's fact was recorded (None when either time is unknown): a status still "transitioning"
    that was written a few minutes before the bundle was taken is a run in progress, one
    written hours before is stuck.
    Other names are the row's own columns."""
    if name == "age_minutes" and context is not None:
        return _age_minutes(row, context)
    if context is None or not isinstance(row, AgentRow):
        return _value(row, name)
    if name == "superseded_days":
        return superseded_days(row.value, context.tables.collected_at)
    if name == "vs_running":
        running = _running_version(context.tables.agent)
        return None if running is None else compare_versions(row.value, running)
    return _value(row, name)


def _age_minutes(row: Any, context: EvalContext) -> float | None:
    stamp = _value(row, "timestamp")
    collected = context.tables.collected_at
    if not isinstance(stamp, datetime) or collected is None:
        return None
    return round((collected - stamp).total_seconds() / 60, 1)


def _running_version(rows: list[AgentRow]) -> str | None:
    for role in ("goal_state_agent", "daemon"):
        newest = _latest([r for r in rows if r.role == role], "role")
        if newest:
            return str(newest[0].value)
    return None


def _compare(row: Any, comparison: Comparison, context: EvalContext | None = None) -> bool:
    actual = _derived(row, comparison.field, context)
    if comparison.op in ("~", "!~"):
        found = compile_pattern(comparison.value).search("" if actual is None else str(actual))
        return (found is not None) == (comparison.op == "~")
    if actual is None or actual == "":
        return False
    if comparison.op == "between":
        low = _order(str(actual), comparison.value, comparison.type, comparison.cased)
        high = _order(str(actual), comparison.upper, comparison.type, comparison.cased)
        return low is not None and high is not None and low >= 0 and high <= 0
    order = _order(str(actual), comparison.value, comparison.type, comparison.cased)
    if order is None:
        return False
    return {
        "<": order < 0,
        "<=": order <= 0,
        ">": order > 0,
        ">=": order >= 0,
        "==": order == 0,
        "!=": order != 0,
    }[comparison.op]


def _order(actual: Any, wanted: str, kind: str, cased: bool = False) -> int | None:
    """-1, 0 or 1 as ``actual`` sorts before, with or after ``wanted``; None: not comparable."""
    comparison = Comparison("", "", wanted, kind)
    if comparison.type == "version":
        order = compare_versions(str(actual), comparison.value)
    elif comparison.type == "number":
        try:
            left, right = float(actual), float(comparison.value)
        except ValueError:
            return None
        order = (left > right) - (left < right)
    else:
        left_s, right_s = str(actual), comparison.value
        if not cased:
            left_s, right_s = left_s.lower(), right_s.lower()
        order = (left_s > right_s) - (left_s < right_s)
    return order


_ROW_TEXT = {
    "extensions": ("name", "version", "state", "status", "code", "source_kind", "message"),
    "config": ("key", "value"),
    "agent": ("role", "value"),
    "goal_states": ("document", "incarnation", "etag", "deployment", "role"),
    "files": ("logical_path", "kind", "size"),
    "snapshot_runs": ("outcome", "code", "start", "end"),
}


def _row_evidence(table: str, row: Any) -> Evidence:
    parts = [f"{name}={_value(row, name)}" for name in _ROW_TEXT[table]
             if _value(row, name) not in (None, "")]
    stamp = _value(row, "timestamp")
    member = _value(row, "member")
    return Evidence(
        str(member or ""),
        _value(row, "line"),
        stamp if isinstance(stamp, datetime) else None,
        redact_text(" ".join(parts))[:EVIDENCE_TEXT_CHARS],
    )
