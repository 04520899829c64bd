"""Which parser reads which structured source kind, and what every parser returns.

Each entry turns one document (``bytes``, capped by ``Limits.max_xml_bytes`` before the call)
and its provenance into :class:`ParsedRows`: the rows it adds to each table. Log kinds are not
here; they go through the prefiltered scanner (:mod:`analyzer.parse.logscan`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from analyzer.bundle.model import SourceKind
from analyzer.parse import conf, dhcp, events, goal_state, status, windows_status
from analyzer.parse.rows import AgentRow, ConfigRow, ExtensionRow, GoalStateRow
from analyzer.parse.timeutil import parse_iso_z


@dataclass
class ParsedRows:
    """Rows of one document, per table; ``collected_at`` when it says when collection ran."""

    goal_states: list[GoalStateRow] = field(default_factory=list)
    extensions: list[ExtensionRow] = field(default_factory=list)
    agent: list[AgentRow] = field(default_factory=list)
    config: list[ConfigRow] = field(default_factory=list)
    collected_at: datetime | None = None

    def add(self, rows: Iterable[Any]) -> ParsedRows:
        for row in rows:
            if isinstance(row, ExtensionRow):
                self.extensions.append(row)
            elif isinstance(row, GoalStateRow):
                self.goal_states.append(row)
            elif isinstance(row, ConfigRow):
                self.config.append(row)
            elif isinstance(row, AgentRow) and row.role == "collected_at":
                self.collected_at = (parse_iso_z(row.value) if row.value else None) or \
                    self.collected_at
            elif isinstance(row, AgentRow):
                self.agent.append(row)
            else:
                raise TypeError(f"a parser returned a {type(row).__name__}, not a row")
        return self


StructuredParser = Callable[[bytes, str], ParsedRows]


def _rows(parse: Callable[[bytes, str], list[Any]]) -> StructuredParser:
    """A parser that returns a list of rows of any table."""
    return lambda data, member: ParsedRows().add(parse(data, member))


def _goal_state_result(parse: Callable[[bytes, str], goal_state.GoalStateResult]
                       ) -> StructuredParser:
    def run(data: bytes, member: str) -> ParsedRows:
        result = parse(data, member)
        return ParsedRows().add(result.goal_states).add(result.extensions)

    return run


def _status_result(data: bytes, member: str) -> ParsedRows:
    result = status.parse_waagent_status(data, member)
    return ParsedRows().add(result.agents).add(result.extensions)


def _windows_status_result(data: bytes, member: str) -> ParsedRows:
    result = windows_status.parse_aggregate_status(data, member)
    return ParsedRows().add(result.agents).add(result.extensions)


STRUCTURED_PARSERS: dict[str, StructuredParser] = {
    SourceKind.GOAL_STATE: _rows(goal_state.parse_goal_state),
    SourceKind.EXTENSIONS_CONFIG: _goal_state_result(goal_state.parse_extensions_config),
    SourceKind.VM_SETTINGS: _goal_state_result(goal_state.parse_vm_settings),
    SourceKind.HOSTING_ENV: _rows(goal_state.parse_hosting_env),
    SourceKind.SHARED_CONFIG: _rows(goal_state.parse_shared_config),
    SourceKind.WAAGENT_STATUS: _status_result,
    SourceKind.EXTENSION_STATUS: _rows(status.parse_extension_status),
    SourceKind.HANDLER_STATE: _rows(status.parse_handler_state),
    SourceKind.HANDLER_STATUS: _rows(status.parse_handler_status),
    SourceKind.HANDLER_MANIFEST: _rows(status.parse_handler_manifest),
    SourceKind.EXTENSION_SETTINGS: _rows(status.parse_extension_settings),
    SourceKind.AGENT_ERROR_JSON: _rows(status.parse_agent_error),
    SourceKind.AGENT_SENTINEL: _rows(status.parse_crash_sentinel),
    SourceKind.WAAGENT_CONF: _rows(conf.parse_waagent_conf),
    SourceKind.VMBACKUP_CONF: _rows(conf.parse_vmbackup_conf),
    SourceKind.DHCP_LEASE: _rows(dhcp.parse_dhcp_lease),
    SourceKind.COLLECTOR_RESULTS: _rows(events.parse_collector_results),
    SourceKind.WINDOWS_AGGREGATE_STATUS: _windows_status_result,
}
"""Source kind -> parser of one whole document."""

RECORD_PARSERS = {SourceKind.EXTENSION_EVENTS: events.parse_extension_events}
"""Source kinds whose documents hold log records (they go to the rules like log lines)."""
