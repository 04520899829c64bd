"""What a bundle let us check, and what it did not: the "not checked" facility.

Each rule reads some sources (the agent log, extension logs, goal-state documents, ...). The
engine infers them from the rule's checks, so no rule file has to declare them: a log check
reads the kinds in its ``sources``, a table check reads the kinds its ``source_kind`` filter
names or, without one, the kinds that feed its table. A rule none of whose sources is in the
bundle could not be checked; its silence is not an all-clear, and every report says so, grouped
by what was missing ("not checked: no agent log").

The verdict follows from it (:func:`verdict_state`): never a bare "OK" when the read stopped
early or the agent log was missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from analyzer.bundle.model import SourceKind

if TYPE_CHECKING:
    from analyzer.engine.model import Check, Rule
    from analyzer.report.model import Report
    from analyzer.tables import BundleTables as BundleFacts

__all__ = [
    "SOURCE_GROUPS",
    "NotChecked",
    "is_incomplete_read",
    "not_checked",
    "not_checked_lines",
    "rule_sources",
    "verdict_override",
    "verdict_state",
]

LIVE = "live"
"""``source_kind`` of the live facts self-check adds to the ``config`` table."""

SOURCE_GROUPS: dict[str, frozenset[str]] = {
    "agent_log": frozenset({SourceKind.WAAGENT_LOG}),
    "extension_log": frozenset({
        SourceKind.COMMAND_EXECUTION_LOG, SourceKind.VMSNAPSHOT_LOG,
        SourceKind.VMSNAPSHOT_SHELL_LOG, SourceKind.EXTENSION_LOG, SourceKind.EXTENSION_EVENTS,
    }),
    "goal_state": frozenset({
        SourceKind.GOAL_STATE, SourceKind.EXTENSIONS_CONFIG, SourceKind.HOSTING_ENV,
        SourceKind.SHARED_CONFIG, SourceKind.VM_SETTINGS,
    }),
    "extension_status": frozenset({
        SourceKind.WAAGENT_STATUS, SourceKind.HANDLER_STATE, SourceKind.HANDLER_STATUS,
        SourceKind.EXTENSION_STATUS, SourceKind.EXTENSION_SETTINGS, SourceKind.HANDLER_MANIFEST,
        SourceKind.HANDLER_ENVIRONMENT,
    }),
    "agent_config": frozenset({SourceKind.WAAGENT_CONF}),
    "backup_config": frozenset({SourceKind.VMBACKUP_CONF}),
    "dhcp_lease": frozenset({SourceKind.DHCP_LEASE}),
    "crash_record": frozenset({SourceKind.AGENT_ERROR_JSON, SourceKind.AGENT_SENTINEL}),
    "live_facts": frozenset({LIVE, SourceKind.LIVE_FACTS}),
    "system_log": frozenset({SourceKind.SYSTEM_LOG}),
    # ``derived``: the config facts computed from the Windows agent log (windows_facts.py).
    "windows_agent_log": SourceKind.WINDOWS_LOG_KINDS | {"derived"},
    "windows_status": frozenset({SourceKind.WINDOWS_AGGREGATE_STATUS}),
}
"""Reader-facing groups of source kinds; the keys are the ``coverage.*`` message ids."""

_WINDOWS_KINDS = SOURCE_GROUPS["windows_agent_log"] | SOURCE_GROUPS["windows_status"]
"""Kinds only a Windows bundle holds: Windows rules are "not checked" only on such bundles,
and Linux-only rules are not listed as unchecked on them."""

_GROUP_OF = {kind: group for group, kinds in SOURCE_GROUPS.items() for kind in kinds}

# The kinds that feed each table when a check does not narrow them (see analyzer/tables.py).
_TABLE_KINDS: dict[str, frozenset[str]] = {
    "agent": SOURCE_GROUPS["agent_log"] | SOURCE_GROUPS["crash_record"],
    "extensions": SOURCE_GROUPS["goal_state"] | SOURCE_GROUPS["extension_status"]
    | SOURCE_GROUPS["agent_log"],
    "goal_states": SOURCE_GROUPS["goal_state"],
    "config": SOURCE_GROUPS["agent_config"] | SOURCE_GROUPS["backup_config"]
    | SOURCE_GROUPS["dhcp_lease"] | SOURCE_GROUPS["live_facts"],
}
_AGENT_ROLE_KINDS = {
    "agent_error": SOURCE_GROUPS["crash_record"],
    "crash_sentinel": SOURCE_GROUPS["crash_record"],
}
_ALTERNATIVES = re.compile(r"^~\^?\(\?:([a-z_|]+)\)\$?$")
_STOPPED = re.compile(r"(?:^|; )stopped\b")


REASONS = {
    "agent_log": "no agent log",
    "extension_log": "no extension log",
    "goal_state": "no goal state",
    "extension_status": "no extension status file",
    "agent_config": "no waagent.conf",
    "backup_config": "no vmbackup.conf",
    "dhcp_lease": "no DHCP lease",
    "crash_record": "no agent crash record",
    "live_facts": "no live facts (run self-check on the VM)",
    "system_log": "no system log (syslog, messages or journal)",
    "windows_agent_log": "no Windows guest agent log",
    "windows_status": "no Windows extension status",
}
"""English reasons for the JSON report; the other formats translate ``coverage.<group>``."""


@dataclass(frozen=True)
class NotChecked:
    """Rules that could not be checked, under one source group they read that was missing
    (a rule that reads several missing groups is listed under each)."""

    missing: str
    """Group name (``agent_log``...), a key of :data:`SOURCE_GROUPS`."""
    rules: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "missing": self.missing,
            "reason": REASONS.get(self.missing, f"no {self.missing}"),
            "rules": list(self.rules),
        }


def _kinds_named(value: str) -> frozenset[str] | None:
    """The kinds a ``source_kind`` filter value names: a literal or ``~^(?:a|b)$``."""
    if not value.startswith("~"):
        return frozenset({value})
    match = _ALTERNATIVES.match(value)
    return frozenset(match.group(1).split("|")) if match else None


def _check_kinds(check: Check) -> frozenset[str] | None:
    """The source kinds ``check`` reads; ``None`` when it can be checked on any bundle."""
    sources = getattr(getattr(check, "filter", None), "sources", None)
    if sources is not None:
        return frozenset(sources)
    table = getattr(check, "table", "")
    where: dict[str, str] = getattr(check, "where", {}) or {}
    if table == "files":
        kind = where.get("kind")
        return frozenset({kind}) if kind and not kind.startswith("~") else None
    named = _kinds_named(where["source_kind"]) if "source_kind" in where else None
    if named is not None:
        return named
    if table == "agent" and where.get("role") in _AGENT_ROLE_KINDS:
        return _AGENT_ROLE_KINDS[where["role"]]
    return _TABLE_KINDS.get(table)


def rule_sources(rule: Rule) -> frozenset[str] | None:
    """Every source kind the rule reads; ``None`` when one of its checks needs none."""
    kinds: set[str] = set()
    for check in rule.checks.values():
        needed = _check_kinds(check)
        if needed is None:
            return None
        kinds |= needed
    return frozenset(kinds)


def present_kinds(facts: BundleFacts) -> set[str]:
    kinds = {row.kind for row in facts.files}
    # Config rows that are not read from a file: live facts, and facts derived from the scan.
    kinds |= {row.source_kind for row in facts.config if row.source_kind in (LIVE, "derived")}
    return kinds


def _is_windows_rule(rule: Rule, kinds: frozenset[str]) -> bool:
    """Windows rules say so with the ``windows`` tag (some read tables Linux bundles fill too)."""
    return "windows" in getattr(rule, "tags", ()) or kinds <= _WINDOWS_KINDS


def not_checked(rules: Iterable[Rule], facts: BundleFacts) -> list[NotChecked]:
    """Rules none of whose sources is present, under each missing source group they read."""
    present = present_kinds(facts)
    windows_bundle = bool(present & _WINDOWS_KINDS)
    groups: dict[str, list[str]] = {}
    for rule in rules:
        kinds = rule_sources(rule)
        if kinds is None or kinds & present:
            continue
        if _is_windows_rule(rule, kinds) != windows_bundle:
            continue  # a rule for the other operating system does not apply: nothing to say
        for group in sorted({_GROUP_OF.get(kind, kind) for kind in kinds}):
            groups.setdefault(group, []).append(rule.id)
    order = list(SOURCE_GROUPS)
    return [
        NotChecked(group, tuple(sorted(ids)))
        for group, ids in sorted(groups.items(), key=lambda item: _rank(order, item[0]))
    ]


def _rank(order: list[str], group: str) -> int:
    return order.index(group) if group in order else len(order)


def is_incomplete_read(report: Report) -> bool:
    """The walk stopped at a bundle-wide budget (members, entries, bytes, time)."""
    return any(_STOPPED.search(problem.message) for problem in report.bundle.problems)


def verdict_state(report: Report) -> str:
    """``findings``; ``incomplete`` when the read stopped early or there was no agent log (the
    source most causes are read from); else ``ok``, which the reports qualify when some rules
    (e.g. live-only ones) could not be checked."""
    if report.findings:
        return "findings"
    if is_incomplete_read(report) or any(n.missing in ("agent_log", "windows_agent_log")
                                            for n in report.not_checked):
        return "incomplete"
    return "ok"


def _reason(missing: str, lang: str) -> str:
    from analyzer.report.i18n import t

    if missing in SOURCE_GROUPS:
        return t(f"coverage.{missing}", lang)
    return REASONS.get(missing, f"no {missing}")


def not_checked_lines(report: Report, lang: str) -> list[str]:
    """One translated line per missing source group: ``no agent log: WAA-NET-001, ...``."""
    from analyzer.report.i18n import t

    return [
        t("coverage.line", lang, reason=_reason(group.missing, lang),
          rules=", ".join(group.rules))
        for group in report.not_checked
    ]


def not_checked_rule_count(report: Report) -> int:
    return len({rule for group in report.not_checked for rule in group.rules})


def verdict_override(report: Report, lang: str) -> str | None:
    """The verdict sentence when there are no findings but the check was not complete."""
    from analyzer.report.i18n import t

    state = verdict_state(report)
    if state == "incomplete":
        return t("verdict.incomplete.sentence", lang)
    if state == "ok" and report.not_checked:
        return t("verdict.incomplete.partial", lang, count=not_checked_rule_count(report))
    return None
