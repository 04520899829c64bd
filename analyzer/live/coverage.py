"""What a self-check looked at: the VM sources it looked for and did not find, and the rules
that were checked and passed. A check that says nothing about what it could not see would be
a false all-clear on a VM without the agent's files."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from analyzer.bundle.specs import (
    AGENT_LIB,
    AGENT_LOGS,
    DHCP_LEASE_GLOBS,
    EXTENSION_LOGS,
    VMBACKUP_CONF,
    WAAGENT_CONF,
)

__all__ = ["LIVE_SOURCES", "missing_sources", "passed_rules"]

LIVE_SOURCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("/" + AGENT_LOGS.removesuffix("*"), (AGENT_LOGS,)),
    ("/" + AGENT_LIB, (AGENT_LIB,)),
    ("/" + EXTENSION_LOGS, (EXTENSION_LOGS,)),
    ("/" + WAAGENT_CONF, (WAAGENT_CONF,)),
    ("/" + VMBACKUP_CONF, (VMBACKUP_CONF,)),
    ("DHCP lease (" + ", ".join("/" + g for g in DHCP_LEASE_GLOBS) + ")", DHCP_LEASE_GLOBS),
)
"""(what the user reads, the globs under the root that find it)."""


def missing_sources(root: Path) -> list[str]:
    """The sources of :data:`LIVE_SOURCES` with no entry at all under ``root`` (a link counts
    as present: the walker reports it, unread, with its own reason)."""
    return [label for label, patterns in LIVE_SOURCES if not _any_entry(root, patterns)]


def _any_entry(root: Path, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        full = os.path.join(os.fspath(root), pattern)
        if glob.has_magic(pattern):
            if glob.glob(glob.escape(os.fspath(root)) + "/" + pattern):
                return True
        elif os.path.lexists(full):
            return True
    return False


def passed_rules(outcomes: Iterable[Any], tables: Any) -> list[Any]:
    """Rules that really looked at something and did not fire (sorted by id).

    Not passed: a rule that fired or failed; a rule none of whose sources is present (it is
    "not checked", or a Windows rule on this Linux VM); a rule whose every check is a query of
    live rows none of which exists (the network probes when ``--network`` was not given)."""
    from analyzer.checkable import present_kinds, rule_sources

    present = present_kinds(tables)
    keys = [row.key for row in tables.config]
    passed = []
    for outcome in outcomes:
        rule = outcome.rule
        if outcome.fired or outcome.error:
            continue
        kinds = rule_sources(rule)
        if kinds is not None and not kinds & present:
            continue
        if "windows" in getattr(rule, "tags", ()):
            continue
        if not any(_saw_rows(check, keys) for check in rule.checks.values()):
            continue
        passed.append(rule)
    return sorted(passed, key=lambda rule: rule.id)


def _saw_rows(check: Any, keys: list[str]) -> bool:
    """False only for a config-table check whose key filter matches no row at all."""
    from analyzer.engine.checks.table import TableCheck

    if not isinstance(check, TableCheck) or check.table != "config":
        return True
    wanted = check.where.get("key")
    if wanted is None:
        return True
    if wanted.startswith("~"):
        import re

        pattern = re.compile(wanted[1:])
        return any(pattern.search(key) for key in keys)
    if wanted.startswith("!~"):
        return True
    return any(key.lower() == wanted.lower() for key in keys)
