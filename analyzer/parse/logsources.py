"""Which line grammar applies to which kind of log member.

>>> grammar_for("vmsnapshot_shell_log").record_start is None
True
>>> grammar_for("waagent_log").prefix_has_real_version
True
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from analyzer.bundle.model import SourceKind
from analyzer.parse import handlerlog, syslog
from analyzer.parse.vmsnapshot import (
    EXTENSION_LOG_RECORD_START,
    parse_extension_log_header,
    parse_shell_header,
)
from analyzer.parse.waagent_log import RECORD_START, Header, parse_header
from analyzer.parse.windows_agent_log import (
    PLUGIN_RECORD_START,
    WINDOWS_RECORD_START,
    count_windows_hours,
    parse_plugin_header,
    parse_windows_header,
)


@dataclass(frozen=True)
class Grammar:
    header_parser: Callable[[str], Header | None]
    record_start: re.Pattern[bytes] | None
    """Bytes pattern matched at a line start that opens a record; None: every line is one."""
    prefix_has_real_version: bool = True
    count_hours: Callable[[bytes, Counter[tuple[str, str]]], None] | None = None
    """Per-hour level counts for the HTML timeline when the layout is not the agent's
    ``<date>[T ]<time> LEVEL`` (Windows logs); None: the scanner's own pattern."""


AGENT_GRAMMAR = Grammar(parse_header, RECORD_START)
_GRAMMARS = {
    SourceKind.VMSNAPSHOT_LOG: Grammar(
        parse_extension_log_header, EXTENSION_LOG_RECORD_START, prefix_has_real_version=False
    ),
    SourceKind.VMSNAPSHOT_SHELL_LOG: Grammar(parse_shell_header, None),
    SourceKind.SYSTEM_LOG: Grammar(syslog.parse_syslog_header, syslog.RECORD_START),
    SourceKind.EXTENSION_LOG: Grammar(handlerlog.parse_handler_header, handlerlog.RECORD_START),
    # Windows guest agent logs (docs/windows-formats.md).
    SourceKind.WINDOWS_AGENT_LOG: Grammar(
        parse_windows_header, WINDOWS_RECORD_START, count_hours=count_windows_hours
    ),
    SourceKind.WINDOWS_INSTALLER_LOG: Grammar(
        parse_windows_header, WINDOWS_RECORD_START, count_hours=count_windows_hours
    ),
    SourceKind.WINDOWS_PLUGIN_LOG: Grammar(parse_plugin_header, PLUGIN_RECORD_START),
}


def grammar_for(kind: str) -> Grammar:
    return _GRAMMARS.get(kind, AGENT_GRAMMAR)
