"""The report every renderer draws from. Its ``to_dict`` is the published JSON contract
``waagent-analyzer/report/v1`` (see README, "JSON report")."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from analyzer.engine.findings import (  # noqa: F401  (the report's vocabulary, re-exported)
    CATEGORIES,
    SEVERITIES,
    SEVERITY_RANK,
    Evidence,
    Finding,
    iso,
)

SCHEMA = "waagent-analyzer/report/v1"
RULES_MEMBER = "<rules>"
"""The ``member`` of a rule-load problem in the JSON report's ``problems``."""


@dataclass
class ExtensionSummary:
    name: str
    version: str
    state: str
    source: str


@dataclass
class FileSummary:
    member: str
    kind: str
    size: int


@dataclass
class ProblemSummary:
    member: str
    message: str


@dataclass
class BundleSummary:
    source: str
    sha256: str
    collected_at: datetime | None
    time_start: datetime | None
    time_end: datetime | None
    daemon_versions: list[str] = field(default_factory=list)
    goal_state_agent_versions: list[str] = field(default_factory=list)
    extensions: list[ExtensionSummary] = field(default_factory=list)
    files: list[FileSummary] = field(default_factory=list)
    problems: list[ProblemSummary] = field(default_factory=list)
    collected_at_source: str = ""
    """How ``collected_at`` is known: collector | archive | member_mtime | newest_line."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "sha256": self.sha256,
            "collected_at": iso(self.collected_at),
            "collected_at_source": self.collected_at_source or None,
            "time_range": {"start": iso(self.time_start), "end": iso(self.time_end)},
            "agent": {
                "daemon_versions": list(self.daemon_versions),
                "goal_state_agent_versions": list(self.goal_state_agent_versions),
            },
            "extensions": [
                {"name": e.name, "version": e.version, "state": e.state, "source": e.source}
                for e in self.extensions
            ],
            "files": [{"member": f.member, "kind": f.kind, "size": f.size} for f in self.files],
            "problems": [{"member": p.member, "message": p.message} for p in self.problems],
        }


@dataclass
class TimelinePoint:
    """Data for the HTML timeline; not part of the JSON contract."""

    hour: datetime
    level: str
    count: int


@dataclass
class TimelineEvent:
    timestamp: datetime
    kind: str
    """agent-start, agent-crash, goal-state, extension-op, snapshot-run."""
    label: str
    duration_seconds: float | None = None
    outcome: str = ""


@dataclass
class Report:
    tool_name: str
    tool_version: str
    bundle: BundleSummary
    findings: list[Finding]
    lang: str = "en"
    rule_errors: list[str] = field(default_factory=list)
    timeline_counts: list[TimelinePoint] = field(default_factory=list)
    timeline_events: list[TimelineEvent] = field(default_factory=list)
    agent_history: list[tuple[datetime | None, str, str]] = field(default_factory=list)
    """(timestamp, role, version) for the "versions over time" section."""
    not_checked: list[Any] = field(default_factory=list)
    """:class:`analyzer.checkable.NotChecked` groups: rules whose sources were all missing."""
    missing_sources: list[str] | None = None
    """Self-check only: the VM sources it looked for and did not find."""
    passed: list[str] | None = None
    """Self-check only: ids of the rules that were checked and did not fire."""

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(SEVERITIES, 0)
        for finding in self.findings:
            counts[finding.severity] += 1
        return counts

    @property
    def worst_severity(self) -> str | None:
        present = [f.severity for f in self.findings]
        if not present:
            return None
        return max(present, key=SEVERITY_RANK.__getitem__)

    def sorted_findings(self) -> list[Finding]:
        return sorted(
            self.findings,
            key=lambda f: (-SEVERITY_RANK[f.severity], f.category, f.rule),
        )

    def _bundle_dict(self) -> dict[str, Any]:
        """Rule-load problems join the input problems: a reader of ``problems`` sees both."""
        bundle = self.bundle.to_dict()
        bundle["problems"].extend(
            {"member": RULES_MEMBER, "message": error} for error in self.rule_errors
        )
        return bundle

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "tool": {"name": self.tool_name, "version": self.tool_version},
            "bundle": self._bundle_dict(),
            "findings": [f.to_dict() for f in self.sorted_findings()],
            "summary": {"worst_severity": self.worst_severity, "counts": self.counts},
            "coverage": self._coverage_dict(),
        }

    def _coverage_dict(self) -> dict[str, Any]:
        coverage: dict[str, Any] = {
            "not_checked": [group.to_dict() for group in self.not_checked]}
        if self.missing_sources is not None:
            coverage["missing_sources"] = list(self.missing_sources)
        if self.passed is not None:
            coverage["passed"] = list(self.passed)
        return coverage
