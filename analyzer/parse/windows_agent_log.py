"""Line grammar of the Windows guest agent's logs (WaAppAgent.log, TransparentInstaller.log) and
of the per-plugin logs under ``C:\\WindowsAzure\\Logs\\Plugins``; facts taken from their records.

Layouts seen in public sources (docs/windows-formats.md):

=====  =====================================================================================
 gen   header layout
=====  =====================================================================================
 WA    ``[00000006] [11/14/2019 05:52:13.44] [INFO]  message`` (month/day/year, hundredths;
       no zone is written: read as UTC and flagged ``assumed-utc``)
 WB    ``[00000018] 2021-01-12T16:35:45Z [ERROR] message`` (ISO 8601 UTC, optional fraction)
=====  =====================================================================================

The ``[00000006]`` thread id is optional (some copies drop it). Level tokens are ``INFO``,
``WARN``, ``ERROR``, ``HEART`` (the heartbeat), ``TRACE`` and ``VERBOSE``; they map to the
shared ``INFO``/``WARNING``/``ERROR``/``VERBOSE`` vocabulary, the heartbeat becoming an
``INFO`` record with ``fields["heartbeat"] = "true"``.

>>> h = parse_windows_header("[00000006] [11/14/2019 05:52:13.44] [INFO]  hello")
>>> (h.generation, h.timestamp.isoformat(), h.tz, h.level, h.thread, h.message)
('WA', '2019-11-14T05:52:13.440000+00:00', 'assumed-utc', 'INFO', '00000006', 'hello')
>>> h = parse_windows_header("[00000018] 2021-01-12T16:35:45Z [ERROR] boom")
>>> (h.generation, h.tz, h.level, h.message)
('WB', 'utc', 'ERROR', 'boom')
>>> parse_windows_header("   at Microsoft.WindowsAzure.GuestAgent.X()") is None
True
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from datetime import UTC, datetime
from typing import IO

from analyzer.parse.records import Record, Tz
from analyzer.parse.rows import AgentRow, ExtensionRow
from analyzer.parse.timeutil import FIRST_YEAR, LAST_YEAR, local_zone, parse_iso_z
from analyzer.parse.waagent_log import Header, parse_header

WINDOWS_RECORD_START = re.compile(
    # Mirrors parse_windows_header: an optional thread id, then either timestamp layout.
    rb"(?:\xef\xbb\xbf)?(?:\[[0-9A-Fa-f+]{1,20}\] )?"
    rb"(?:\[\d\d/\d\d/\d{4} \d\d:\d\d:\d\d(?:\.\d+)?\] \[[A-Z]+\]"
    rb"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z \[[A-Z]+\])"
)
PLUGIN_RECORD_START = re.compile(
    # Plugin logs: the agent's layouts, and the timestamp shapes of the shared grammar.
    rb"(?:\xef\xbb\xbf)?(?:"
    rb"(?:\[[0-9A-Fa-f+]{1,20}\] )?(?:\[\d\d/\d\d/\d{4} |\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)"
    rb"|\d{4}[-/]\d\d[-/]\d\d[ T]\d\d:\d\d:\d\d)"
)

_THREAD = r"(?:\[(?P<thread>[0-9A-Fa-f+]{1,20})\] )?"
_US_DATE = re.compile(
    _THREAD + r"\[(?P<mon>\d\d)/(?P<day>\d\d)/(?P<year>\d{4}) "
    r"(?P<time>\d\d:\d\d:\d\d)(?P<frac>\.\d+)?\] \[(?P<level>[A-Z]+)\] ?"
)
_ISO_DATE = re.compile(
    _THREAD + r"(?P<stamp>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z \[(?P<level>[A-Z]+)\] ?"
)
LEVELS = {
    "INFO": "INFO",
    "WARN": "WARNING",
    "WARNING": "WARNING",
    "ERROR": "ERROR",
    "HEART": "INFO",
    "TRACE": "VERBOSE",
    "VERBOSE": "VERBOSE",
}
HEARTBEAT_LEVEL = "HEART"


def _us_time(match: re.Match[str]) -> datetime | None:
    """``11/14/2019 05:52:13.44`` (month first) as written, read as UTC (see the module doc)."""
    try:
        year = int(match.group("year"))
        if not FIRST_YEAR <= year <= LAST_YEAR:
            return None
        hour, minute, second = (int(p) for p in match.group("time").split(":"))
        frac = match.group("frac") or ""
        micro = int((frac[1:] + "000000")[:6]) if frac else 0
        stamp = datetime(
            year, int(match.group("mon")), int(match.group("day")), hour, minute, second, micro
        )
    except ValueError:
        return None
    return stamp.replace(tzinfo=local_zone()).astimezone(UTC)


def parse_windows_header(line: str) -> Header | None:
    """Parse one WaAppAgent.log / TransparentInstaller.log line, or None for a continuation.

    The original level token is kept in ``Header.prefix`` only for the heartbeat
    (``[HEART]``), so facts can tell it from an ordinary INFO line.
    """
    if not line or line[0] not in "[0123456789\ufeff":
        return None
    line = line.removeprefix("\ufeff")
    match = _US_DATE.match(line)
    if match is not None:
        level = LEVELS.get(match.group("level"))
        if level is None:
            return None
        return Header(
            "WA",
            _us_time(match),
            Tz.ASSUMED_UTC,
            level,
            match.group("thread") or "",
            HEARTBEAT_LEVEL if match.group("level") == HEARTBEAT_LEVEL else "",
            line[match.end() :].lstrip(" "),
        )
    match = _ISO_DATE.match(line)
    if match is not None:
        level = LEVELS.get(match.group("level"))
        if level is None:
            return None
        return Header(
            "WB",
            parse_iso_z(match.group("stamp")),
            Tz.UTC,
            level,
            match.group("thread") or "",
            HEARTBEAT_LEVEL if match.group("level") == HEARTBEAT_LEVEL else "",
            line[match.end() :].lstrip(" "),
        )
    return None


def parse_plugin_header(line: str) -> Header | None:
    """Plugin logs are written by each extension in its own way: the agent's layouts first,
    then the shared timestamp shapes (ISO ``Z``, ``YYYY/MM/DD``, ``YYYY-MM-DD HH:MM:SS``).

    >>> parse_plugin_header("2024-01-31 10:00:00 snapshot started").timestamp.year
    2024
    """
    return parse_windows_header(line) or parse_header(line)


_HOUR_WB = re.compile(
    rb"^(?:\[[0-9A-Fa-f+]{1,20}\] )?(\d{4}-\d\d-\d\d)T(\d\d):\d\d:\d\d\S* \[([A-Z]+)\]", re.M
)
_HOUR_WA = re.compile(
    rb"^(?:\[[0-9A-Fa-f+]{1,20}\] )?\[(\d\d)/(\d\d)/(\d{4}) (\d\d):\d\d:\d\d\S*\] \[([A-Z]+)\]",
    re.M,
)


def count_windows_hours(region: bytes, hourly: Counter[tuple[str, str]]) -> None:
    r"""Records per (``YYYY-MM-DDTHH``, level) for the HTML timeline, as written (WA lines are
    not shifted by ``--vm-timezone`` here, like the agent's own G0-G2 lines).

    >>> c: Counter[tuple[str, str]] = Counter()
    >>> count_windows_hours(b"[00000006] [11/14/2019 05:52:13.44] [WARN]  x\r\n"
    ...                     b"[00000018] 2021-01-12T16:35:45Z [ERROR] y\r\n", c)
    >>> sorted(c.items())
    [(('2019-11-14T05', 'WARNING'), 1), (('2021-01-12T16', 'ERROR'), 1)]
    """
    for day, hour, level in _HOUR_WB.findall(region):
        _count(hourly, day.decode(), hour.decode(), level.decode())
    for month, mday, year, hour, level in _HOUR_WA.findall(region):
        _count(hourly, f"{year.decode()}-{month.decode()}-{mday.decode()}", hour.decode(),
               level.decode())


def _count(hourly: Counter[tuple[str, str]], day: str, hour: str, token: str) -> None:
    level = LEVELS.get(token)
    if level is not None and FIRST_YEAR <= int(day[:4]) <= LAST_YEAR:
        hourly[(f"{day}T{hour}", level)] += 1


# ---------------------------------------------------------------------------------------------
# Facts (versions, plugin operations) from records


_AGENT_VERSION = re.compile(
    r"WindowsAzureGuestAgent starting\. Version (?P<v>\d+(?:\.\d+){2,3})"
)
_PLUGIN_FAILED = re.compile(
    r"(?P<op>Install|Enable|Update|Disable|Uninstall|Upgrade) failed for plugin "
    r"\(name: (?P<name>[^,()]+), version:? (?P<version>[^)\s]+)\)"
)
_EXIT_CODE = re.compile(r"has exited with Exit code: (?P<code>-?\d+)")
_PLUGIN_STATE = re.compile(
    r"Plugin (?P<state>enabled|disabled|installed|uninstalled) \(handler name: "
    r"(?P<name>[^,()]+),(?: extension name: [^,()]*,)? version: (?P<version>[^)\s]+)\)"
)

FACT_PATTERNS = (
    r"WindowsAzureGuestAgent starting\. Version",
    r"failed for plugin \(name: ",
    r"\(handler name: ",
)
"""Prefilter literals for the records facts are taken from (joined to the rules' prefilter)."""


def windows_fields(message: str) -> dict[str, str]:
    """Structured fields of a Windows agent message (usable in rules' ``where``).

    >>> windows_fields("WindowsAzureGuestAgent starting. Version 2.7.41491.949")
    {'windows_agent_version': '2.7.41491.949'}
    >>> f = windows_fields("Install failed for plugin (name: A.B, version 1.0.1) with exception "
    ...                    "Command C:\\\\P\\\\x.exe of A.B has exited with Exit code: 1618")
    >>> f["plugin_op"], f["plugin_name"], f["plugin_version"], f["exit_code"]
    ('Install', 'A.B', '1.0.1', '1618')
    """
    fields: dict[str, str] = {}
    if "WindowsAzureGuestAgent" in message:
        version = _AGENT_VERSION.search(message)
        if version:
            fields["windows_agent_version"] = version.group("v")
    if "for plugin" in message:
        failed = _PLUGIN_FAILED.search(message)
        if failed:
            fields["plugin_op"] = failed.group("op")
            fields["plugin_name"] = failed.group("name").strip()
            fields["plugin_version"] = failed.group("version")
    if "handler name:" in message:
        state = _PLUGIN_STATE.search(message)
        if state:
            fields["plugin_state"] = state.group("state")
            fields["plugin_name"] = state.group("name").strip()
            fields["plugin_version"] = state.group("version")
    if "Exit code" in message:
        code = _EXIT_CODE.search(message)
        if code:
            fields["exit_code"] = code.group("code")
    return fields


def enrich_record(record: Record) -> Record:
    """Add the Windows fields (and the heartbeat flag) to a record of a Windows log."""
    if record.prefix == HEARTBEAT_LEVEL:
        record.fields["heartbeat"] = "true"
    record.fields.update(windows_fields(record.message))
    return record


def may_hold_facts(message: str) -> bool:
    """Cheap test before building a record on the one-line path."""
    return "WindowsAzureGuestAgent starting" in message or "plugin" in message.lower()


def record_facts(record: Record) -> list[AgentRow | ExtensionRow]:
    """Agent and extension facts of one Windows agent record (``role`` of the agent row:
    ``windows_guest_agent``)."""
    fields = record.fields
    out: list[AgentRow | ExtensionRow] = []
    if "windows_agent_version" in fields:
        out.append(
            AgentRow(
                "windows_guest_agent",
                fields["windows_agent_version"],
                record.member,
                record.timestamp,
                record.line,
                source_kind=record.source_kind,
            )
        )
    if "plugin_name" in fields:
        failed = "plugin_op" in fields
        out.append(
            ExtensionRow(
                name=fields["plugin_name"],
                version=fields.get("plugin_version", ""),
                source_kind="log",
                member=record.member,
                state=fields.get("plugin_state", ""),
                status="error" if failed else "",
                code=fields.get("exit_code", ""),
                message=record.message.split("\n", 1)[0][:500] if failed else "",
                operation=fields.get("plugin_op", ""),
                timestamp=record.timestamp,
                line=record.line,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Plugin folders: C:\Packages\Plugins\<Publisher.Type>\<version>\ and the matching log folder

_PLUGIN_DIR = re.compile(
    r"(?i)(?:^|/)(?:Packages/|Logs/)?Plugins/(?P<name>[A-Za-z][\w.\-]{0,200})/"
    r"(?P<version>\d+(?:\.\d+){1,3})/"
)


def plugin_from_path(path: str) -> tuple[str, str]:
    """(name, version) of a file under a Windows plugin folder, or ("", "").

    >>> plugin_from_path("x.zip!Packages/Plugins/Microsoft.Compute.BGInfo/2.1/Status/0.status")
    ('Microsoft.Compute.BGInfo', '2.1')
    >>> plugin_from_path("c.zip!Packages\\\\Plugins\\\\A.B\\\\1.0.9\\\\Status\\\\2.status")
    ('A.B', '1.0.9')
    >>> plugin_from_path("var/lib/waagent/A.B-1.0/status/0.status")
    ('', '')
    """
    # Provenance strings keep zip entry names as written: Windows tools write "\\".
    match = _PLUGIN_DIR.search(path.rsplit("!", 1)[-1].replace("\\", "/"))
    if match is None:
        return "", ""
    return match.group("name"), match.group("version")


def directory_row(provenance: str, logical_path: str) -> ExtensionRow | None:
    """An ``extensions`` row (``source_kind = "directory"``) for a member in a plugin folder."""
    name, version = plugin_from_path(logical_path)
    if not name:
        return None
    return ExtensionRow(name=name, version=version, source_kind="directory", member=provenance)


# ---------------------------------------------------------------------------------------------
# UTF-16 copies


class _Utf16AsUtf8:
    """A byte stream that re-encodes UTF-16 text (BOM already consumed) as UTF-8, chunk by
    chunk, so the scanner's byte patterns see ordinary text."""

    def __init__(self, raw: IO[bytes], encoding: str) -> None:
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")

    def read(self, size: int = -1) -> bytes:
        # An empty result means end of stream to the scanner: never return b"" early (a read
        # that ends inside a surrogate pair decodes to nothing until the next bytes come).
        while True:
            data = self._raw.read(size if size is None or size < 0 else max(4, size))
            text = self._decoder.decode(data, final=not data)
            if text or not data:
                return text.encode("utf-8", "surrogateescape")

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> _Utf16AsUtf8:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def text_stream(raw: IO[bytes]) -> IO[bytes]:
    r"""The member's bytes as UTF-8: a log saved as UTF-16 (PowerShell 5 ``Out-File`` and
    ``>`` write UTF-16LE with a byte-order mark) is re-encoded; anything else is returned
    unchanged, positioned at its start.

    >>> import io
    >>> text_stream(io.BytesIO("[00000006] x\r\n".encode("utf-16"))).read()
    b'[00000006] x\r\n'
    >>> text_stream(io.BytesIO(b"plain")).read()
    b'plain'
    """
    head = raw.read(2)
    if head in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        encoding = "utf-16-le" if head == codecs.BOM_UTF16_LE else "utf-16-be"
        return _Utf16AsUtf8(raw, encoding)  # type: ignore[return-value]
    return _Prepended(head, raw)  # type: ignore[return-value]


class _Prepended:
    """``head`` (already read) followed by the rest of ``raw``."""

    def __init__(self, head: bytes, raw: IO[bytes]) -> None:
        self._head = head
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head + self._raw.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            if len(data) < size:
                data += self._raw.read(size - len(data))
            return data
        return self._raw.read(size)

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> _Prepended:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
