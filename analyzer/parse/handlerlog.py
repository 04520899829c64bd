"""Extension handler logs under /var/log/azure/<Handler>/ that are not in the agent's layout.

The Go-based handlers (CustomScript 2.x, RunCommand, ...) write logfmt lines::

    time=2022-02-15T04:13:13Z version=v2.1.6 operation=enable seq=14 event="enable failed"

Each such line is a record with its UTC time; lines the handler's shim prints in between
(``+ nohup ...``, ``Writing a placeholder status file ...``) continue the record before them.
Everything else (the legacy Python handlers' ``2016/09/01 13:22:32 [Name-1.4.2.0] msg``) keeps the
agent grammar.

>>> h = parse_handler_header('time=2022-02-15T04:13:13Z operation=enable event="enable failed"')
>>> (h.generation, h.timestamp.isoformat(), h.level, h.message)
('LF', '2022-02-15T04:13:13+00:00', 'ERROR', 'operation=enable event="enable failed"')
>>> parse_handler_header("+ nohup /var/lib/waagent/Handler-2.1.6/bin/handler enable") is None
True
>>> parse_handler_header("2016/09/01 13:22:32 [Pub.Handler-1.4.2.0] started").generation
'X'
"""

from __future__ import annotations

import re

from analyzer.parse.records import Tz
from analyzer.parse.timeutil import parse_iso_z
from analyzer.parse.waagent_log import RECORD_START as AGENT_RECORD_START
from analyzer.parse.waagent_log import Header, parse_header

LOGFMT_GENERATION = "LF"
_LOGFMT = re.compile(r"time=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z ")
# logfmt lines carry no level; an error= field or a failure event is what an engineer reads as one.
_FAILURE = re.compile(r'\berror=|event="[^"]*fail')

RECORD_START = re.compile(AGENT_RECORD_START.pattern + rb"|time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
"""Agent-layout headers, plus logfmt ``time=`` lines."""


def parse_handler_header(line: str) -> Header | None:
    match = _LOGFMT.match(line)
    if match is None:
        return parse_header(line)
    message = line[match.end() :]
    level = "ERROR" if _FAILURE.search(message) else "INFO"
    return Header(LOGFMT_GENERATION, parse_iso_z(match.group(1)), Tz.UTC, level, "", "", message)
