"""Check kinds as plug-ins: each kind is one module implementing
:class:`~analyzer.engine.checks.base.CheckKind`, registered in :data:`CHECK_KINDS`.

Adding a kind is one new module and one line here; the loader, the matcher and the evaluator
ask this registry and know no kind by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from analyzer.engine.checks.absence import AbsenceCheck, AbsenceKind
from analyzer.engine.checks.base import CheckKind, CheckResult, EvalContext
from analyzer.engine.checks.log import LogCheck, LogKind
from analyzer.engine.checks.sequence import SequenceCheck, SequenceKind
from analyzer.engine.checks.table import TableCheck, TableKind

if TYPE_CHECKING:
    from analyzer.engine.matching import LogQuery
    from analyzer.engine.model import Rule

CHECK_KINDS: dict[str, CheckKind] = {
    kind.name: kind
    for kind in (LogKind(), AbsenceKind(), SequenceKind(), TableKind())
}
"""``kind = "..."`` of a rule file -> its implementation."""

__all__ = ["CHECK_KINDS", "AbsenceCheck", "CheckKind", "CheckResult", "EvalContext", "LogCheck",
           "SequenceCheck", "TableCheck", "log_queries", "required_sources"]


def log_queries(rules: Iterable[Rule]) -> list[LogQuery]:
    """Every log pattern the matcher must collect for these rules, in rule order."""
    return [query for rule in rules for check in rule.checks.values()
            for query in CHECK_KINDS[check.kind].queries(rule.id, check)]


def required_sources(rule: Rule) -> dict[str, tuple[str, ...]]:
    """What each check of a rule reads: log source kinds (``waagent_log``, ...) for checks on
    records, ``table:<name>`` for checks on a table. A rule whose checks' sources are all
    missing from a bundle could not be checked (the report says so instead of implying
    health)."""
    needs: dict[str, tuple[str, ...]] = {}
    for name, check in rule.checks.items():
        if isinstance(check, TableCheck):
            needs[name] = (f"table:{check.table}",)
        else:
            needs[name] = tuple(getattr(getattr(check, "filter", None), "sources", ()))
    return needs
