"""Typed rule objects, produced by :mod:`analyzer.engine.loader` from ``rules/**/<ID>.toml``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from analyzer.engine.condition import Condition


@dataclass(frozen=True)
class Location:
    """Where something is in a rule file, for ``path:line:col: message`` errors."""

    path: Path
    line: int = 1
    col: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


@dataclass
class RecordFilter:
    """Filters a log record must pass before a check's pattern is tried."""

    sources: tuple[str, ...] = ("waagent_log",)
    levels: tuple[str, ...] = ()
    threads: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()
    exclude_extensions: tuple[str, ...] = ()
    where: dict[str, str] = field(default_factory=dict)
    """Structured-field equality; a value starting with ``~`` is an RE2 regex searched in it."""


@dataclass
class Check:
    name: str
    kind: ClassVar[str] = ""
    location: Location | None = field(default=None, kw_only=True)


@dataclass
class LogCheck(Check):
    """True when at least ``min_count`` records match (per group when ``group_by`` is set)."""

    kind: ClassVar[str] = "log"
    filter: RecordFilter = field(default_factory=RecordFilter)
    pattern: str = ""
    min_count: int = 1
    within_hours: float | None = None
    group_by: str = ""


@dataclass
class AbsenceCheck(Check):
    """True when the logs cover the last ``within_hours`` before collection and no record in
    that window matches (e.g. no heartbeat)."""

    kind: ClassVar[str] = "absence"
    filter: RecordFilter = field(default_factory=RecordFilter)
    pattern: str = ""
    within_hours: float = 6.0


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


@dataclass
class Comparison:
    field: str
    op: str
    value: str
    type: str = "string"
    """version | number | string; ops ``~``/``!~`` search ``value`` as an RE2 regex."""


@dataclass
class TableCheck(Check):
    """True when some row of a fact table matches (``mode = "any"``) or none does (``"none"``)."""

    kind: ClassVar[str] = "table"
    table: str = "extensions"
    where: dict[str, str] = field(default_factory=dict)
    compare: Comparison | None = None
    mode: str = "any"
    latest_by: str = ""
    """Only look at the newest row per value of this field (e.g. the current version of each
    extension), newest by timestamp then by bundle order."""


@dataclass
class RuleTest:
    name: str
    expect: list[str]
    files: dict[str, str]
    evidence_lines: list[int] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    location: Location | None = None


@dataclass
class Rule:
    id: str
    title: str
    category: str
    severity: str
    description: str
    message: str
    condition: Condition
    condition_text: str
    checks: dict[str, Check]
    remediation: dict[str, str]
    references: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    seed_cause: int | None = None
    evidence_limit: int = 3
    tests: list[RuleTest] = field(default_factory=list)
    path: Path | None = None
    raw_checks: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    """The checks as written (with ``{param}`` placeholders), to rebuild them with overrides."""
    translations: dict[str, dict[str, str]] = field(default_factory=dict)
    """``{lang: {"title": ..., "message": ...}}`` for languages other than English."""
