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

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol

from analyzer.engine.findings import Evidence
from analyzer.engine.matching import NO_TIME, Hit, LogQuery, MatchStore
from analyzer.engine.model import Check, Comparison, Location, RecordFilter
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

    def field_filters(self, raw: Any, keys: tuple[str | int, ...]) -> dict[str, str]: ...

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
})
"""Keys of the record filter every log-based kind accepts."""


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


def window_start(tables: BundleTables, hours: float | None) -> float | None:
    if hours is None or tables.collected_at is None:
        return None
    return (tables.collected_at - timedelta(hours=hours)).timestamp()


def short(stamp: datetime | None) -> str:
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC") if stamp else "?"


def hit_time(hit: Hit) -> float:
    stamp = hit.record.timestamp
    return stamp.timestamp() if stamp is not None else NO_TIME


def from_ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


def record_evidence(hit: Hit) -> Evidence:
    record = hit.record
    text = record.message
    header = " ".join(p for p in (record.level, record.thread, record.prefix) if p)
    line = f"{header} {text}" if header else text
    if len(line) > EVIDENCE_TEXT_CHARS:
        line = line[:EVIDENCE_TEXT_CHARS] + " [...]"
    return Evidence(record.member, record.line, record.timestamp, redact_text(line))


def hits_result(name: str, hits: list[Hit], times: list[float], detail: str) -> CheckResult:
    """A true check whose evidence is ``hits`` and whose count/span come from ``times``."""
    real_times = [t for t in times if t != NO_TIME]
    ordered = sorted(hits, key=lambda h: (hit_time(h), h.record.member, h.record.line))
    evidence = [record_evidence(h) for h in ordered]
    latest = ordered[-1] if ordered else None
    return CheckResult(
        name,
        True,
        detail,
        count=len(times),
        evidence=evidence,
        captures=dict(latest.captures) if latest else {},
        first=from_ts(min(real_times)) if real_times else None,
        last=from_ts(max(real_times)) if real_times else None,
        records_text=[h.record.message for h in ordered],
    )
