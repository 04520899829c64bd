"""System logs that carry copies of agent lines: syslog, /var/log/messages, journal exports,
serial-console captures.

The agent writes every log line to stdout too, so systemd's journal and rsyslog keep copies
wrapped in a syslog prefix (``Oct 30 00:00:12 host python3[1654]: <agent line>``), and lines
written to the console appear bare in serial-console captures. Around them are the lines
that explain an agent's death and that the agent itself cannot log: the kernel's OOM killer,
systemd refusing to restart the service.

A wrapped or bare agent line keeps the agent's own header (generation G0-G4, real timestamp);
any other syslog line is a record of generation ``SYS`` whose thread is the syslog identifier
(``kernel``, ``systemd``). Classic syslog stamps carry no year, so those records have no
timestamp: rules about them must not use a time window. Wrapped lines whose text starts with
whitespace (traceback frames) continue the record before them.

>>> line = "Oct 30 00:00:12 vm python3[165]: 2022-10-30T00:00:12.833653Z WARNING ExtHandler boom"
>>> h = parse_syslog_header(line)
>>> (h.generation, h.level, h.prefix, h.message)
('G3', 'WARNING', 'ExtHandler', 'boom')
>>> line = "May 15 23:09:30 vm kernel: [  518.050606] Out of memory: Killed process 15784 (python3)"
>>> h = parse_syslog_header(line)
>>> (h.generation, h.thread, h.timestamp, h.message)
('SYS', 'kernel', None, 'Out of memory: Killed process 15784 (python3)')
>>> parse_syslog_header('Mar 22 10:02:23 vm python3[948]:   File "main.py", line 83') is None
True
>>> line = "2024-01-02T03:04:05.123456+00:00 vm systemd[1]: walinuxagent.service: Failed."
>>> parse_syslog_header(line).timestamp.isoformat()
'2024-01-02T03:04:05.123456+00:00'
>>> line = "2021-07-19T14:41:39.8+00:00  python3[14949]: ModuleNotFoundError: No module named 'x'"
>>> (parse_syslog_header(line).thread, parse_syslog_header(line).message)
('python3', "ModuleNotFoundError: No module named 'x'")

The agent logs a multi-line message as one write; rsyslog and journald split it and wrap every
line, so its second and later lines (``Inner error: ...``, ``[stderr]``, openssl's error stack)
arrive under the agent process's identifier without the agent's own header. They stay agent
lines (generation ``SYS-AGENT``): the rules about the agent's messages see them.

>>> line = "2021-01-07T22:24:41.6+00:00 vm python3[1605]: Inner error: [ProtocolError] boom"
>>> h = parse_syslog_header(line)
>>> (h.generation, h.thread, h.message)
('SYS-AGENT', 'python3', 'Inner error: [ProtocolError] boom')
>>> parse_syslog_header("Jan  7 22:24:41 vm sshd[77]: Inner error: boom").generation
'SYS'

On a console the agent's line can follow another writer's unfinished output:

>>> h = parse_syslog_header("[  OK  ]Starting x: 2017/06/22 06:59:00.412282 ERROR Return code: 1")
>>> (h.generation, h.level, h.message)
('G1', 'ERROR', 'Return code: 1')
>>> RECORD_START.match(b"abc:130:2017/06/22 06:59:00.585337 ERROR Failed") is not None
True

``journalctl -o verbose`` opens each entry with its time and cursor; the entry's fields follow on
indented lines (``    MESSAGE=...``) and continue the record. Which program wrote the entry is in
those fields, so the entry is offered to the rules of both the agent's and the system's lines
(generation ``SYS-JOURNAL``), with its time:

>>> h = parse_syslog_header("Thu 2023-02-02 11:49:13.015489 CET [s=1d8f;i=a1;b=79;m=1f;t=5f;x=e5]")
>>> (h.generation, h.timestamp.isoformat(), h.tz)
('SYS-JOURNAL', '2023-02-02T10:49:13.015489+00:00', 'utc')

``dmesg -T`` prints the kernel's lines with a readable local time:

>>> h = parse_syslog_header("[Mon Apr 17 04:16:45 2023] Memory cgroup out of memory: Killed")
>>> (h.generation, h.thread, h.timestamp.isoformat(), h.message)
('SYS', 'kernel', '2023-04-17T04:16:45+00:00', 'Memory cgroup out of memory: Killed')
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from analyzer.parse.records import Tz
from analyzer.parse.timeutil import FIRST_YEAR, LAST_YEAR
from analyzer.parse.waagent_log import Header, parse_header

SYSLOG_GENERATION = "SYS"
AGENT_CONTINUATION_GENERATION = "SYS-AGENT"
"""A line the agent's process wrote without the agent's header (a later line of one of its
multi-line messages)."""
# Syslog identifiers of the agent's own process: the interpreter the service runs
# (``python3[948]``) or the name distributions give it (``waagent[477]``, ``WALinuxAgent``).
_AGENT_IDENT = re.compile(r"(?i)(?:waagent|walinuxagent|python(?:\d(?:\.\d+)?)?)")

# ``Mon DD HH:MM:SS host ident[pid]: text`` (rsyslog's traditional format, journalctl's
# short format) and ``2024-05-29T05:45:44.992712+00:00 host ident[pid]: text`` (RFC 3339).
# Excerpts posted publicly often have the host name blanked (``<stamp>  ident[pid]: text``, two
# spaces): the same line without a host.
_BSD = r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d"
_RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)"
_WRAPPER = re.compile(
    rf"(?:(?P<bsd>{_BSD})|(?P<rfc>{_RFC3339})) (?:(?P<host>\S+) | )"
    r"(?P<ident>[^:\s\[]+)(?:\[\d+\])?: ?"
)
JOURNAL_VERBOSE_GENERATION = "SYS-JOURNAL"
_JOURNAL_VERBOSE = re.compile(
    r"[A-Z][a-z]{2} (?P<stamp>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) "
    r"(?P<zone>[A-Za-z]{1,5}|[+-]\d\d:?\d\d) \[s=[0-9a-f]+;[^\]]*\]"
)
# Zone names journalctl prints, with their offsets in minutes (others are read as UTC, assumed).
_ZONES = {
    "UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 60, "BST": 60, "CET": 60, "CEST": 120,
    "EET": 120, "EEST": 180, "MSK": 180, "IST": 330, "SGT": 480, "CST": -360, "CDT": -300,
    "EST": -300, "EDT": -240, "MST": -420, "MDT": -360, "PST": -480, "PDT": -420, "JST": 540,
    "KST": 540, "AEST": 600, "AEDT": 660,
}
# A kernel ring-buffer time (``[   48.490326] ``) as the console and the kernel's syslog lines
# show it.
_KERNEL_TIME = re.compile(r"\[\s*\d+\.\d+\] ")
# ``dmesg -T``'s human-readable kernel time (``[Mon Apr 17 04:16:45 2023] ``), local time.
_DMESG_HUMAN_TIME = re.compile(
    r"\[[A-Z][a-z]{2} (?P<stamp>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4})\] "
)


def _dmesg_human(match: re.Match[str], text: str) -> Header:
    try:
        stamp: datetime | None = datetime.strptime(
            " ".join(match.group("stamp").split()), "%b %d %H:%M:%S %Y"
        ).replace(tzinfo=UTC)
    except ValueError:
        stamp = None
    if stamp is not None and not FIRST_YEAR <= stamp.year <= LAST_YEAR:
        stamp = None
    tz = Tz.ASSUMED_UTC if stamp is not None else Tz.NONE
    return Header(SYSLOG_GENERATION, stamp, tz, "", "kernel", "", text)


# An agent header (G1-G4: microseconds and a level) further into a console line: consoles
# interleave writers, so the agent's line can follow another program's unfinished output.
_EMBEDDED_REACH = 200
_EMBEDDED_AGENT_HEADER = re.compile(
    r"(?:\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6}|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z)"
    r" (?:VERBOSE|INFO|WARNING|ERROR) "
)

RECORD_START = re.compile(
    rb"(?:\xef\xbb\xbf)?(?:"
    rb"(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d"
    rb"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d))"
    rb" (?:\S+ | )[^:\s\[]+(?:\[\d+\])?: ?\S"
    rb"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z (?:VERBOSE|INFO|WARNING|ERROR) "
    rb"|\d{4}[-/]\d\d[-/]\d\d \d\d:\d\d:\d\d"
    rb"|\[\s*\d+\.\d+\] "
    rb"|\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\] "
    rb"|[A-Z][a-z]{2} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? "
    rb"(?:[A-Za-z]{1,5}|[+-]\d\d:?\d\d) \[s="
    rb"|[^\n]{1,%d}?(?:\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6}|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z)"
    rb" (?:VERBOSE|INFO|WARNING|ERROR) )" % 200
)
"""Mirrors :func:`parse_syslog_header`: which physical lines open a record."""


def _journal_verbose(match: re.Match[str]) -> Header:
    zone = match.group("zone")
    if zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        sign = -1 if zone[0] == "-" else 1
        offset: int | None = sign * (int(digits[:2]) * 60 + int(digits[2:]))
    else:
        offset = _ZONES.get(zone.upper())
    try:
        stamp: datetime | None = datetime.fromisoformat(match.group("stamp")).replace(tzinfo=UTC)
    except ValueError:
        stamp = None
    if stamp is None or not FIRST_YEAR <= stamp.year <= LAST_YEAR:
        return Header(JOURNAL_VERBOSE_GENERATION, None, Tz.NONE, "", "", "", "")
    if offset is not None:
        stamp = stamp - timedelta(minutes=offset)
    tz = Tz.UTC if offset is not None else Tz.ASSUMED_UTC
    return Header(JOURNAL_VERBOSE_GENERATION, stamp, tz, "", "", "", "")


def _rfc3339(text: str) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if not FIRST_YEAR <= stamp.year <= LAST_YEAR:
        return None
    return stamp.astimezone(UTC)


def parse_syslog_header(line: str) -> Header | None:
    """Parse one physical line of a system log as a record header (None: continuation)."""
    line = line.removeprefix("\ufeff")
    wrapper = _WRAPPER.match(line)
    if wrapper is None:
        agent = parse_header(line)
        if agent is not None:
            return agent  # an agent line written to the console
        embedded = _EMBEDDED_AGENT_HEADER.search(line, 1, _EMBEDDED_REACH + 1 + 64)
        if embedded is not None and embedded.start() <= _EMBEDDED_REACH:
            # Another program's console output without its newline, then the agent's line
            # (``[  OK  ]Starting puppetmaster: 2017/06/22 06:59:00.412282 ERROR ...``).
            return parse_header(line[embedded.start() :])
        journal = _JOURNAL_VERBOSE.match(line)
        if journal is not None:
            return _journal_verbose(journal)
        human = _DMESG_HUMAN_TIME.match(line)
        if human is not None:
            return _dmesg_human(human, line[human.end() :])
        kernel = _KERNEL_TIME.match(line)
        if kernel is None:
            return None
        return Header(SYSLOG_GENERATION, None, Tz.NONE, "", "kernel", "", line[kernel.end() :])
    text = line[wrapper.end() :]
    if not text or text[0].isspace():
        return None  # a traceback frame or a wrapped continuation of the record before
    agent = parse_header(text)
    if agent is not None:
        return agent
    text = text[_kernel_time_end(text) :]
    stamp = _rfc3339(wrapper.group("rfc")) if wrapper.group("rfc") else None
    tz = Tz.UTC if stamp is not None else Tz.NONE
    ident = wrapper.group("ident")
    generation = (
        AGENT_CONTINUATION_GENERATION if _AGENT_IDENT.fullmatch(ident) else SYSLOG_GENERATION
    )
    return Header(generation, stamp, tz, "", ident, "", text)


def _kernel_time_end(text: str) -> int:
    match = _KERNEL_TIME.match(text)
    return match.end() if match else 0
