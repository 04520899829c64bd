"""SARIF 2.1.0 for CI and code-scanning UIs: one run, one result per finding.

Each result points at its evidence (the member path inside the bundle, with the line); the
rules that could not be checked and the rule-load problems are tool notifications, so a
scanning UI shows that the run was partial. Severities map to SARIF levels: critical and high
are ``error``, medium ``warning``, low and info ``note``.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar
from urllib.parse import quote

from analyzer.checkable import not_checked_lines, verdict_state
from analyzer.report.model import Finding, Report, iso
from analyzer.report.verdict import Renderer
from analyzer.unicode_safe import scrub, scrub_surrogates

__all__ = ["SARIF_SCHEMA", "SarifRenderer"]

SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}


def member_uri(member: str) -> str:
    """A URI reference for a bundle member (``case.tgz!var/log/waagent.log``)."""
    return quote(scrub_surrogates(member), safe="/!._-~")


class SarifRenderer(Renderer):
    """ASCII-only JSON, like the JSON report; text fields in the report's language."""

    format: ClassVar[str] = "sarif"
    suffix: ClassVar[str] = ".sarif"
    media_type: ClassVar[str] = "application/sarif+json"

    def render(self, report: Report) -> str:
        return json.dumps(scrub(self.document(report)), ensure_ascii=True, indent=2) + "\n"

    def document(self, report: Report) -> dict[str, Any]:
        findings = report.sorted_findings()
        rule_ids = list(dict.fromkeys(f.rule for f in findings))
        first = {rule: next(f for f in findings if f.rule == rule) for rule in rule_ids}
        return {
            "$schema": SARIF_SCHEMA,
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {
                    "name": report.tool_name,
                    "version": report.tool_version,
                    "rules": [self._rule(first[rule]) for rule in rule_ids],
                }},
                "invocations": [self._invocation(report)],
                "artifacts": [
                    {"location": {"uri": member_uri(f.member)}, "length": f.size}
                    for f in report.bundle.files
                ],
                "results": [self._result(f, rule_ids.index(f.rule)) for f in findings],
                "language": self.lang,
                "properties": {
                    "bundle": report.bundle.source,
                    "sha256": report.bundle.sha256,
                    "verdict": verdict_state(report),
                    "worstSeverity": report.worst_severity,
                },
            }],
        }

    def _rule(self, finding: Finding) -> dict[str, Any]:
        rule: dict[str, Any] = {
            "id": finding.rule,
            "name": finding.rule.replace("-", ""),
            "shortDescription": {"text": finding.title},
            "defaultConfiguration": {"level": LEVELS.get(finding.severity, "warning")},
            "properties": {"category": finding.category, "severity": finding.severity},
        }
        if finding.remediation.strip():
            rule["help"] = {"text": finding.remediation.strip()}
        if finding.references:
            rule["helpUri"] = finding.references[0]
        return rule

    def _result(self, finding: Finding, index: int) -> dict[str, Any]:
        locations = []
        for evidence in finding.evidence:
            physical: dict[str, Any] = {"artifactLocation": {"uri": member_uri(evidence.member)}}
            if evidence.line is not None and evidence.line >= 1:
                physical["region"] = {"startLine": evidence.line,
                                      "snippet": {"text": evidence.text}}
            locations.append({"physicalLocation": physical})
        result: dict[str, Any] = {
            "ruleId": finding.rule,
            "ruleIndex": index,
            "level": LEVELS.get(finding.severity, "warning"),
            "message": {"text": f"{finding.title}: {finding.message}"},
            "locations": locations[:10],
            "occurrenceCount": max(finding.count, 1),
            "properties": {
                "severity": finding.severity,
                "category": finding.category,
                "firstSeen": iso(finding.first_seen),
                "lastSeen": iso(finding.last_seen),
            },
        }
        return result

    def _invocation(self, report: Report) -> dict[str, Any]:
        notes = [
            {"level": "warning", "message": {"text": f"{self.t('coverage.heading')}: {line}"},
             "descriptor": {"id": "not-checked"}}
            for line in not_checked_lines(report, self.lang)
        ]
        notes += [
            {"level": "warning", "message": {"text": f"{p.member}: {p.message}"},
             "descriptor": {"id": "input-problem"}}
            for p in report.bundle.problems
        ]
        config = [
            {"level": "error", "message": {"text": error}, "descriptor": {"id": "rule-error"}}
            for error in report.rule_errors
        ]
        invocation: dict[str, Any] = {"executionSuccessful": True}
        if notes:
            invocation["toolExecutionNotifications"] = notes
        if config:
            invocation["toolConfigurationNotifications"] = config
        return invocation
