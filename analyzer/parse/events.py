"""Extension telemetry event files and the log collector's ``results.txt``.

``/var/log/azure/<Handler>/events/*.json`` is a JSON array of events
(``Version, Timestamp/TimeStamp, TaskName, EventLevel, Message, EventPid, EventTid,
OperationId``, waagent-formats.md 5, vmsnapshot.md 2.4). Each event becomes a ``Record``
(generation ``EV``) so log rules can match them like log lines; ``line`` is the event's
1-based position in the array, not a physical line.

``results.txt`` (``2024-01-31T10:00:00Z INFO Adding file ...``, UTC) gives the time the
bundle was collected: the anchor for every "within the last N hours" rule.

>>> recs = parse_extension_events(
...     b'[{"EventLevel": "Warning", "Message": "freeze took 20s", "TaskName": "Enable",'
...     b' "TimeStamp": "2019-12-12T01:20:05.0950244Z", "Version": "X.Y-1.0.9225.0"}]',
...     "var/log/azure/X.Y/events/1.json")
>>> r = recs[0]
>>> r.level, r.extension, r.extension_version, r.message, r.timestamp.isoformat()
('WARNING', 'X.Y', '1.0.9225.0', 'freeze took 20s', '2019-12-12T01:20:05.095024+00:00')
"""

from __future__ import annotations

import re
from typing import Any

from analyzer.bundle.model import PROVENANCE_SEPARATOR, SourceKind
from analyzer.parse.errors import ParseError
from analyzer.parse.goal_state import iso_utc, parse_timestamp
from analyzer.parse.records import Record, Tz
from analyzer.parse.rows import AgentRow
from analyzer.parse.xmlsafe import decode_text, load_json
from analyzer.redact import redact_text
from analyzer.settings import DEFAULT_LIMITS

_MAX = DEFAULT_LIMITS.max_xml_bytes
GENERATION = "EV"

# String levels seen in these files (ExtensionTelemetryPipeline names, VMSnapshot's own);
# numbers follow the ETW scale (1 critical .. 5 verbose), 0 ("log always") has no level.
_LEVELS = {
    "critical": "ERROR",
    "error": "ERROR",
    "err": "ERROR",
    "warning": "WARNING",
    "warn": "WARNING",
    "info": "INFO",
    "informational": "INFO",
    "information": "INFO",
    "verbose": "VERBOSE",
    "debug": "VERBOSE",
    "1": "ERROR",
    "2": "ERROR",
    "3": "WARNING",
    "4": "INFO",
    "5": "VERBOSE",
}
_VERSIONED_NAME = re.compile(r"^(?P<name>[A-Za-z][\w.\-]*?)-(?P<version>\d+(?:\.\d+)+)$")


def map_level(value: Any) -> str:
    """Event level to the Record vocabulary (VERBOSE/INFO/WARNING/ERROR), ``""`` if unknown.

    >>> map_level("Informational"), map_level(3), map_level("LogAlways")
    ('INFO', 'WARNING', '')
    """
    return _LEVELS.get(str(value).strip().lower(), "")


def _handler_from_events_path(member: str) -> str:
    """``var/log/azure/<Handler>/events/<f>.json`` -> ``<Handler>`` (``""`` if not that shape)."""
    parts = member.rsplit(PROVENANCE_SEPARATOR, 1)[-1].split("/")
    if len(parts) >= 3 and parts[-2] == "events":
        return parts[-3]
    return ""


def parse_extension_events(data: bytes, member: str, *, max_bytes: int = _MAX) -> list[Record]:
    """An extension event file -> one Record per event; messages are redacted."""
    doc = load_json(data, member, max_bytes)
    if isinstance(doc, dict):  # a single event object instead of an array
        doc = [doc]
    if not isinstance(doc, list):
        raise ParseError("extension events: expected a JSON array of events", member)
    handler = _handler_from_events_path(member)
    return [
        _record(event, index, handler, member)
        for index, event in enumerate(doc, start=1)
        if isinstance(event, dict)
    ]


def _record(event: dict[str, Any], index: int, handler: str, member: str) -> Record:
    raw_ts = _field(event, "Timestamp", "TimeStamp")
    timestamp = parse_timestamp(raw_ts)
    name, version = handler, _field(event, "Version")
    versioned = _VERSIONED_NAME.match(version) if len(version) <= 256 else None
    if versioned:  # VMSnapshot writes its directory name, "<Handler>-<version>"
        name = name or versioned.group("name")
        version = versioned.group("version")
    fields = {
        "task": _field(event, "TaskName"),
        "operation_id": _field(event, "OperationId"),
        "pid": _field(event, "EventPid"),
        "event_level": _field(event, "EventLevel"),
    }
    return Record(
        member=member,
        source_kind=SourceKind.EXTENSION_EVENTS,
        line=index,
        end_line=index,
        timestamp=timestamp,
        tz=_tz(raw_ts, timestamp is not None),
        level=map_level(_field(event, "EventLevel")),
        thread=_field(event, "EventTid"),
        prefix=f"[{name}-{version}]" if name and version else "",
        extension=name,
        extension_version=version,
        generation=GENERATION,
        message=redact_text(_field(event, "Message")),
        fields={k: v for k, v in fields.items() if v},
        flags=() if timestamp is not None or not raw_ts else ("bad_timestamp",),
    )


def _field(event: dict[str, Any], *keys: str) -> str:
    for key in keys:
        value = event.get(key)
        if value is not None and not isinstance(value, dict | list):
            return str(value)
    return ""


def _tz(raw: str, parsed: bool) -> str:
    if not parsed:
        return Tz.NONE
    return Tz.UTC if re.search(r"(Z|[+-]\d{2}:?\d{2})\s*$", raw, re.IGNORECASE) else Tz.ASSUMED_UTC


# --- results.txt --------------------------------------------------------------------------

_RESULTS_LINE = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z) (?:DEBUG|INFO|WARNING|ERROR|CRITICAL) ", re.MULTILINE
)


def parse_collector_results(data: bytes, member: str, *, max_bytes: int = _MAX) -> list[AgentRow]:
    """``results.txt`` -> AgentRow(role="collected_at") with the last timestamp in the file.

    Returns ``[]`` when no line carries a timestamp.

    >>> text = b"2024-01-31T09:59:58Z INFO Adding file /var/log/waagent.log\\n" \\
    ...        b"2024-01-31T10:00:00Z INFO Elapsed time: 2000 ms\\n"
    >>> row = parse_collector_results(text, "results.txt")[0]
    >>> row.value, row.line
    ('2024-01-31T10:00:00Z', 2)
    """
    text = decode_text(data, member, max_bytes)
    last = None
    for last in _RESULTS_LINE.finditer(text):  # noqa: B007 - only the last match is wanted
        pass
    if last is None:
        return []
    timestamp = parse_timestamp(last.group(1))
    if timestamp is None:
        return []
    return [
        AgentRow(
            role="collected_at",
            value=iso_utc(timestamp),
            member=member,
            timestamp=timestamp,
            line=text.count("\n", 0, last.start()) + 1,
            source_kind=SourceKind.COLLECTOR_RESULTS,
        )
    ]
