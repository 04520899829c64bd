"""Facts about a Windows bundle that only the whole bundle can tell (computed once, after the
scan, before the rules run).

``windows_agent_silent_hours`` (``config`` table, ``source_kind = "derived"``): hours between
the last WaAppAgent.log record and the newest record of any log in the bundle. The guest
agent writes all the time it runs, so a gap while other logs (RdAgent's
TransparentInstaller.log, plugin logs) go on means the agent was stopped or hung (rule
WAA-WIN-002). Computed from the scanner's coverage, it costs nothing per line.
"""

from __future__ import annotations

from analyzer.bundle.model import SourceKind
from analyzer.parse.rows import ConfigRow
from analyzer.tables import BundleTables as BundleFacts

SILENT_HOURS = "windows_agent_silent_hours"


def derive_windows_facts(facts: BundleFacts) -> None:
    """Append the derived rows to ``facts.config`` (nothing for a bundle without WaAppAgent.log)."""
    coverage = facts.coverage.get(SourceKind.WINDOWS_AGENT_LOG)
    # The newest record of any log, not the collection time: the rule is about the agent falling
    # silent while the other logs go on (a bundle zipped days later is not a silent agent).
    collected = facts.time_end
    if coverage is None or coverage.last is None or collected is None:
        return
    members = [f.member for f in facts.files if f.kind == SourceKind.WINDOWS_AGENT_LOG]
    hours = max(0.0, (collected - coverage.last).total_seconds() / 3600)
    facts.config.append(
        ConfigRow(
            "derived",
            SILENT_HOURS,
            f"{hours:.1f}",
            members[0] if len(members) == 1 else ", ".join(members),
            coverage.lines if coverage.members == 1 else None,
        )
    )
