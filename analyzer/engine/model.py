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
    """Structured-field equality; a value starting with ``~`` is an RE2 regex searched in it,
    ``!~`` one that must not be found."""
    emitted_by: tuple[str, ...] = ()
    """Records emitted by these extensions (lower-case handler names) in any log: the
    ``[Name-Version]`` prefix, an ``Event: name=``, a handler path
    (``/var/lib/waagent/<Name>-<Version>/``) in the record, or the extension's own log folder
    (``/var/log/azure/<Name>/``)."""


@dataclass
class Guard:
    """``unless_preceded_by``: a record is not counted when one matching ``pattern`` came
    before it in the same attempt: at most ``within`` seconds earlier and, with
    ``same_group``, with the same ``group_by`` value."""

    pattern: str
    within: float
    same_group: bool = False


@dataclass
class Near:
    """``near``: a record counts only when one matching ``pattern`` is at most ``lines``
    lines away in the same file or ``seconds`` away in time (either side); the neighbour's
    captures join the record's own."""

    pattern: str
    lines: int = 0
    seconds: float = 0.0


@dataclass
class Check:
    """Base of every check; each kind (``analyzer.engine.checks.<kind>``) subclasses it."""

    name: str
    kind: ClassVar[str] = ""
    location: Location | None = field(default=None, kw_only=True)


@dataclass
class Comparison:
    field: str
    op: str
    value: str
    type: str = "string"
    """version | number | string; ops ``~``/``!~`` search ``value`` as an RE2 regex."""
    cased: bool = False
    """String compares ignore case unless the check says ``cased = true``."""
    upper: str = ""
    """The upper bound of ``op = "between"`` (``value`` is the lower one; both included)."""


@dataclass
class Grading:
    """``[severity_by]``: the finding's severity grows with its count (``count``: severity ->
    least count) and with how long it lasted (``lasting``: severity -> least seconds from
    first to last record), never below the rule's ``severity``; when the check named
    ``recovered_when`` is true (the failure was followed by a success), it is capped at
    ``recovered``."""

    count: dict[str, int] = field(default_factory=dict)
    lasting: dict[str, float] = field(default_factory=dict)
    recovered_when: str = ""
    recovered: str = ""


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
    guide_cause: int | None = None
    """Cause number (1..5) in the pt-BR troubleshooting guide."""
    evidence_limit: int = 3
    grading: Grading | None = None
    """``[severity_by]``: severity from count, persistence and recovery."""
    tests: list[RuleTest] = field(default_factory=list)
    path: Path | None = None
    raw_checks: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    """The checks as written (with ``{param}`` placeholders), to rebuild them with overrides."""
    translations: dict[str, dict[str, str]] = field(default_factory=dict)
    """``{lang: {"title": ..., "message": ...}}`` for languages other than English."""
