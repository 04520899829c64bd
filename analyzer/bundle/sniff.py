"""Decide what an input (or a nested archive) is from its first bytes, never from its name.

A customer's ``case.tgz`` may really be a zip, a plain log, or garbage; file names are not
evidence. The head of the data is enough:

=============  ==================================================================
``zip``        ``PK\\x03\\x04`` (first local header) or ``PK\\x05\\x06`` (empty zip)
``gzip``       ``1f 8b``; the first decompressed block says ``tar.gz`` vs a single gzip file
``xz``         ``fd 37 7a 58 5a 00``; decoded with a ``memlimit`` to tell ``tar.xz`` apart
``bzip2``      ``BZh`` -> rejected ("unsupported compression")
``tar``        ``ustar`` at offset 257, or a valid old-style (v7) header checksum,
               or a short all-zero stream (an empty tar: 1 KiB to 20 KiB of NULs)
``plain``      anything else that looks like text (a single log or XML file)
=============  ==================================================================

>>> sniff_head(b"2024-01-31T10:00:00.000000Z INFO Daemon ...\\n", Limits()).format
'plain'
>>> sniff_head(b"", Limits()).format
'empty'
"""

from __future__ import annotations

import lzma
import os
import re
import stat
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from analyzer.errors import BudgetExceeded
from analyzer.settings import Limits

from .budget import format_bytes
from .decompress import GZIP_MAGIC, XZ_MAGIC
from .model import SourceKind

SNIFF_BYTES = 64 * 1024
"""Raw bytes read for sniffing (xz needs some input before it produces the first block)."""

BLOCK = 512
EMPTY_TAR_MAX = 20 * 1024
"""An empty tar is its end-of-archive blocks padded to a record (10 KiB for GNU and Python
tar); anything longer that is all NULs is not taken for a tar."""

_OTHER_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"\x1f\x9d", "compress (.Z)"),
    (b"\x5d\x00\x00", "lzma"),
    (b"\x7fELF", "ELF executable"),
    (b"%PDF", "PDF"),
)


class InputFormat:
    """Values of ``Sniffed.format``."""

    DIRECTORY = "directory"
    TAR = "tar"
    TAR_GZ = "tar.gz"
    TAR_XZ = "tar.xz"
    ZIP = "zip"
    GZIP = "gzip"
    """A single gzip-compressed file (``waagent.log.1.gz``)."""
    XZ = "xz"
    """A single xz-compressed file."""
    BZIP2 = "bzip2"
    PLAIN = "plain"
    EMPTY = "empty"
    UNKNOWN = "unknown"

    ARCHIVES = frozenset({TAR, TAR_GZ, TAR_XZ, ZIP})


@dataclass(frozen=True)
class Sniffed:
    format: str
    detail: str = ""
    """Why an input is UNKNOWN (e.g. ``7z``), for the rejection message."""


def looks_like_tar(block: bytes, *, complete: bool = False) -> bool:
    """True for a POSIX/GNU tar header or an old v7 header with a valid checksum.

    With ``complete`` (``block`` is the whole data), a short all-NUL stream counts as an
    empty tar; a long run of NULs (a gzip bomb of zeros, a preallocated log) does not.
    """
    if len(block) < BLOCK:
        return False
    header = block[:BLOCK]
    if header[257:262] == b"ustar":
        return True
    if header.count(0) == BLOCK:
        return complete and 2 * BLOCK <= len(block) <= EMPTY_TAR_MAX and not block.strip(b"\0")
    if header[0] == 0:
        return False
    field = header[148:156].replace(b"\x00", b" ").strip()
    if not field or any(ch not in b"01234567" for ch in field):
        return False
    stored = int(field, 8)
    # v7 readers disagree on signedness: accept both sums (the checksum field counts as spaces).
    unsigned = sum(header[:148]) + 8 * 32 + sum(header[156:])
    signed = sum((b - 256 if b > 127 else b) for b in header[:148] + header[156:]) + 8 * 32
    return stored in (unsigned, signed)


def _looks_binary(head: bytes) -> bool:
    """Heuristic for "not a text file": control bytes other than the usual whitespace/ESC.

    NUL runs are ignored (crash-truncated or preallocated logs contain them).
    """
    sample = head[:8192].replace(b"\x00", b"")
    if not sample:
        return False
    allowed = {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x08, 0x1B}
    controls = sum(1 for b in sample if (b < 0x20 and b not in allowed) or b == 0x7F)
    return controls * 100 > len(sample)


def _inflate_head(head: bytes) -> tuple[bytes, bool]:
    """First decompressed bytes and whether they are the whole content.

    Members are decoded one after the other (``cat a.gz b.gz`` is one gzip stream): a tar.gz
    whose first member holds only a few bytes is still seen as a tar."""
    parts: list[bytes] = []
    got = 0
    rest = head
    while rest.startswith(GZIP_MAGIC) and got <= EMPTY_TAR_MAX:
        decoder = zlib.decompressobj(wbits=31)
        try:
            out = decoder.decompress(rest, EMPTY_TAR_MAX + 1 - got)
        except zlib.error:
            break
        parts.append(out)
        got += len(out)
        if not decoder.eof:
            return b"".join(parts), False
        rest = decoder.unused_data
    return b"".join(parts), not rest.strip(b"\0")


def _unxz_head(head: bytes, limits: Limits) -> tuple[bytes, bool]:
    decoder = lzma.LZMADecompressor(format=lzma.FORMAT_XZ, memlimit=limits.xz_memlimit)
    try:
        out = decoder.decompress(head, EMPTY_TAR_MAX + 1)
    except lzma.LZMAError as exc:
        if "memory" in str(exc).lower():
            raise BudgetExceeded(
                f"xz memory requirement exceeds limit {format_bytes(limits.xz_memlimit)}"
            ) from None
        return b"", False
    return out, bool(decoder.eof)


def sniff_head(head: bytes, limits: Limits) -> Sniffed:
    """Classify data from its first bytes (``SNIFF_BYTES`` of it, or all of it if shorter).

    Raises ``BudgetExceeded`` for an xz stream whose dictionary exceeds ``limits.xz_memlimit``.

    >>> import gzip, io, tarfile
    >>> buf = io.BytesIO()
    >>> with tarfile.open(fileobj=buf, mode="w:gz") as tf:
    ...     tf.addfile(tarfile.TarInfo("a"), io.BytesIO())
    >>> sniff_head(buf.getvalue(), Limits()).format
    'tar.gz'
    >>> sniff_head(gzip.compress(b"log line\\n"), Limits()).format
    'gzip'
    """
    if not head:
        return Sniffed(InputFormat.EMPTY)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return Sniffed(InputFormat.ZIP)
    if head.startswith(GZIP_MAGIC):
        inner, complete = _inflate_head(head)
        is_tar = looks_like_tar(inner, complete=complete)
        return Sniffed(InputFormat.TAR_GZ if is_tar else InputFormat.GZIP)
    if head.startswith(XZ_MAGIC):
        inner, complete = _unxz_head(head, limits)
        is_tar = looks_like_tar(inner, complete=complete)
        return Sniffed(InputFormat.TAR_XZ if is_tar else InputFormat.XZ)
    if head.startswith(b"BZh"):
        return Sniffed(InputFormat.BZIP2)
    # ``head`` is the whole input when it is shorter than what the callers read.
    if looks_like_tar(head, complete=len(head) < SNIFF_BYTES):
        return Sniffed(InputFormat.TAR)
    for magic, label in _OTHER_MAGIC:
        if head.startswith(magic):
            return Sniffed(InputFormat.UNKNOWN, label)
    if _looks_binary(head):
        return Sniffed(InputFormat.UNKNOWN, "binary data")
    return Sniffed(InputFormat.PLAIN)


def sniff_path(path: Path, limits: Limits) -> Sniffed:
    """Sniff a path given by the user: a directory, or a regular file by content.

    The path itself may be a symlink (the user typed it); nothing below it is followed.
    """
    st = os.stat(path)
    if stat.S_ISDIR(st.st_mode):
        return Sniffed(InputFormat.DIRECTORY)
    if not stat.S_ISREG(st.st_mode):
        return Sniffed(InputFormat.UNKNOWN, "not a regular file or directory")
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    return sniff_head(head, limits)


# -- source kind from content -------------------------------------------------------------------
# A log pasted into ``excerpt.txt``, a ticket attachment named ``messages.txt`` or an
# ``extension.log`` taken out of its folder says nothing by its name; its first lines do. The
# recogniser below reads a bounded head (``CONTENT_SNIFF_BYTES``, ``CONTENT_SNIFF_LINES``) and
# answers with a ``SourceKind`` only when the lines are of a shape the parsers read. It is its own
# small set of patterns (no parser is imported: data flows from members to parsers, not back).

CONTENT_SNIFF_BYTES = 16 * 1024
"""Head of a member read to recognise it (decompressed, for a gzip member)."""
CONTENT_SNIFF_LINES = 60

_LEVEL = r"(?:VERBOSE|INFO|WARNING|ERROR)"
# The agent's own headers, G1-G4: microseconds and a level word.
_AGENT_LINE = re.compile(
    rf"\d{{4}}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{{6}} {_LEVEL} "
    rf"|\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z {_LEVEL} "
)
# Whole-second slash stamps: the 2.0 agent (G0) and the extensions' legacy handler utility.
_SLASH_SECONDS = re.compile(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (?!\d)")
# ``[Publisher.Type-1.2.3]`` (the legacy handler utility's prefix), maybe after ``ERROR:``.
_DOTTED_PREFIX = re.compile(
    r"(?:[A-Z]+:)?\[(?P<name>[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)+)-\d+(?:\.\d+)*\]"
)
# The backup extension's extension.log (Python 3, A) and its console/in-memory format (E).
_DASH_SPACE_PREFIXED = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} \[[^\]\s]+-\d+(?:\.\d+)*\]"
)
_WORD_LEVEL = re.compile(
    r"\d{4}[-/]\d\d[-/]\d\d \d\d:\d\d:\d\d\.\d{6}  (?:Info|Warning|Error|Verbose)  "
)
# The backup extension's shell.log: ``date -u`` output then ``- ``, or ``[%F %H:%M:%S:%N]``.
_SHELL_LINE = re.compile(
    r"(?:[A-Z][a-z]{2} )?[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d (?:[A-Z]{1,5} )?\d{4} ?- "
    r"|\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d+\] "
)
# Go-based handlers (CustomScript 2.x, RunCommand): logfmt, and their shim's lines.
_LOGFMT = re.compile(r"time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z \w+=")
_HANDLER_SHIM = re.compile(
    r"\+ (?:nohup )?/var/lib/waagent/[^/\s]+-\d+(?:\.\d+)+/"
    r"|Writing a placeholder status file indicating progress"
)
# syslog (RFC 3164 and RFC 3339 stamps; journalctl's short, short-iso and short-precise).
_SYSLOG_LINE = re.compile(
    r"(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?"
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d))"
    # a host name, or none: posted excerpts often blank it, leaving two spaces
    r" (?:\S+ | )[^:\s\[]+(?:\[\d+\])?: "
)
# journalctl -o verbose: an entry header, then indented FIELD=value lines.
_JOURNAL_VERBOSE = re.compile(
    r"[A-Z][a-z]{2} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ \[s=[0-9a-f]+;i=[0-9a-f]+;"
)
_JOURNAL_FIELD = re.compile(r"\s+(?:MESSAGE|_TRANSPORT|PRIORITY|SYSLOG_IDENTIFIER|_PID|_COMM)=")
# dmesg: raw ring-buffer seconds, or ``dmesg -T``'s readable time.
_DMESG_LINE = re.compile(
    r"\[\s*\d+\.\d+\] |\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\] "
)
# A console capture: systemd's status column, init scripts, cloud-init's own lines.
_CONSOLE_LINE = re.compile(
    r"\[  OK  \]|\[FAILED\]|\[DEPEND\]| \* (?:Starting|Stopping) |ci-info: |Cloud-init v\. "
    r"|cloud-init\[\d+\]: "
)
# An agent header later in a console line (another writer's unfinished output before it).
_EMBEDDED_AGENT = re.compile(
    r"(?:\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6}|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z) "
    rf"{_LEVEL} "
)
# The Windows guest agent (WaAppAgent.log, TransparentInstaller.log).
_WINDOWS_LINE = re.compile(
    r"(?:\[[0-9A-Fa-f+]{1,20}\] )?"
    r"(?:\[\d\d/\d\d/\d{4} \d\d:\d\d:\d\d(?:\.\d+)?\] \[[A-Z]+\]"
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z \[[A-Z]+\])"
)
# Words only the 2.0 agent's log holds among whole-second slash-stamped logs (a Go program's
# standard logger writes the same stamp).
_AGENT_VOCABULARY = re.compile(
    r"(?i)waagent|Azure|WALinuxAgent|\bPlugin\b|goal ?state|Incarnation|ovf-env|Retry="
    r"|168\.63\.129\.16|Provision|Handler ?St(?:ate|atus)|/var/lib/waagent/|\bextension\b"
    # The 2.0 logger's own level markers, glued to the message.
    r"|(?-i:\d\d:\d\d:\d\d (?:ERROR|WARNING|VERBOSE):)"
)
_HANDLER_PATH = re.compile(
    r"/var/lib/waagent/(?P<name>[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)+)-\d+(?:\.\d+)+"
)
_LOG_DIR = re.compile(
    r"/var/log/azure/(?P<name>[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)+)/"
)
# The agent's blocks of a command's output: part of the record before them.
_OUTPUT_MARKERS = frozenset({"[stdout]", "[stderr]", "Traceback (most recent call last):"})
_TIMESTAMPISH = re.compile(r"\d\d:\d\d:\d\d")
VMSNAPSHOT = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"

# Documents: the root element of the XML, keys of the JSON.
_XML_ROOT = re.compile(rb"<(?!\?|!)(?P<root>[A-Za-z][\w.-]*)")
_XML_KINDS = {
    b"GoalState": SourceKind.GOAL_STATE,
    b"Extensions": SourceKind.EXTENSIONS_CONFIG,
    b"HostingEnvironmentConfig": SourceKind.HOSTING_ENV,
    b"SharedConfig": SourceKind.SHARED_CONFIG,
}
_JSON_KINDS: tuple[tuple[re.Pattern[bytes], str], ...] = (
    (re.compile(rb'"(?:hostGAPluginVersion|extensionGoalStatesSource)"'), SourceKind.VM_SETTINGS),
    (re.compile(rb'"(?:aggregateStatus|extensions_status|agent_name)"'), SourceKind.WAAGENT_STATUS),
    (re.compile(rb'^\s*\[\s*\{[^\[\]]{0,400}"status"\s*:\s*\{'), SourceKind.EXTENSION_STATUS),
    (
        re.compile(rb'^\s*\{(?=[^{}]{0,400}"status"\s*:\s*")(?=[^{}]{0,400}"code"\s*:)'),
        SourceKind.HANDLER_STATUS,
    ),
)


@dataclass(frozen=True)
class ContentGuess:
    """What a member's first lines say it is."""

    kind: str
    """A ``SourceKind``, or ``""`` when nothing recognisable was found."""
    extension: str = ""
    """The extension (``Publisher.Type``) whose own log this is, when the lines name it."""
    agent_lines: int = 0
    """Lines that open with the agent's own header (G1-G4)."""


NOTHING = ContentGuess("")


def head_text(head: bytes) -> str:
    """The head as text: UTF-16 copies (Windows) decoded, a cut last line dropped."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = head.decode("utf-16", errors="replace")
    else:
        text = head.decode("utf-8", errors="replace")
    text = text.removeprefix("\ufeff")
    if len(head) >= CONTENT_SNIFF_BYTES and "\n" in text:
        text = text[: text.rindex("\n")]
    return text


def sniff_content(head: bytes) -> ContentGuess:
    """The source kind a member's head shows, from its first bytes alone.

    >>> sniff_content(b"2024-01-31T10:00:00.000000Z INFO Daemon Daemon Azure Linux Agent\\n").kind
    'waagent_log'
    >>> sniff_content(b"Jun 20 06:52:20 vm waagent[477]: 2017/06/20 06:52:20.009729 INFO x\\n").kind
    'system_log'
    >>> sniff_content(b"root:x:0:0:root:/root:/bin/bash\\n").kind
    ''
    """
    if not head or _looks_binary(head):
        return NOTHING
    body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if body.startswith(b"<"):
        return _sniff_xml(body)
    if body.startswith((b"{", b"[")) and not _DMESG_LINE.match(body[:64].decode("latin-1")):
        document = _sniff_json(body)
        if document.kind:
            return document
    return _sniff_lines(head_text(head))


def _sniff_xml(body: bytes) -> ContentGuess:
    if body.strip() == b"<xml>empty placeholder file</xml>":
        return ContentGuess(SourceKind.GOAL_STATE_PLACEHOLDER)
    position = 0
    while True:
        found = _XML_ROOT.search(body, position)
        if found is None:
            return NOTHING
        # Skip the prolog and comments: the first element that is not inside ``<!-- -->``.
        comment = body.rfind(b"<!--", 0, found.start())
        if comment != -1 and body.find(b"-->", comment) > found.start():
            position = body.find(b"-->", comment) + 3
            continue
        return ContentGuess(_XML_KINDS.get(found.group("root"), ""))


def _sniff_json(body: bytes) -> ContentGuess:
    for pattern, kind in _JSON_KINDS:
        if pattern.search(body):
            return ContentGuess(kind, _named_extension(body.decode("utf-8", "replace")))
    return NOTHING


def _named_extension(text: str) -> str:
    """The extension a document or log names for itself: a handler path, a log folder."""
    found = _HANDLER_PATH.search(text) or _LOG_DIR.search(text)
    return found.group("name") if found is not None else ""


@dataclass
class _Tally:
    lines: int = 0
    agent: int = 0
    slash_seconds: int = 0
    dotted: int = 0
    snapshot_prefixed: int = 0
    word_level: int = 0
    shell: int = 0
    logfmt: int = 0
    shim: int = 0
    syslog: int = 0
    journal_verbose: int = 0
    dmesg: int = 0
    console: int = 0
    embedded_agent: int = 0
    windows: int = 0

    def recognised(self) -> int:
        """Lines of any known shape, or 1 (so that no line at all is never a majority)."""
        counts = (
            self.agent, self.slash_seconds, self.snapshot_prefixed, self.word_level, self.shell,
            self.logfmt, self.shim, self.syslog, self.journal_verbose, self.dmesg, self.console,
            self.embedded_agent, self.windows,
        )
        return max(sum(counts), 1)


def _tally(text: str) -> tuple[_Tally, Counter[str]]:
    tally = _Tally()
    names: Counter[str] = Counter()
    for line in text.splitlines():
        if not line.strip():
            continue
        if line[0] in " \t" and _CONSOLE_LINE.match(line):
            tally.lines += 1
            tally.console += 1
            continue
        if line[0] in " \t" or line.rstrip() in _OUTPUT_MARKERS:
            # Continuations: traceback frames, journal fields, a wrapped syslog line.
            if _JOURNAL_FIELD.match(line):
                tally.journal_verbose += 1
                tally.lines += 1
            continue
        tally.lines += 1
        if tally.lines > CONTENT_SNIFF_LINES:
            break
        if _AGENT_LINE.match(line):
            tally.agent += 1
        elif _SYSLOG_LINE.match(line):
            tally.syslog += 1
        elif _JOURNAL_VERBOSE.match(line):
            tally.journal_verbose += 1
        elif _LOGFMT.match(line):
            tally.logfmt += 1
        elif _HANDLER_SHIM.match(line):
            tally.shim += 1
        elif _DASH_SPACE_PREFIXED.match(line):
            tally.snapshot_prefixed += 1
        elif _WORD_LEVEL.match(line):
            tally.word_level += 1
        elif _SLASH_SECONDS.match(line):
            tally.slash_seconds += 1
            prefix = _DOTTED_PREFIX.match(line, 20)
            if prefix is not None:
                tally.dotted += 1
                names[prefix.group("name")] += 1
        elif _SHELL_LINE.match(line):
            tally.shell += 1
        elif _DMESG_LINE.match(line):
            tally.dmesg += 1
        elif _WINDOWS_LINE.match(line):
            tally.windows += 1
        elif _CONSOLE_LINE.search(line, 0, 200):
            tally.console += 1
        elif _EMBEDDED_AGENT.search(line, 0, 260):
            tally.embedded_agent += 1
        prefix = _DASH_SPACE_PREFIXED.match(line) and _DOTTED_PREFIX.search(line, 26, 27 + 200)
        if prefix:
            names[prefix.group("name")] += 1
    tally.lines = min(tally.lines, CONTENT_SNIFF_LINES)
    return tally, names


def _sniff_lines(text: str) -> ContentGuess:
    tally, names = _tally(text)
    guess = _decide_lines(text, tally, names)
    return ContentGuess(guess.kind, guess.extension, tally.agent) if guess.kind else guess


def _decide_lines(text: str, tally: _Tally, names: Counter[str]) -> ContentGuess:
    if tally.lines == 0:
        return NOTHING
    half = tally.lines / 2
    own_name = names.most_common(1)[0][0] if names else ""
    named = own_name or _named_extension(text)
    if tally.journal_verbose >= half or tally.syslog >= half:
        return ContentGuess(SourceKind.SYSTEM_LOG)
    if tally.windows and tally.windows * 2 >= tally.recognised():
        # .NET stack frames (``at Microsoft...``) continue a record unindented.
        return ContentGuess(SourceKind.WINDOWS_AGENT_LOG)
    if tally.logfmt and (tally.logfmt + tally.shim) * 3 >= tally.lines:
        return ContentGuess(SourceKind.EXTENSION_LOG, named)
    if tally.shell >= half:
        return ContentGuess(SourceKind.VMSNAPSHOT_SHELL_LOG, VMSNAPSHOT)
    stamped = tally.slash_seconds + tally.snapshot_prefixed + tally.word_level
    prefixed = own_name == VMSNAPSHOT and (names[VMSNAPSHOT] * 3 >= tally.lines or stamped >= half)
    console = tally.snapshot_prefixed + tally.word_level >= half and VMSNAPSHOT in text
    if prefixed or console:
        # The backup extension's extension.log (its Python 2 traceback frames are stamped
        # lines without its prefix), or its console format with its handler path in the head.
        return ContentGuess(SourceKind.VMSNAPSHOT_LOG, VMSNAPSHOT)
    system = tally.syslog + tally.journal_verbose + tally.dmesg + tally.console
    if tally.agent + tally.embedded_agent + system >= half and (system or tally.embedded_agent):
        # A console capture: the agent's lines among the kernel's, init's and cloud-init's.
        return ContentGuess(SourceKind.SYSTEM_LOG)
    if tally.agent >= half:
        return ContentGuess(SourceKind.WAAGENT_LOG)
    if tally.slash_seconds >= half:
        if tally.dotted * 5 >= tally.slash_seconds:
            return ContentGuess(SourceKind.EXTENSION_LOG, named)
        if _AGENT_VOCABULARY.search(text):
            return ContentGuess(SourceKind.WAAGENT_LOG)
        return NOTHING
    if tally.agent * 2 >= tally.recognised():
        # Agent headers among raw lines: a command's output or openssl's error stack logged
        # without indentation continues the agent's record.
        return ContentGuess(SourceKind.WAAGENT_LOG)
    if tally.shim and not tally.agent and tally.shim * 3 >= tally.lines:
        return ContentGuess(SourceKind.EXTENSION_LOG, named)
    return NOTHING


def looks_like_log_text(text: str) -> bool:
    """Some line of the head carries a time of day: a log of a shape not recognised above
    (a name that says ``syslog`` may then decide), not a README or a table."""
    lines = [line for line in text.splitlines()[:CONTENT_SNIFF_LINES] if line.strip()]
    stamped = sum(1 for line in lines if _TIMESTAMPISH.search(line, 0, 80))
    return bool(lines) and stamped * 2 >= len(lines)


def inflate_head(head: bytes, fmt: str, limit: int, xz_memlimit: int) -> bytes:
    """Up to ``limit`` decompressed bytes of a compressed member's first raw bytes (``gzip``
    or ``xz``), or what could be decoded before an error: enough to recognise its lines."""
    try:
        if fmt == "xz":
            decoder = lzma.LZMADecompressor(format=lzma.FORMAT_XZ, memlimit=xz_memlimit)
            return decoder.decompress(head, limit)
        return zlib.decompressobj(wbits=31).decompress(head, limit)
    except (lzma.LZMAError, zlib.error, EOFError):
        return b""
