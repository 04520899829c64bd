"""Assemble the :class:`~analyzer.report.model.Report` from the tables and the rule outcomes.

Everything here is bounded by the tables' caps: the report holds at most the capped rows'
summaries, the findings (evidence is capped per rule) and the capped timeline events.
"""

from __future__ import annotations

from datetime import UTC, datetime

from analyzer import __version__
from analyzer.combine import agent_versions, current_extensions
from analyzer.engine.evaluate import RuleOutcome
from analyzer.engine.loader import RulePack
from analyzer.parse.snapshot_runs import SnapshotRunRow
from analyzer.parse.timeutil import UNIX_EPOCH
from analyzer.report.model import (
    BundleSummary,
    ExtensionSummary,
    FileSummary,
    ProblemSummary,
    Report,
    TimelineEvent,
    TimelinePoint,
)
from analyzer.tables import BundleTables

TOOL_NAME = "waagent-analyzer"


def build_report(
    tables: BundleTables, outcomes: list[RuleOutcome], pack: RulePack, lang: str,
    timeline: bool,
) -> Report:
    bundle = BundleSummary(
        source=tables.source,
        sha256=tables.sha256,
        collected_at=tables.collected_at,
        collected_at_source=tables.collected_at_source,
        time_start=tables.time_start,
        time_end=tables.time_end,
        daemon_versions=agent_versions(tables, "daemon"),
        # The Windows guest agent is the goal-state agent of a Windows VM.
        goal_state_agent_versions=agent_versions(tables, "goal_state_agent")
        + agent_versions(tables, "windows_guest_agent"),
        extensions=[ExtensionSummary(e.name, e.version, e.state, e.member)
                    for e in current_extensions(tables)],
        files=[FileSummary(f.member, f.kind, f.size) for f in tables.files],
        problems=[ProblemSummary(p.member, p.message) for p in tables.problems],
    )
    report = Report(
        TOOL_NAME,
        __version__,
        bundle,
        [o.finding for o in outcomes if o.finding is not None],
        lang=lang,
    )
    report.rule_errors.extend(str(e) for e in pack.errors)
    report.rule_errors.extend(f"{o.rule.id}: {o.error}" for o in outcomes if o.error)
    report.timeline_counts = [
        TimelinePoint(stamp, level, count)
        for (hour, level), count in sorted(tables.hourly.items())
        if (stamp := _hour(hour)) is not None
    ]
    if timeline:
        report.timeline_events = timeline_events(tables)
    history = [
        (a.timestamp, a.role, a.value)
        for a in tables.agent
        if a.role in ("daemon", "goal_state_agent", "windows_guest_agent")
    ]
    report.agent_history = sorted(history,
                                  key=lambda item: (item[0] is None, item[0] or UNIX_EPOCH))
    return report


def timeline_events(tables: BundleTables) -> list[TimelineEvent]:
    """The dated events, with each backup run as one event (start, duration, outcome) taken
    from the ``snapshot_runs`` table."""
    events = [TimelineEvent(e.timestamp, e.kind, e.label)
              for e in tables.events if e.kind != "snapshot-run"]
    events += [_run_event(run) for run in tables.snapshot_runs]
    return sorted(events, key=lambda e: e.timestamp)


def _run_event(run: SnapshotRunRow) -> TimelineEvent:
    label = "backup run: no end in the log" if run.end is None else f"backup run: {run.outcome}"
    return TimelineEvent(run.start, "snapshot-run", label, run.duration_seconds, run.outcome)


def _hour(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H").replace(tzinfo=UTC)
    except ValueError:
        return None
