"""Whole backup-extension runs, era by era (fixtures/backup_runs), through the full analysis.

Each scenario is a run assembled from the message templates of one era of VMSnapshotLinux
(2016 double-stamped Python 2 lines up to the 2024 UTC Python 3 lines), with the agent's lines
about the handler, its status file, or the same lines copied into waagent.log, a serial
console, syslog or the journal. A positive scenario passes when each rule a support engineer
expects fires at medium or above; a healthy run (with its benign warnings) and a run still in
progress at collection must raise nothing at medium or above.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, timezone

import pytest

from analyzer.parse.timeutil import set_local_zone
from analyzer.pipeline import AnalyzeOptions, analyze_files
from analyzer.report.model import SEVERITY_RANK
from fixtures.backup_runs.runs import ERAS
from fixtures.backup_runs.scenarios import Scenario, all_scenarios

SCENARIOS = all_scenarios()
MEDIUM = SEVERITY_RANK["medium"]


def _fired(scenario: Scenario) -> dict[str, str]:
    """Rules at medium or above; the VM's zone is given as ``--vm-timezone`` would give it."""
    set_local_zone(timezone(scenario.zone))
    try:
        analysis = analyze_files(scenario.files, AnalyzeOptions(), source=scenario.name)
    finally:
        set_local_zone(UTC)
    return {f.rule: f.severity for f in analysis.report.findings
            if SEVERITY_RANK[f.severity] >= MEDIUM}


def test_every_era_has_healthy_failing_and_unfinished_runs() -> None:
    per_era = Counter(s.era for s in SCENARIOS)
    assert set(per_era) == set(ERAS)
    for era in ERAS:
        mine = [s for s in SCENARIOS if s.era == era]
        assert any(s.negative and s.name.endswith("/healthy") for s in mine), era
        assert any("stopped-after" in s.name and s.negative for s in mine), era
        assert any("WAA-SNAP-003" in s.expect for s in mine), era
        assert any("WAA-SNAP-002" in s.expect for s in mine), era
    negatives = [s for s in SCENARIOS if s.negative]
    assert len(negatives) * 5 >= len(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(scenario: Scenario) -> None:
    fired = _fired(scenario)
    missing = [rule for rule in scenario.expect if rule not in fired]
    assert not missing, f"expected {missing}; fired {fired}"
    if scenario.negative:
        assert not fired, f"false alarm on a healthy or running backup: {fired}"
    alarms = [rule for rule in scenario.absent if rule in fired]
    assert not alarms, f"must not fire: {alarms}; fired {fired}"


RUN_OUTCOMES = {"healthy": "success", "freeze-timeout": "failed", "thaw-failure": "failed",
                "snapshot-conn": "failed", "stopped-after-freeze/timed-out-logs-only": "unfinished"}


@pytest.mark.parametrize("era", sorted(ERAS))
def test_snapshot_runs_table_answers_for_every_era(era: str) -> None:
    """The one answer to "did this run succeed" pairs each era's run start (``starting
    daemon initially`` since 2022-09, plain ``starting daemon`` before) with its final status."""
    by_name = {s.name: s for s in SCENARIOS}
    for suffix, outcome in RUN_OUTCOMES.items():
        scenario = by_name[f"{era}/{suffix}"]
        set_local_zone(timezone(scenario.zone))
        try:
            analysis = analyze_files(scenario.files, AnalyzeOptions(), source=scenario.name)
        finally:
            set_local_zone(UTC)
        runs = analysis.tables.snapshot_runs
        assert len(runs) == 1, (scenario.name, runs)
        assert runs[0].outcome.startswith(outcome), (scenario.name, runs[0])
        assert (runs[0].duration_seconds is None) == (outcome == "unfinished"), scenario.name
