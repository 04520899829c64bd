"""One answer to "did this backup run succeed": the pairing, the table, the rules and batch."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from analyzer.engine.loader import default_rules_dir, load_rules
from analyzer.parse.log_facts import LogEvent
from analyzer.parse.snapshot_runs import (
    INTERIM,
    pair_snapshot_runs,
    run_outcome,
    run_succeeded,
)
from analyzer.pipeline import AnalyzeOptions, analyze_files

T0 = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
EXT_LOG = "var/log/azure/Microsoft.Azure.RecoveryServices.VMSnapshotLinux/extension.log"
PREFIX = "[Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0]"


def _run(start_minute: int, end_code: str | None) -> list[LogEvent]:
    start = T0 + timedelta(minutes=start_minute)
    events = [LogEvent(start, "snapshot-run", "starting daemon initially")]
    events.append(LogEvent(start + timedelta(seconds=5), "snapshot-run",
                           "Enable,success,4,Transitioning state in extension,False"))
    if end_code is not None:
        events.append(LogEvent(start + timedelta(seconds=30), "snapshot-run",
                               f"Enable,success,{end_code},,False"))
    return events


@pytest.mark.parametrize(("code", "outcome"), [
    ("0", "success"), ("1", "success"), ("3", "already processed"),
    ("2", "failed (code 2)"), ("121", "failed (code 121)"), ("402", "failed (code 402)"),
])
def test_each_final_code_has_one_outcome(code: str, outcome: str) -> None:
    assert run_outcome(code) == outcome
    assert run_succeeded(code) == (outcome == "success")


def test_runs_pair_start_and_final_code_skipping_the_interim_status() -> None:
    runs = pair_snapshot_runs(_run(0, "1") + _run(60, "121") + _run(120, None))
    assert [(r.outcome, r.duration_seconds) for r in runs] == [
        ("success", 30.0), ("failed (code 121)", 30.0), ("unfinished", None)]


def test_an_already_processed_task_is_not_a_successful_backup() -> None:
    """Code 3 ("TaskId AlreadyProcessed nothing to do") took no snapshot; the pairing used to
    call it a success while the rules did not."""
    (run,) = pair_snapshot_runs(_run(0, "3"))
    assert not run.succeeded and run.outcome == "already processed"


CODES = ("0", "1", "2", "3", "4", "11", "76", "121", "402", "556")


def test_every_snapshot_rule_end_pattern_agrees_with_the_one_answer() -> None:
    """A rule's ``then`` on the final status line either means "a later run succeeded" (the
    codes ``run_succeeded`` accepts), "the run ended" (any code but the interim 4) or, for the
    pre/post-script rule, "a later run took an application-consistent snapshot" (code 0: a
    file-system consistent fallback, code 1, does not undo a failed script)."""
    pack = load_rules([default_rules_dir()])
    patterns = [check.then for rule in pack.rules for check in rule.checks.values()
                if "Enable," in getattr(check, "then", "")]
    assert len(patterns) >= 8
    succeeded = {code for code in CODES if run_succeeded(code)}
    ended = {code for code in CODES if code != INTERIM}
    for pattern in patterns:
        regex = re.compile(pattern)
        matched = {code for code in CODES if regex.search(f"Enable,success,{code},")}
        assert matched in (succeeded, ended, {"0"}), (pattern, sorted(matched))


def test_snapshot_runs_table_is_built_without_the_timeline() -> None:
    log = "\n".join([
        f"2024-05-01 02:00:00.000000 {PREFIX}starting daemon initially",
        f"2024-05-01 02:00:05.000000 {PREFIX}Enable,success,4,Transitioning state in extension,",
        f"2024-05-01 02:00:40.000000 {PREFIX}Enable,success,0,Enable Succeeded with App "
        "Consistent Snapshot,False",
    ]) + "\n"
    analysis = analyze_files({EXT_LOG: log}, AnalyzeOptions(timeline=False, isolate=False))
    runs = analysis.tables.snapshot_runs
    assert [(r.outcome, r.duration_seconds) for r in runs] == [("success", 40.0)]
    assert analysis.report.timeline_events == []  # the HTML timeline stays opt-in
    with_timeline = analyze_files({EXT_LOG: log}, AnalyzeOptions(timeline=True, isolate=False))
    events = [e for e in with_timeline.report.timeline_events if e.kind == "snapshot-run"]
    assert [(e.label, e.duration_seconds) for e in events] == [("backup run: success", 40.0)]
