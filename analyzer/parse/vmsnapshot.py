"""The backup extension's own logs (Microsoft.Azure.RecoveryServices.VMSnapshotLinux).

``extension.log`` shares the timestamp shapes handled in :mod:`analyzer.parse.waagent_log`
(its ``[Name-1.0]`` prefix carries the handler *schema* version, never the build).
``shell.log`` is one record per line in ``date -u`` format::

    Mon Nov 18 00:05:10 UTC 2019- 3 returned from handle.py

>>> header = parse_shell_header("Mon Nov 18 00:05:10 UTC 2019- 3 returned from handle.py")
>>> header.timestamp.isoformat(), header.message
('2019-11-18T00:05:10+00:00', '3 returned from handle.py')
>>> parse_shell_header("[2024-02-01 10:00:00:123456789] python3 path exists").message
'python3 path exists'

The Python-2 writer (``YYYY/MM/DD HH:MM:SS [<name>-1.0]<msg>``) stamps every line of a
multi-line message but puts the handler prefix only on the first, so a stamped line without
the prefix continues the record before it (a traceback's frames and its exception):

>>> parse_extension_log_header("2019/03/01 17:58:35   File 'main/handle.py', line 3") is None
True
>>> parse_extension_log_header("2019/03/01 17:58:35 [Microsoft.Azure.X-1.0]starting enable").message
'starting enable'
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from analyzer.parse.records import Tz
from analyzer.parse.timeutil import local_zone, parse_dash_space
from analyzer.parse.waagent_log import RECORD_START, Header, parse_header

_DATE_U = re.compile(
    r"(?:[A-Z][a-z]{2} )?(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<time>\d\d:\d\d:\d\d) "
    r"(?P<zone>[A-Z]{1,5} )?(?P<year>\d{4}) ?- ?"
)
_BRACKETED = re.compile(r"\[(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d):\d+\] ")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def _date_u_time(match: re.Match[str]) -> tuple[datetime | None, str]:
    month = _MONTHS.get(match.group("mon"))
    hour, minute, second = (int(p) for p in match.group("time").split(":"))
    zone = (match.group("zone") or "").strip()
    try:
        stamp = datetime(
            int(match.group("year")),
            month or 0,
            int(match.group("day")),
            hour,
            minute,
            second,
            tzinfo=UTC if zone in ("UTC", "GMT") else local_zone(),
        )
    except ValueError:
        return None, Tz.NONE
    return stamp.astimezone(UTC), Tz.UTC if zone in ("UTC", "GMT") else Tz.ASSUMED_UTC


def parse_shell_header(line: str) -> Header:
    """Every shell.log line is a record; lines without a readable date keep no timestamp."""
    match = _DATE_U.match(line)
    if match:
        timestamp, tz = _date_u_time(match)
        return Header("SH", timestamp, tz, "", "", "", line[match.end() :])
    bracketed = _BRACKETED.match(line)
    if bracketed:
        timestamp = parse_dash_space(bracketed.group("ts"), local=False)
        return Header("SH", timestamp, Tz.UTC, "", "", "", line[bracketed.end() :])
    return Header("SH", None, Tz.NONE, "", "", "", line)


_PYTHON2_CONTINUATION = re.compile(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (?!\[)")
"""A Python-2 stamp (whole seconds) not followed by the ``[<name>-1.0]`` prefix."""
EXTENSION_LOG_RECORD_START = re.compile(
    rb"(?!(?:\xef\xbb\xbf)?\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (?!\[))" + RECORD_START.pattern
)
"""The scanner's cut of extension.log records, mirroring :func:`parse_extension_log_header`."""


def parse_extension_log_header(line: str) -> Header | None:
    """extension.log header; a Python-2 line without the handler prefix is a continuation."""
    if _PYTHON2_CONTINUATION.match(line):
        return None
    return parse_header(line)
