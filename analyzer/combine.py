"""Combiners: one answer from facts that several sources state (insights-core style).

The current version of an extension handler is stated by up to eight sources; they disagree
when a bundle spans an update, so the combiner ranks every row:

1. the newest timestamp wins (an undated row ranks below every dated one);
2. at equal time, the source that saw the handler *run* beats the one that only *asked* for
   it, in this order (first = most trusted):

   ==================  ==========================================================
   ``handler_status``   HandlerStatus written by the agent after running it
   ``log``              ``[Name-Version]`` prefix / ``Target handler state`` line
   ``extension_status`` ``status/<n>.status`` written by the extension
   ``waagent_status``   handlerAggregateStatus reported to the host
   ``vm_settings``      requested by the HostGAPlugin goal state
   ``extensions_config`` requested by the WireServer goal state
   ``handler_state``    HandlerState file
   ``directory``        a ``<Name>-<Version>/`` folder exists
   ==================  ==========================================================

   any other source ranks below all of these;
3. at equal rank the row read later in the bundle wins.

The state shown is the winning row's, else the last state any row gave.
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzer.parse.rows import ExtensionRow
from analyzer.tables import BundleTables

SOURCE_PRECEDENCE = (
    "handler_status",
    "log",
    "extension_status",
    "waagent_status",
    "vm_settings",
    "extensions_config",
    "handler_state",
    "directory",
)


@dataclass(frozen=True)
class CurrentExtension:
    name: str
    version: str
    state: str
    member: str


def _precedence(source_kind: str) -> int:
    """Higher is more trusted; unknown sources rank lowest."""
    if source_kind in SOURCE_PRECEDENCE:
        return len(SOURCE_PRECEDENCE) - SOURCE_PRECEDENCE.index(source_kind)
    return len(SOURCE_PRECEDENCE) - 99


def current_extensions(tables: BundleTables) -> list[CurrentExtension]:
    """The current version and state of each handler, sorted by name."""
    best: dict[str, tuple[tuple[float, int], ExtensionRow]] = {}
    for row in tables.extensions:
        if not row.version:
            continue
        stamp = row.timestamp.timestamp() if row.timestamp else float("-inf")
        rank = (stamp, _precedence(row.source_kind))
        key = row.name.lower()
        if key not in best or rank >= best[key][0]:
            best[key] = (rank, row)
    states = {row.name.lower(): row.state for row in tables.extensions if row.state}
    return [
        CurrentExtension(row.name, row.version, row.state or states.get(key, ""), row.member)
        for key, (_, row) in sorted(best.items())
    ]


def agent_versions(tables: BundleTables, role: str) -> list[str]:
    """Every version the agent of this role (``daemon``, ``goal_state_agent``) reported."""
    from analyzer.engine.versions import version_key

    values = {row.value for row in tables.agent if row.role == role and row.value}
    return sorted(values, key=version_key)
