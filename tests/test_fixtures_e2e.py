"""Every fixture bundle, analysed end to end, gives the findings fixtures/expected.toml lists."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from analyzer.pipeline import AnalyzeOptions, analyze_path
from analyzer.report.model import SEVERITY_RANK

REPO = Path(__file__).resolve().parents[1]
EXPECTED = tomllib.loads((REPO / "fixtures" / "expected.toml").read_text(encoding="utf-8"))
BUNDLES = EXPECTED.get("bundle", [])


@pytest.mark.parametrize("case", BUNDLES, ids=[b["path"] for b in BUNDLES])
def test_fixture_bundle(case: dict) -> None:  # type: ignore[type-arg]
    analysis = analyze_path(REPO / "fixtures" / "bundles" / case["path"], AnalyzeOptions())
    report = analysis.report
    fired = {f.rule: f for f in report.findings}
    missing = [rule for rule in case.get("fires", []) if rule not in fired]
    assert not missing, f"expected to fire: {missing}; fired: {sorted(fired)}"
    unexpected = [rule for rule in case.get("must_not_fire", []) if rule in fired]
    assert not unexpected, f"must not fire: {unexpected}"
    if "max_severity" in case:
        worst = report.worst_severity
        assert worst is None or SEVERITY_RANK[worst] <= SEVERITY_RANK[case["max_severity"]], [
            (f.rule, f.severity) for f in report.findings
        ]
    for expected in case.get("evidence", []):
        finding = fired[expected["rule"]]
        lines = [(e.member, e.line) for e in finding.evidence]
        assert any(
            member.endswith(expected["member_endswith"]) and line == expected["line"]
            for member, line in lines
        ), (expected, lines)
    assert not [p for p in report.bundle.problems if "internal" in p.message]
