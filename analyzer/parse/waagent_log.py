"""waagent.log line grammar: every agent generation, detected per line, folded into records.

Generations (see docs/design.md and the format reference):

=====  ===============  ==================================================================
 gen   agent versions   header layout
=====  ===============  ==================================================================
 G0    1.x - 2.0.x      ``2016/03/01 10:00:00 ERROR:msg`` (local time, no INFO token)
 G1    2.1 - 2.2.30     ``2017/06/01 10:00:00.123456 INFO msg`` (local time)
 G2    2.2.31 - 2.2.45  ``2021/03/30 19:35:35.971742 INFO Daemon msg``
 G3    2.2.46           ``2021-05-28T01:17:40.683072Z INFO ExtHandler msg`` (UTC)
 G4    2.2.47 +         ``2024-01-31T10:00:00.000000Z INFO ExtHandler ExtHandler msg``
 X     extensions       ``2021/03/30 19:45:31 [Name-1.2.3] msg`` (legacy helper library)
=====  ===============  ==================================================================

A record is a header line plus the following lines that are not headers (tracebacks,
``[stdout]``/``[stderr]`` blocks, HTTP bodies).

>>> header = parse_header("2024-01-31T10:00:00.5Z WARNING MonitorHandler ExtHandler hi there")
>>> (header.generation, header.level, header.thread, header.prefix, header.message)
('G4', 'WARNING', 'MonitorHandler', 'ExtHandler', 'hi there')
>>> parse_header("2021/03/30 19:35:35.971742 INFO Daemon Azure Linux Agent Version:2.2.45").prefix
'Daemon'
>>> parse_header("2016/03/01 10:00:05 ERROR:HTTP Err: Status=503").level
'ERROR'

The backup extension's console format (its serial-console lines, its freeze-window block, and
the same lines re-stamped by the old helper in waagent.log) names no writer; only that
extension's logger uses it, so the record is attributed to it:

>>> h = parse_header("2024/01/14 22:16:48.796446  Error  freeze timed-out ")
>>> (h.generation, h.level, h.prefix, h.message)
('X', 'ERROR', '[Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0]', 'freeze timed-out')
>>> h = parse_header("2018/11/19 19:10:11 2018-11-19 19:10:10.331872  Info  T:S thaw result ")
>>> (h.generation, h.prefix, h.message)
('X', '[Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0]', 'T:S thaw result')
"""

from __future__ import annotations

import base64
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from analyzer.parse.records import Record, Tz
from analyzer.parse.timeutil import parse_dash_space, parse_iso_z, parse_slash

LEVELS = frozenset({"VERBOSE", "INFO", "WARNING", "ERROR"})
PREFIXES = frozenset({"Daemon", "ExtHandler", "LogCollector", "Firewall"})
KNOWN_THREADS = frozenset(
    {
        "Daemon",
        "ExtHandler",
        "MonitorHandler",
        "EnvHandler",
        "SendTelemetryHandler",
        "TelemetryEventsCollector",
        "CollectLogsHandler",
        "LogCollectorMonitorHandler",
        "Firewall",
        "MainThread",
    }
)

# Lines that start a record, for every source kind: agent ISO and slash timestamps, the backup
# extension's ``2024-01-14 22:16:48.796446`` form, and syslog/journald-wrapped copies.
RECORD_START = re.compile(
    # Mirrors parse_header exactly, so the scanner and the full parse cut the same records:
    # ISO lines need a level; slash and dash-space lines are always headers.
    rb"(?:\xef\xbb\xbf)?(?:"
    rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z (?:VERBOSE|INFO|WARNING|ERROR) "
    rb"|\d{4}[-/]\d\d[-/]\d\d \d\d:\d\d:\d\d"
    rb"|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ [^:\s]+: \d{4}[-/])"
)
_SYSLOG_WRAPPER = re.compile(r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ [^:\s]+: ")
_ISO = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z ")
_SLASH = re.compile(r"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d)(\.\d+)? ")
_DASH_SPACE = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) ")
_EXT_PREFIX = re.compile(r"\[(?P<name>[^\]]+?)-(?P<version>\d+(?:\.\d+)*)\]")
# The backup extension's console/in-memory format: ``<time>  Info  msg`` (two spaces around).
_WORD_LEVEL = re.compile(
    r"\s*(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)?\s*(Info|Warning|Error|Verbose)  "
)
_WORD_LEVELS = {"Info": "INFO", "Warning": "WARNING", "Error": "ERROR", "Verbose": "VERBOSE"}
BACKUP_CONSOLE_PREFIX = "[Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0]"
"""Who wrote a console-format line (``<time>  Info  msg``): only the backup extension's logger
(VMBackup ``backuplogger``) writes that layout, to /dev/console, to its in-memory freeze-window
buffer and, through the old waagent helper, to waagent.log. The tag is the one the extension
puts on its own extension.log lines (the handler *schema* version, never a build)."""


@dataclass(slots=True)
class Header:
    generation: str
    timestamp: datetime | None
    tz: str
    level: str
    thread: str
    prefix: str
    message: str


def split_extension_prefix(prefix: str) -> tuple[str, str]:
    """``[Microsoft.Azure.Extensions.CustomScript-2.1.13]`` -> (name, version).

    >>> split_extension_prefix("[Microsoft.Azure.RecoveryServices.VMSnapshotLinux-1.0.9220.0]")
    ('Microsoft.Azure.RecoveryServices.VMSnapshotLinux', '1.0.9220.0')
    >>> split_extension_prefix("ExtHandler")
    ('', '')
    """
    match = _EXT_PREFIX.fullmatch(prefix)
    if not match:
        return "", ""
    return match.group("name"), match.group("version")


def _is_prefix_token(token: str) -> bool:
    return token in PREFIXES or (token.startswith("[") and token.endswith("]"))


def _split_level(rest: str) -> tuple[str, str] | None:
    level, _, tail = rest.partition(" ")
    if level in LEVELS:
        return level, tail
    return None


def _word_level(message: str) -> tuple[str, str]:
    """``  Info  msg`` (backup extension) -> ("INFO", "msg"); otherwise ("", message)."""
    if "  " not in message[:40]:
        return "", message
    match = _WORD_LEVEL.match(message)
    if not match:
        return "", message
    return _WORD_LEVELS[match.group(1)], message[match.end() :].rstrip(" ")


def _parse_iso(line: str) -> Header | None:
    match = _ISO.match(line)
    if not match:
        return None
    leveled = _split_level(line[match.end() :])
    if leveled is None:
        return None
    level, rest = leveled
    timestamp = parse_iso_z(match.group(1))
    first, _, after_first = rest.partition(" ")
    if first.startswith("["):
        return Header("G3", timestamp, Tz.UTC, level, "", first, after_first)
    second, _, after_second = after_first.partition(" ")
    if _is_prefix_token(second):
        return Header("G4", timestamp, Tz.UTC, level, first, second, after_second)
    if first in PREFIXES:
        return Header("G3", timestamp, Tz.UTC, level, "", first, after_first)
    if first in KNOWN_THREADS:
        return Header("G4", timestamp, Tz.UTC, level, first, "", after_first)
    return Header("G3", timestamp, Tz.UTC, level, "", "", rest)


def _parse_slash(line: str) -> Header | None:
    match = _SLASH.match(line)
    if not match:
        return None
    timestamp = parse_slash(match.group(1) + (match.group(2) or ""))
    rest = line[match.end() :]
    if match.group(2):  # fractional seconds: the 2.1-2.2.45 agent logger
        leveled = _split_level(rest)
        if leveled is None:
            word_level, message = _word_level(rest)
            return Header("X", timestamp, Tz.ASSUMED_UTC, word_level, "",
                          BACKUP_CONSOLE_PREFIX if word_level else "", message)
        level, tail = leveled
        first, _, after = tail.partition(" ")
        if first in PREFIXES:
            return Header("G2", timestamp, Tz.ASSUMED_UTC, level, "", first, after)
        if first.startswith("[") and first.endswith("]"):
            return Header("G1", timestamp, Tz.ASSUMED_UTC, level, "", first, after)
        return Header("G1", timestamp, Tz.ASSUMED_UTC, level, "", "", tail)
    if rest.startswith("["):  # extension-written through the legacy waagent helper library
        end = rest.find("]")
        prefix = rest[: end + 1] if end > 0 else ""
        message = rest[end + 1 :].removeprefix(" ") if end > 0 else rest
        word_level, message = _word_level(message)
        return Header("X", timestamp, Tz.ASSUMED_UTC, word_level, "", prefix, message)
    word_level, message = _word_level(rest)
    if word_level:  # a console-format line re-stamped by the old helper (Python 2 builds)
        return Header("X", timestamp, Tz.ASSUMED_UTC, word_level, "", BACKUP_CONSOLE_PREFIX,
                      message)
    for marker, level in (("ERROR:", "ERROR"), ("WARNING:", "WARNING")):
        if rest.startswith(marker):
            return Header("G0", timestamp, Tz.ASSUMED_UTC, level, "", "", rest[len(marker) :])
    return Header("G0", timestamp, Tz.ASSUMED_UTC, "INFO", "", "", rest)


def _parse_dash_space(line: str) -> Header | None:
    match = _DASH_SPACE.match(line)
    if not match:
        return None
    rest = line[match.end() :]
    prefix = ""
    if rest.startswith("["):
        end = rest.find("]")
        if end > 0:
            prefix, rest = rest[: end + 1], rest[end + 1 :]
    word_level, rest = _word_level(rest)
    if word_level and not prefix:
        prefix = BACKUP_CONSOLE_PREFIX
    return Header(
        "X", parse_dash_space(match.group(1)), Tz.ASSUMED_UTC, word_level, "", prefix, rest
    )


def parse_header(line: str) -> Header | None:
    """Parse one physical line as a record header, or return None for a continuation line."""
    if len(line) < 19 or not line[0].isdigit():
        if line[:1].isalpha() and _SYSLOG_WRAPPER.match(line):
            return parse_header(_SYSLOG_WRAPPER.sub("", line, count=1))
        return None
    separator = line[4:5]
    if separator == "-":
        if line[10:11] == "T":
            return _parse_iso(line)
        return _parse_dash_space(line)
    if separator == "/":
        return _parse_slash(line)
    return None


# ---------------------------------------------------------------------------------------------
# Structured fields inside messages


_EVENT = re.compile(
    r"Event: name=(?P<name>[^,]*), op=(?P<op>[^,]*), message=(?P<message>.*?)"
    r"(?:, duration=(?P<duration>-?\d+))?\s*$",
    re.DOTALL,
)
_EXCEPTION_TOKEN = re.compile(
    r"\[(?P<cls>[A-Z][A-Za-z]*(?:Error|Exception))\]|[\[(](?P<num>0000\d\d)[\])]"
)
_NUMERIC_EXCEPTIONS = {
    "000001": "AgentConfigError",
    "000002": "AgentNetworkError",
    "000003": "ExtensionError",
    "000004": "ProvisionError",
    "000005": "ResourceDiskError",
    "000006": "DhcpError",
    "000007": "OSUtilError",
    "000008": "ProtocolError",
    "000009": "HttpError",
    "000010": "EventError",
    "000011": "CryptError",
    "000012": "UpdateError",
}
_HTTP_FAILED = re.compile(
    r"\[HTTP Failed\] (?:HTTP )?(?P<method>GET|POST|PUT|HEAD|DELETE) (?:(?P<url>\S+) -- )?"
    r"(?P<kind>IOError|HttpException) (?P<error>.*)"
)
_HTTP_STATUS = re.compile(
    r"\[HTTP (?:Failed|Retry)\] (?:\[(?P<status>\d{3}): (?P<reason>[^\]]*)\]"
    r"|(?:HTTP )?(?P<method>[A-Z]+) (?:(?P<url>\S+) -- )?Status Code (?P<status2>\d{3}))"
)
_HTTP_VERBOSE = re.compile(r"HTTP connection \[(?P<method>[A-Z]+)\] \[(?P<url>[^\]]*)\]")
_HTTP_RESPONSE = re.compile(
    r"(?:\[HTTP Response\] Status Code |HTTP response status: \[)(?P<status>\d{3})"
)
_HTTP_G0 = re.compile(r"HTTP Err: Status=(?P<status>\d{3})")
_VERSION = r"\d+(?:\.\d+)+(?:[.-]?rc\d+)?"
"""An agent version, with the pre-release suffix of 2.1.x builds (``2.1.5.rc7``)."""
_DAEMON_VERSION = re.compile(rf"Azure Linux Agent Version: ?(?:WALinuxAgent-)?(?P<v>{_VERSION})")
_GS_VERSION = re.compile(
    rf"Goal State Agent version (?P<v1>{_VERSION})"
    rf"|Agent WALinuxAgent-(?P<v2>{_VERSION}) is running as the goal state agent"
    rf"|WALinuxAgent-(?P<v3>{_VERSION}) running as process"
    # The daemon names the ExtHandler it is about to run (2.2.0+): its own package when no
    # newer one was downloaded, else the newest download, and confirms it once it runs.
    rf"|Installed Agent WALinuxAgent-(?P<v4>{_VERSION}) is the most current agent"
    rf"|Determined Agent WALinuxAgent-(?P<v5>{_VERSION}) to be the latest agent"
    rf"|Agent WALinuxAgent-(?P<v6>{_VERSION}) launched with command '[^'\n]*'"
    r" is successfully running"
)
_BLACKLISTED_VERSION = re.compile(
    rf"Agent WALinuxAgent-(?P<v>{_VERSION}) is blacklisted - skipping download"
)
"""2.2.0-2.2.14 say this for every once-failed version on every goal state, older ones too."""
_PYTHON = re.compile(r"(?:^|; )Python: (?P<v>\d+\.\d+(?:\.\d+)?)")
_OS = re.compile(r"^OS: (?P<os>.+)$", re.MULTILINE)


def decode_event_message(text: str) -> str | None:
    """Decode the base64+zlib ``message=eJ...`` of agents 2.2.31-2.2.54.

    >>> decode_event_message(base64.b64encode(zlib.compress(b"Non-zero exit code: 1")).decode())
    'Non-zero exit code: 1'
    >>> decode_event_message("plain text") is None
    True
    """
    candidate = text.strip()
    if not candidate.startswith("eJ") or " " in candidate:
        return None
    try:
        raw = zlib.decompressobj().decompress(base64.b64decode(candidate, validate=True), 1 << 20)
    except (ValueError, zlib.error):
        return None
    return raw.decode("utf-8", "replace")


def exception_classes(message: str) -> list[str]:
    """Exception classes named in a message, numeric tokens of old agents mapped to names.

    >>> exception_classes("[ProtocolError] [Wireserver Exception] [HttpError] x")
    ['ProtocolError', 'HttpError']
    >>> exception_classes("(000009)HTTP GET failed")
    ['HttpError']
    """
    found: list[str] = []
    for match in _EXCEPTION_TOKEN.finditer(message):
        name = match.group("cls") or _NUMERIC_EXCEPTIONS.get(match.group("num") or "", "")
        if name and name not in found:
            found.append(name)
    return found


def _event_fields(message: str, fields: dict[str, str]) -> None:
    match = _EVENT.search(message)
    if not match:
        return
    fields["event_name"] = match.group("name")
    fields["event_op"] = match.group("op")
    body = match.group("message")
    decoded = decode_event_message(body)
    fields["event_message"] = decoded if decoded is not None else body
    if decoded is not None:
        fields["event_message_encoded"] = "true"
    if match.group("duration") is not None:
        fields["event_duration"] = match.group("duration")


def _http_fields(message: str, fields: dict[str, str]) -> None:
    for pattern in (_HTTP_FAILED, _HTTP_STATUS, _HTTP_VERBOSE, _HTTP_RESPONSE, _HTTP_G0):
        match = pattern.search(message)
        if not match:
            continue
        groups = {k: v for k, v in match.groupdict().items() if v}
        if "method" in groups:
            fields.setdefault("http_method", groups["method"])
        if "url" in groups:
            fields.setdefault("http_url", groups["url"])
        status = groups.get("status") or groups.get("status2")
        if status:
            fields.setdefault("http_status", status)
        if "error" in groups:
            fields.setdefault("http_error", groups["error"].strip())


def _version_fields(message: str, fields: dict[str, str]) -> None:
    if "Agent" in message:
        # Each search only where its own words stand (a heartbeat names the agent on every
        # line of a verbose log and holds neither the daemon's nor a blacklist's words).
        daemon = _DAEMON_VERSION.search(message) if "Agent Version" in message else None
        if daemon:
            fields["daemon_version"] = daemon.group("v")
        goal_state = _GS_VERSION.search(message)
        if goal_state:
            # One alternative matched, and its version is its only (and so last) group.
            fields["goal_state_agent_version"] = goal_state[goal_state.lastindex or 0]
        blacklisted = (_BLACKLISTED_VERSION.search(message) if "is blacklisted" in message
                       else None)
        if blacklisted:
            fields["blacklisted_agent_version"] = blacklisted.group("v")
    if "Python: " in message:
        python = _PYTHON.search(message)
        if python:
            fields["python_version"] = python.group("v")
    if message.startswith("OS: "):
        os_match = _OS.match(message)
        if os_match:
            fields["os"] = os_match.group("os").strip()


_HEARTBEAT_HEAD = b"[HEARTBEAT] Agent WALinuxAgent-"
_HEARTBEAT_VERSION_END = b" is running as the goal state agent"
_PLAIN_VERSIONS: dict[bytes, str | None] = {}
"""Version text -> itself when it is ``\\d+(\\.\\d+)+`` in ASCII digits, else None (a
log names a few versions)."""
_V, _Y, _I = b"Vyi"
"""The letters of ``Version``, ``Python`` and ``is blacklisted`` a heartbeat never holds."""
_UNSEEN = object()


def heartbeat_agent_version(message: bytes) -> str | None:
    """The agent version of a heartbeat (``[HEARTBEAT] Agent WALinuxAgent-2.2.53 is running
    as the goal state agent [DEBUG HeartbeatCounter: ...]``) whose :func:`version_fields`
    are that version alone: ``{"goal_state_agent_version": version}``. None: not such a
    message (a pre-release version, the words of another field), ask :func:`version_fields`.

    Why that is its answer: no branch of ``_GS_VERSION`` starts within ``[HEARTBEAT] ``, so
    its leftmost match is the ``is running as the goal state agent`` branch at the agent's
    name, which reads a plain version whole; the daemon, blacklist and Python searches need
    ``Agent Version``, ``is blacklisted`` and ``Python: ``, and an ``OS: `` line starts so.
    Those words are ruled out by one letter each, which a heartbeat's counters never hold:
    no ``V`` or ``y`` anywhere, no ``i`` after the version's sentence (a byte search costs a
    seventh of a word search)."""
    if not message.startswith(_HEARTBEAT_HEAD):
        return None
    end = message.find(_HEARTBEAT_VERSION_END, len(_HEARTBEAT_HEAD))
    if end < 0 or _V in message or _Y in message \
            or _I in message[end + len(_HEARTBEAT_VERSION_END):]:
        return None
    text = message[len(_HEARTBEAT_HEAD):end]
    version = _PLAIN_VERSIONS.get(text, _UNSEEN)
    if version is _UNSEEN:
        parts = text.split(b".")
        plain = len(parts) > 1 and all(part.isdigit() for part in parts)
        if len(_PLAIN_VERSIONS) >= 4096:
            _PLAIN_VERSIONS.clear()
        version = _PLAIN_VERSIONS[text] = text.decode("ascii") if plain else None
    return version  # type: ignore[return-value]



def version_fields(message: str) -> dict[str, str]:
    """Only the agent facts of :func:`structured_fields` (versions, Python, OS)."""
    fields: dict[str, str] = {}
    _version_fields(message, fields)
    return fields


def structured_fields(message: str) -> dict[str, str]:
    """Fields a rule can match on without a regex (``where = {event_op = "Enable"}``).

    >>> structured_fields("Event: name=Foo, op=Enable, message=boom, duration=0")["event_op"]
    'Enable'
    >>> structured_fields("[HTTP Failed] GET http://168.63.129.16/machine/ -- IOError timed out")
    {'http_method': 'GET', 'http_url': 'http://168.63.129.16/machine/', 'http_error': 'timed out'}
    """
    fields: dict[str, str] = {}
    if "Event: " in message:
        _event_fields(message, fields)
    if "HTTP" in message:
        _http_fields(message, fields)
    if "(0000" in message or "[0000" in message or "Error]" in message or "Exception]" in message:
        classes = exception_classes(message)
        if classes:
            fields["exception"] = ",".join(classes)
    _version_fields(message, fields)
    if "[HEARTBEAT]" in message:
        fields["heartbeat"] = "true"
    return fields


# ---------------------------------------------------------------------------------------------
# Folding lines into records


def decode_line(raw: bytes) -> tuple[str, tuple[str, ...]]:
    """Bytes of one physical line (no newline) -> text plus flags; lossless for bad UTF-8."""
    flags: tuple[str, ...] = ()
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # a UTF-8 byte-order mark, written by editors and some collectors
    if b"\x00" in raw:
        raw = raw.replace(b"\x00", b"")
        flags = ("nul_bytes",)
    return raw.decode("utf-8", "surrogateescape"), flags


class RecordFolder:
    """Folds physical lines into records: header lines open a record, others continue it.

    Used both by the full exporter (every line) and by the scanner (only the lines around a
    prefilter hit), so both see identical records.
    """

    def __init__(
        self,
        member: str,
        source_kind: str,
        max_continuation_lines: int = 10_000,
        max_record_chars: int = 1 << 20,
        header_parser: Callable[[str], Header | None] = parse_header,
        prefix_has_real_version: bool = True,
    ) -> None:
        self.member = member
        self.parse_header = header_parser
        self.prefix_has_real_version = prefix_has_real_version
        self.source_kind = source_kind
        self.max_lines = max_continuation_lines
        self.max_chars = max_record_chars
        self._header: Header | None = None
        self._start = 0
        self._end = 0
        self._parts: list[str] = []
        self._size = 0
        self._flags: list[str] = []
        self._cut = False

    def feed(self, line_no: int, text: str, flags: tuple[str, ...] = ()) -> Record | None:
        """Add one line; returns the previous record when this line starts a new one."""
        header = self.parse_header(text)
        if header is None and self._parts:
            self._continue(line_no, text, flags)
            return None
        finished = self.flush()
        self._open(line_no, header, text, flags)
        return finished

    def _open(self, line_no: int, header: Header | None, text: str, flags: tuple[str, ...]) -> None:
        self._header = header
        self._start = self._end = line_no
        first = header.message if header is not None else text
        self._parts = [first]
        self._size = len(first)
        self._flags = list(flags)
        self._cut = False

    def _continue(self, line_no: int, text: str, flags: tuple[str, ...]) -> None:
        self._end = line_no
        for flag in flags:
            if flag not in self._flags:
                self._flags.append(flag)
        if self._cut:
            return
        if len(self._parts) > self.max_lines or self._size + len(text) > self.max_chars:
            self._cut = True
            self._flags.append("truncated_record")
            return
        self._parts.append(text)
        self._size += len(text) + 1

    def flush(self) -> Record | None:
        if not self._parts:
            return None
        record = self._build()
        self._parts = []
        self._header = None
        return record

    def _build(self) -> Record:
        header = self._header
        message = "\n".join(self._parts)
        if header is None:
            return Record(
                self.member,
                self.source_kind,
                self._start,
                self._end,
                None,
                Tz.NONE,
                "",
                "",
                "",
                "",
                "",
                "CONT",
                message,
                structured_fields(message),
                tuple(self._flags),
            )
        extension, version = split_extension_prefix(header.prefix)
        if not self.prefix_has_real_version:
            version = ""  # the backup extension's own prefix carries a schema version, not its own
        flags = tuple(self._flags)
        if header.timestamp is None:
            flags += ("bad_timestamp",)
        return Record(
            self.member,
            self.source_kind,
            self._start,
            self._end,
            header.timestamp,
            header.tz if header.timestamp else Tz.NONE,
            header.level,
            header.thread,
            header.prefix,
            extension,
            version,
            header.generation,
            message,
            structured_fields(message),
            flags,
        )


def iter_lines(
    chunks: Iterable[bytes], max_line_bytes: int
) -> Iterator[tuple[str, tuple[str, ...]]]:
    """Split a byte stream into decoded lines with a hard length cap per line.

    >>> [t for t, _ in iter_lines([b"a\\r\\nb", b"c\\n", b"d"], 64)]
    ['a', 'bc', 'd']
    """
    pending = b""
    for chunk in chunks:
        pending += chunk
        lines = pending.split(b"\n")
        pending = lines.pop()
        for raw in lines:
            yield _capped(raw, max_line_bytes)
        if len(pending) > max_line_bytes * 4:
            # A line without newline grows without bound: keep the head, drop the rest.
            pending = pending[: max_line_bytes + 1]
    if pending:
        text, flags = _capped(pending, max_line_bytes)
        yield text, (*flags, "no_trailing_newline")


def _capped(raw: bytes, cap: int) -> tuple[str, tuple[str, ...]]:
    if len(raw) > cap:
        text, flags = decode_line(raw[:cap])
        return text, (*flags, "truncated_line")
    return decode_line(raw)


def iter_records(
    chunks: Iterable[bytes],
    member: str,
    source_kind: str,
    *,
    first_line: int = 1,
    max_line_bytes: int = 64 * 1024,
    max_continuation_lines: int = 10_000,
    collector_truncated: bool = False,
    header_parser: Callable[[str], Header | None] = parse_header,
    prefix_has_real_version: bool = True,
) -> Iterator[Record]:
    """Every record of a log stream, in file order (the full parse used for exports)."""
    folder = RecordFolder(
        member,
        source_kind,
        max_continuation_lines,
        header_parser=header_parser,
        prefix_has_real_version=prefix_has_real_version,
    )
    line_no = first_line - 1
    for text, flags in iter_lines(chunks, max_line_bytes):
        line_no += 1
        if collector_truncated and line_no == first_line:
            flags = (*flags, "first_line_cut")
        record = folder.feed(line_no, text, flags)
        if record is not None:
            yield record
    last = folder.flush()
    if last is not None:
        yield last
