"""What a rule says about a bundle: :class:`Finding` with its :class:`Evidence`, and the
severity and category vocabularies. The report layer imports these; the engine never imports
the report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

SEVERITIES = ("critical", "high", "medium", "low", "info")
IN_PROGRESS = "in_progress"
"""``Finding.status`` of a run that had started and not finished, but whose time budget had
not elapsed when the logs were collected."""
SEVERITY_RANK = {name: rank for rank, name in enumerate(reversed(SEVERITIES))}
"""info=0 ... critical=4: higher is worse."""

CATEGORIES = (
    "network",
    "dhcp",
    "goal-state",
    "agent-outdated",
    "agent-not-running",
    "agent-crash",
    "extension-outdated",
    "extension-failure",
    "snapshot-timeout",
    "snapshot-failure",
    "resource-pressure",
    "configuration",
)


def iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if ts.microsecond else ts.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


@dataclass
class Evidence:
    member: str
    line: int | None
    timestamp: datetime | None
    text: str
    """Already redacted of secrets; still raw for the sink sanitizers. Multi-line records keep
    real line breaks (``\n``); a long record is cut to the lines around the match."""
    repeats: int = 1
    """This item stands for ``repeats`` near-identical records (same text but for numbers)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "member": self.member,
            "line": self.line,
            "timestamp": iso(self.timestamp),
            "text": self.text,
            "repeats": self.repeats,
        }


@dataclass
class Finding:
    rule: str
    category: str
    severity: str
    title: str
    message: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    evidence: list[Evidence]
    remediation: str
    references: list[str]
    guide_cause: int | None = None
    """Which cause of the troubleshooting guide (1-5) this finding belongs to, if any."""
    downranked: str = ""
    """Why the severity was lowered (known-benign noise under its threshold), if it was."""
    status: str = ""
    """``in_progress`` for a run still within its time budget at collection; else empty."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "category": self.category,
            "severity": self.severity,
            "title": self.title,
            "message": self.message,
            "count": self.count,
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "evidence": [e.to_dict() for e in self.evidence],
            "remediation": self.remediation,
            "references": list(self.references),
            "status": self.status or None,
        }
