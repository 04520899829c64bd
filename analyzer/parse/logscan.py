"""The hot path: find the records of a log stream that any rule could match, in one pass.

The stream is read in large chunks cut at record boundaries. One combined prefilter regex
(RE2, linear time, built from every rule's pattern) runs over the raw bytes; only the records
around its hits are decoded and parsed. Line numbers come from counting newlines in C.
Everything else about the file (first/last timestamp, line count, optional per-hour level
counts for the HTML timeline) is computed without touching lines one by one in Python.
"""

from __future__ import annotations

import re
import sys
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, Protocol

from analyzer.errors import BundleError
from analyzer.parse.logsources import Grammar
from analyzer.parse.records import Record
from analyzer.parse.timeutil import FIRST_YEAR, LAST_YEAR
from analyzer.parse.waagent_log import Header, RecordFolder, decode_line

CHUNK_BYTES = 4 * 1024 * 1024
PIECE_BYTES = 256 * 1024
"""A chunk is read in pieces of this size: the size the layers below produce, so no layer
joins pieces only for the next to copy them again."""
SPLIT_BYTES = 2 * 1024 * 1024
"""A member read in one go and at least this large goes to the planners in two halves
(:meth:`LogScanner._halves`)."""
_MAX_BACKTRACK_LINES = 10_000


class Prefilter(Protocol):
    def next_hit(self, data: bytes, pos: int) -> int: ...


@dataclass
class ScanStats:
    """What the scanner learnt about one log member besides the matching records."""

    bytes: int = 0
    lines: int = 0
    first_timestamp: datetime | None = None
    last_timestamp: datetime | None = None
    hourly: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(``YYYY-MM-DDTHH``, level) -> records, only when a timeline was asked for."""
    text: bool = False
    """Something other than white space was read."""

    def see_timestamp(self, stamp: datetime | None) -> None:
        if stamp is None:
            return
        if self.first_timestamp is None or stamp < self.first_timestamp:
            self.first_timestamp = stamp
        if self.last_timestamp is None or stamp > self.last_timestamp:
            self.last_timestamp = stamp


_CONTROL = bytes(c for c in range(1, 32) if c not in (9, 10, 13))
"""NUL is not counted: crash-preallocated logs hold long NUL runs and are still text."""


def _head(pieces: list[bytes], sample: int = 8192) -> bytes:
    """The first ``sample`` bytes of the pieces."""
    return pieces[0] if len(pieces[0]) >= sample else b"".join(pieces)[:sample]


def looks_binary(head: bytes, sample: int = 8192) -> bool:
    """More than a tenth of the first bytes are control characters: a core dump or a zip
    named ``*.log``, not a log.

    >>> looks_binary(b"2024-01-31T10:00:00.000000Z INFO ExtHandler hello")
    False
    >>> looks_binary(bytes(range(1, 32)) * 4)
    True
    >>> looks_binary(b"2024-01-31T10:00:00.000000Z INFO x " + bytes(5000))
    False
    """
    window = head[:sample]
    if not window:
        return False
    controls = len(window) - len(window.translate(None, _CONTROL))
    return controls * 10 > len(window)


def reads_as_header(data: bytes, start: int, header_parser: Callable[[str], Header | None],
                    cap: int, end: int | None = None) -> bool:
    """The line starting at ``start`` (cut at ``cap`` bytes) of ``data[:end]`` is a record
    header for ``header_parser``, as the record folder reads it."""
    end = len(data) if end is None else end
    newline = data.find(b"\n", start, end)
    line = data[start:newline if newline >= 0 else end]
    return header_parser(decode_line(line[:cap])[0]) is not None


_HOUR_LEVEL = re.compile(
    rb"^(\d{4}[-/]\d\d[-/]\d\d)[T ](\d\d):\d\d:\d\d\S* (VERBOSE|INFO|WARNING|ERROR) ", re.M
)


@dataclass
class LogScanner:
    """Scans one member; calls ``on_record`` for every record a prefilter hit falls into."""

    member: str
    source_kind: str
    grammar: Grammar
    prefilter: Prefilter | None
    on_record: Callable[[Record], None]
    max_line_bytes: int = 64 * 1024
    max_record_bytes: int = 1024 * 1024
    max_continuation_lines: int = 10_000
    collector_truncated: bool = False
    timeline: bool = False
    stats: ScanStats = field(default_factory=ScanStats)
    full_prefilter: Any = None
    """Patterns that need the whole record parsed. When set, a hit on a one-line record that
    none of them matches goes to ``on_line`` instead: its header is parsed, nothing more."""
    on_line: Callable[[Header, int, bool], None] | None = None
    """Cheap path: (parsed header, line number, first line of a collector-cut file)."""
    bulk: Callable[[bytes, bool], Callable[[int], Any]] | None = None
    """Bulk path (:mod:`analyzer.engine.bulk`): (region, whether it starts at the file's
    first line) -> what gives, when the region's turn comes and given its first line
    number, a plan whose ``positions`` are the candidate lines left to the record path,
    whose ``flush(line)`` applies the bulk matches before that line and whose
    ``newlines`` the planner counted (None: this region takes the record path)."""
    bulk_depth: Callable[[], int] = lambda: 0
    """How many regions the bulk planner may hold before the oldest is applied."""
    _carry_left: bool = field(default=False, init=False, repr=False)

    def scan(self, stream: IO[bytes], chunk_bytes: int | None = None) -> ScanStats:
        regions = self._regions(stream, chunk_bytes or CHUNK_BYTES)
        # Regions handed to the bulk planner ahead of their turn (its workers plan them while
        # this process reads the next ones); applied strictly in order. A region's first
        # line number is known when its turn comes: the planner counts its lines.
        waiting: deque[tuple[bytes, Any]] = deque()
        line_base = 1
        newline_seen = False
        try:
            while True:
                try:
                    region = next(regions)
                except StopIteration:
                    break
                except Exception:
                    # A read stopped by a budget or a broken stream: what was read counts.
                    while waiting:
                        line_base = self._scan_region(*waiting.popleft(), line_base)
                    raise
                later = (self.bulk(region, not newline_seen) if self.bulk is not None
                         else None)
                newline_seen = newline_seen or b"\n" in region
                waiting.append((region, later))
                while len(waiting) > self.bulk_depth():
                    line_base = self._scan_region(*waiting.popleft(), line_base)
            while waiting:
                line_base = self._scan_region(*waiting.popleft(), line_base)
        finally:
            lines = line_base - 1 + sum(region.count(b"\n") for region, _ in waiting)
            self.stats.lines = lines + (1 if self._carry_left else 0)
        return self.stats

    def _regions(self, stream: IO[bytes], chunk_bytes: int) -> Iterator[bytes]:
        """The stream cut after whole records.

        A chunk is read in pieces of :data:`PIECE_BYTES` and its region is joined from the
        carry and the pieces once, instead of joining the pieces, then the carry and the
        chunk, then slicing off the region (three copies of every byte, one now)."""
        carry = b""
        first = True
        try:
            while True:
                pieces, error = self._read_pieces(stream, chunk_bytes)
                if first and pieces and looks_binary(_head(pieces)):
                    raise BundleError("skipped: binary data, not a text log")
                whole = first and error is None and sum(map(len, pieces)) < chunk_bytes
                first = False
                if not pieces:
                    if carry:
                        yield carry
                    carry = b""
                    break
                region, carry = self._cut_pieces(carry, pieces)
                if region:
                    yield from self._halves(region) if whole else (region,)
                if error is not None:
                    raise error
        finally:
            self._carry_left = bool(carry)  # a last line cut short by a stopped read

    def _halves(self, region: bytes) -> tuple[bytes, ...]:
        """A member read in one go (a rotated log of a few MB), in two regions cut at a
        record start near its middle, when a bulk planner takes it and it is large: the two
        planners then share it. Whole, one planner took it while the other waited, and the
        reader with it (an extension-log-heavy bundle's five rotated logs: 0.3 s with one
        core in use). The last region of a longer member stays whole: two chunks are in
        flight then anyway, and a halved one cost the hit-heavy mix 3% (more chunks to key)."""
        if self.bulk is None or len(region) < SPLIT_BYTES:
            return (region,)
        cut = self._record_cut(region[:len(region) // 2])
        if cut <= 0:
            return (region,)
        return region[:cut], region[cut:]

    def _read_pieces(self, stream: IO[bytes], chunk_bytes: int
                     ) -> tuple[list[bytes], Exception | None]:
        """Up to ``chunk_bytes`` in pieces (fewer at the end of the stream). A read that
        fails after some pieces came gives those pieces and the error, raised once they are
        cut and handed on (what was read counts)."""
        pieces: list[bytes] = []
        got = 0
        piece_bytes = min(PIECE_BYTES, chunk_bytes)
        while got < chunk_bytes:
            try:
                piece = stream.read(min(piece_bytes, chunk_bytes - got))
            except Exception as error:
                if not pieces:
                    raise
                return pieces, error
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
        return pieces, None

    def _cut_pieces(self, carry: bytes, pieces: list[bytes]) -> tuple[bytes, bytes]:
        """(region, carry) of the carry followed by the pieces, cut as :meth:`_cut_point`
        cuts them joined. A record start found in the last piece is where the whole would
        be cut (:meth:`_record_cut` reads only the bytes after its newline)."""
        last = pieces[-1]
        found = self._record_cut(last)
        if found > 0:
            head: list[bytes | memoryview] = [carry] if carry else []
            head += pieces[:-1]
            head.append(memoryview(last)[:found])
            return b"".join(head), last[found:]
        data = b"".join([carry, *pieces]) if carry else b"".join(pieces)
        cut = self._cut_point(data)
        return data[:cut], data[cut:]

    def _cut_point(self, data: bytes) -> int:
        """Index just past the last complete record: the start of the last record header."""
        found = self._record_cut(data)
        if found >= 0:
            return found
        # One record larger than the window, or no header at all: cut at the last newline so
        # memory stays bounded; the record is split (and flagged by the folder's cap anyway).
        if len(data) > self.max_record_bytes:
            last_newline = data.rfind(b"\n")
            if last_newline >= 0:
                return last_newline + 1
            return len(data)  # no newline in sight: hand the head over as one capped line
        return 0

    def _record_cut(self, data: bytes) -> int:
        """The start of the last complete record found within the last
        ``_MAX_BACKTRACK_LINES`` lines after a newline of ``data``, or -1. Only the bytes from
        that newline on are read, so a chunk gives the same answer as the carry before it
        joined to the chunk (shifted by the carry's length) whenever it finds one."""
        position = len(data)
        for _ in range(_MAX_BACKTRACK_LINES):
            newline = data.rfind(b"\n", 0, position - 1)
            if newline < 0:
                break
            start = newline + 1
            # A last line without its newline yet may read as a header only because it is
            # cut short ("...Z INFO O" of "...Z INFO OS: "): it is judged whole, next read.
            complete = data.find(b"\n", start) >= 0
            if complete and self._is_record_start(data, start) and start < len(data):
                return start
            position = newline + 1
        return -1

    def _is_record_start(self, data: bytes, start: int) -> bool:
        pattern = self.grammar.record_start
        if pattern is None:
            return True
        if pattern.match(data, start) is None:
            return False
        # The cheap pattern is a superset of real headers ("...Z ERROR: " with no message):
        # a line the header parser refuses is a continuation, as the record folder sees it.
        return reads_as_header(data, start, self.grammar.header_parser, self.max_line_bytes)

    def _scan_region(self, region: bytes, later: Callable[[int], Any] | None,
                     line_base: int) -> int:
        """Reads one region whose first line is ``line_base``; the next region's."""
        plan = self._read_region(region, later, line_base)
        newlines = getattr(plan, "newlines", -1)
        return line_base + (newlines if newlines >= 0 else region.count(b"\n"))

    def _read_region(self, region: bytes, later: Callable[[int], Any] | None,
                     line_base: int) -> Any:
        self.stats.bytes += len(region)
        if not self.stats.text and not region.isspace():  # stops at the first other byte
            self.stats.text = True
        self._observe_edges(region)
        if self.timeline:
            if self.grammar.count_hours is not None:  # windows: other line layouts
                self.grammar.count_hours(region, self.stats.hourly)
            else:
                self._count_hours(region)
        if self.prefilter is None:
            return None
        plan = later(line_base) if later is not None else None
        if plan is not None:
            self._scan_planned(region, line_base, plan)
            return plan
        counted_pos, counted_lines = 0, 0
        position = -1
        while True:
            # Resume after the record just handled: its other hits are inside it.
            position = self.prefilter.next_hit(region, position + 1)
            if position < 0 or position >= len(region):
                break
            start = self._record_start(region, position)
            end = self._record_end(region, position)
            counted_lines += region.count(b"\n", counted_pos, start)
            counted_pos = start
            line_no = line_base + counted_lines
            if not self._try_line(region, start, end, line_no):
                self._emit(region[start:end], line_no, first=start == 0)
            position = max(end - 1, position)  # always move forward

    def _scan_planned(self, region: bytes, line_base: int, plan: Any) -> None:
        """The record path for the lines the bulk plan left to it, in line order, with the
        bulk matches applied before each of them."""
        counted_pos, counted_lines = 0, 0
        handled_end = -1
        for position in plan.positions:
            if position < handled_end:
                continue  # inside the record just handled
            start = self._record_start(region, position)
            end = self._record_end(region, position)
            counted_lines += region.count(b"\n", counted_pos, start)
            counted_pos = start
            line_no = line_base + counted_lines
            plan.flush(line_no)
            if not self._try_line(region, start, end, line_no):
                self._emit(region[start:end], line_no, first=start == 0)
            handled_end = end
        plan.flush(sys.maxsize)

    def _try_line(self, region: bytes, start: int, end: int, line_no: int) -> bool:
        """Hand a one-line record that only cheap patterns match to ``on_line``."""
        if self.on_line is None:
            return False
        newline = region.find(b"\n", start, end)
        if 0 <= newline < end - 1:
            return False  # several lines: the full path folds them
        line_end = newline if newline >= 0 else end
        if self.full_prefilter is not None and self.full_prefilter.search(region, start, line_end):
            return False
        raw = region[start:line_end]
        if len(raw) > self.max_line_bytes:
            return False
        header = self.grammar.header_parser(decode_line(raw)[0])
        if header is None:
            return False
        cut = start == 0 and line_no == 1 and self.collector_truncated
        self.on_line(header, line_no, cut)
        return True

    def _record_start(self, region: bytes, position: int) -> int:
        start = region.rfind(b"\n", 0, position) + 1
        if self.grammar.record_start is None:
            return start
        for _ in range(self.max_continuation_lines):
            if start == 0 or self._is_record_start(region, start):
                return start
            start = region.rfind(b"\n", 0, start - 1) + 1
        return start

    def _record_end(self, region: bytes, position: int) -> int:
        newline = region.find(b"\n", position)
        if newline < 0:
            return len(region)
        if self.grammar.record_start is None:
            return newline + 1
        limit = position + self.max_record_bytes
        while 0 <= newline < len(region) - 1:
            start = newline + 1
            if start > limit or self._is_record_start(region, start):
                return start
            newline = region.find(b"\n", start)
        return len(region)

    def _folder(self) -> RecordFolder:
        folder = self.__dict__.get("_record_folder")
        if folder is None:
            folder = RecordFolder(
                self.member,
                self.source_kind,
                self.max_continuation_lines,
                self.max_record_bytes,
                header_parser=self.grammar.header_parser,
                prefix_has_real_version=self.grammar.prefix_has_real_version,
            )
            self.__dict__["_record_folder"] = folder
        return folder

    def _emit(self, block: bytes, first_line: int, first: bool) -> None:
        folder = self._folder()  # one per member: flush() leaves it empty for the next block
        line_no = first_line
        lines = block.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()
        for raw in lines:
            text, flags = self._decode(raw)
            if first and line_no == 1 and self.collector_truncated:
                flags = (*flags, "first_line_cut")
            record = folder.feed(line_no, text, flags)
            if record is not None:
                self.on_record(record)
            line_no += 1
        last = folder.flush()
        if last is not None:
            self.on_record(last)

    def _decode(self, raw: bytes) -> tuple[str, tuple[str, ...]]:
        if len(raw) > self.max_line_bytes:
            text, flags = decode_line(raw[: self.max_line_bytes])
            return text, (*flags, "truncated_line")
        return decode_line(raw)

    def _observe_edges(self, region: bytes) -> None:
        """First and last timestamps of the region, parsed from at most a few lines each."""
        parse = self.grammar.header_parser
        head_end = region.find(b"\n", 0, 4096)
        for raw in region[: head_end if head_end > 0 else 4096].split(b"\n")[:1]:
            header = parse(decode_line(raw)[0])
            if header is not None:
                self.stats.see_timestamp(header.timestamp)
        tail = region[-8192:].split(b"\n")
        for raw in reversed(tail[1:] if len(tail) > 1 else tail):
            if not raw:
                continue
            header = parse(decode_line(raw)[0])
            if header is not None and header.timestamp is not None:
                self.stats.see_timestamp(header.timestamp)
                break

    def _count_hours(self, region: bytes) -> None:
        hourly = self.stats.hourly
        for match in _HOUR_LEVEL.finditer(region):
            day, hour, level = match.groups()
            if not FIRST_YEAR <= int(day[:4]) <= LAST_YEAR:
                continue  # the same plausibility rule as record timestamps
            hourly[(day.replace(b"/", b"-").decode() + "T" + hour.decode(), level.decode())] += 1
