"""Matching log records against the log-based checks of every rule, with bounded memory.

The scanner calls :class:`RecordMatcher` once per candidate record. Each check keeps an
:class:`Accumulator`: counts, timestamps (for windows), group keys and a few sample hits for
evidence, never every record.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from analyzer.engine.model import RecordFilter, Rule
from analyzer.engine.regex import ALL_TAGS, compile_pattern, compile_prefilter, compile_set
from analyzer.parse.records import Record, Tz
from analyzer.parse.waagent_log import Header, split_extension_prefix, structured_fields
from analyzer.settings import DEFAULT_LIMITS, Limits

QUERY_TAG = 1
"""Prefilter tag of the rules' patterns (:meth:`RecordMatcher.prefilter`)."""
FACT_TAG = 2
"""... of the patterns of agent facts."""
EVENT_TAG = 4
"""... of the patterns of timeline events."""
DIGIT_TAG = 8
"""... of the rules' patterns that hold a digit (:func:`reads_digits`)."""
SAMPLES_HEAD = 3
SAMPLES_TAIL = 3
MAX_GROUPS = 10_000
NO_TIME = float("-inf")
SYSTEM_LOG = "system_log"
AGENT_IN_SYSTEM_LOG = "system_log+waagent_log"
"""Pseudo source kind of agent lines copied into a system log: the queries of both kinds
see them (a rule written for ``waagent_log`` also finds its lines in syslog/journal copies;
the scan drops the copy when the same line was already read from waagent.log)."""
SYSTEM_LOG_OWN_GENERATION = "SYS"


def query_kind(source_kind: str, generation: str) -> str:
    """Which queries a record of this kind and line generation is offered to."""
    if source_kind == SYSTEM_LOG and generation != SYSTEM_LOG_OWN_GENERATION:
        return AGENT_IN_SYSTEM_LOG
    return source_kind


@dataclass(slots=True)
class LineRef:
    """A one-line record seen on the cheap path: its parsed header and where it was."""

    header: Header
    member: str
    source_kind: str
    line: int
    first_line_cut: bool = False
    real_version: bool = True

    def to_record(self) -> Record:
        header = self.header
        extension, version = split_extension_prefix(header.prefix)
        flags: tuple[str, ...] = ("first_line_cut",) if self.first_line_cut else ()
        if header.timestamp is None:
            flags += ("bad_timestamp",)
        return Record(self.member, self.source_kind, self.line, self.line, header.timestamp,
                      header.tz if header.timestamp else Tz.NONE, header.level, header.thread,
                      header.prefix, extension, version if self.real_version else "",
                      header.generation, header.message, structured_fields(header.message),
                      flags)


@dataclass
class Hit:
    record: Record
    captures: dict[str, str]
    group: int = -1


@dataclass
class _LazyHit:
    """A tail sample from the cheap path; becomes a ``Hit`` only if it is shown."""

    ref: LineRef
    group: int
    captures: dict[str, str] = field(default_factory=dict)

    def resolve(self) -> Hit:
        return Hit(self.ref.to_record(), self.captures, self.group)


@dataclass(slots=True)
class RawHit:
    """A sample taken in bulk (:mod:`analyzer.engine.bulk`): the line's bytes only. Its header
    and captures are parsed when it is shown, so a hit that stays a number costs no parse."""

    raw: bytes
    member: str
    source_kind: str
    line: int
    real_version: bool
    group: int = -1
    capture_pattern: str = ""

    def resolve(self) -> Hit:
        from analyzer.parse.waagent_log import decode_line, iter_records, parse_header

        if b"\n" in self.raw:  # a record of several lines: folded as the record path does
            record = next(iter_records([self.raw + b"\n"], self.member, self.source_kind,
                                       first_line=self.line, max_line_bytes=len(self.raw),
                                       max_continuation_lines=self.raw.count(b"\n") + 1,
                                       prefix_has_real_version=self.real_version))
        else:
            header = parse_header(decode_line(self.raw)[0])
            if header is None:  # not reachable for lines the bulk path accepted
                raise ValueError(f"{self.member}:{self.line}: not a record header")
            record = LineRef(header, self.member, self.source_kind, self.line, False,
                             self.real_version).to_record()
        captures: dict[str, str] = {}
        if self.capture_pattern:
            found = compile_pattern(self.capture_pattern).search(record.message)
            if found is not None:
                captures = {k: v for k, v in found.groupdict().items() if v is not None}
        return Hit(record, captures, self.group)


def resolved(hit: Hit | _LazyHit | RawHit) -> Hit:
    return hit if isinstance(hit, Hit) else hit.resolve()


class LineView:
    """Quacks like a ``Record`` for filters and patterns, from a header alone; structured
    fields are computed only if a filter asks for one."""

    __slots__ = ("_fields", "extension", "header", "member")

    def __init__(self, ref: LineRef) -> None:
        self.header = ref.header
        self.member = ref.member
        self.extension = split_extension_prefix(ref.header.prefix)[0]
        self._fields: dict[str, str] | None = None

    @property
    def message(self) -> str:
        return self.header.message

    @property
    def level(self) -> str:
        return self.header.level

    @property
    def thread(self) -> str:
        return self.header.thread

    @property
    def prefix(self) -> str:
        return self.header.prefix

    @property
    def generation(self) -> str:
        return self.header.generation

    @property
    def fields(self) -> dict[str, str]:
        if self._fields is None:
            self._fields = structured_fields(self.header.message)
        return self._fields


@dataclass
class Accumulator:
    """Everything a check needs to decide and to show evidence, in bounded memory."""

    count: int = 0
    times: array = field(default_factory=lambda: array("d"))
    groups: array = field(default_factory=lambda: array("i"))
    group_names: dict[str, int] = field(default_factory=dict)
    head: list[Hit] = field(default_factory=list)
    tail: list[Hit | _LazyHit | RawHit] = field(default_factory=list)
    group_samples: dict[int, Hit] = field(default_factory=dict)
    """One record per group (for ``group_by`` evidence), for the first ``max_group_samples``."""
    max_group_samples: int = DEFAULT_LIMITS.max_group_samples
    exact_cap: int = DEFAULT_LIMITS.max_exact_hits
    """Hits kept with their own time and group (12 bytes each); past it they are folded into
    :attr:`folded`. 0: every hit keeps its time (a check whose guard or ``near`` join reads
    each hit's time and line)."""
    folded: Folded | None = None
    """Hits past ``exact_cap``, counted per minute and group."""

    def add(self, hit: Hit, group: str) -> None:
        self.count += 1
        stamp = hit.record.timestamp
        self.times.append(stamp.timestamp() if stamp is not None else NO_TIME)
        index = self.group_names.get(group)
        if index is None and len(self.group_names) < MAX_GROUPS:
            index = self.group_names[group] = len(self.group_names)
            if len(self.group_samples) < self.max_group_samples:
                self.group_samples[index] = hit
        hit.group = index if index is not None else -1
        self.groups.append(hit.group)
        if self.exact_cap and len(self.times) > self.exact_cap:
            self.fold()
        if len(self.head) < SAMPLES_HEAD:
            self.head.append(hit)
        else:
            self.tail.append(hit)
            if len(self.tail) > SAMPLES_TAIL * 4:
                del self.tail[:-SAMPLES_TAIL]

    def add_line(self, line: LineRef, group: str, captures: dict[str, str]) -> None:
        """A hit from the cheap path: a full record is built only if it may become evidence."""
        self.count += 1
        stamp = line.header.timestamp
        self.times.append(stamp.timestamp() if stamp is not None else NO_TIME)
        index = self.group_names.get(group)
        new_group = index is None and len(self.group_names) < MAX_GROUPS
        if new_group:
            index = self.group_names[group] = len(self.group_names)
            new_group = len(self.group_samples) < self.max_group_samples
        group_index = index if index is not None else -1
        self.groups.append(group_index)
        if self.exact_cap and len(self.times) > self.exact_cap:
            self.fold()
        if len(self.head) < SAMPLES_HEAD or new_group:
            hit = Hit(line.to_record(), captures, group_index)
            if new_group:
                self.group_samples[group_index] = hit
            if len(self.head) < SAMPLES_HEAD:
                self.head.append(hit)
                return
        self.tail.append(_LazyHit(line, group_index, captures))
        if len(self.tail) > SAMPLES_TAIL * 4:
            del self.tail[: -SAMPLES_TAIL]

    def add_bulk(self, times: array, samples: list[RawHit]) -> None:
        """``len(times)`` hits of one pattern with no group, in line order, exactly as that many
        ``add_line`` calls would record them; ``samples`` are the first and last few of them
        (all of them when there are at most ``2 * SAMPLES_HEAD + SAMPLES_TAIL``)."""
        count = len(times)
        if not count:
            return
        self.count += count
        self.times.extend(times)
        index = self.group_names.get("")
        new_group = index is None and len(self.group_names) < MAX_GROUPS
        if new_group:
            index = self.group_names[""] = len(self.group_names)
        group_index = index if index is not None else -1
        self.groups.extend(array("i", [group_index]) * count)
        if self.exact_cap and len(self.times) > self.exact_cap:
            self.fold()
        for sample in samples:
            sample.group = group_index
        position = 0
        if new_group:
            first = samples[0].resolve()
            self.group_samples[group_index] = first
            position = 1
            if len(self.head) < SAMPLES_HEAD:
                self.head.append(first)
            else:
                self.tail.append(first)
        while len(self.head) < SAMPLES_HEAD and position < len(samples):
            self.head.append(samples[position].resolve())
            position += 1
        taken_for_head = position
        rest = count - taken_for_head
        if rest > 0:
            self.tail.extend(samples[max(position, len(samples) - min(rest, SAMPLES_TAIL)):])
            if len(self.tail) > SAMPLES_TAIL * 4:
                del self.tail[: -SAMPLES_TAIL]

    def samples(self) -> list[Hit]:
        tail = [resolved(h) for h in self.tail[-SAMPLES_TAIL:]]
        self.tail = list(tail)
        return self.head + tail

    def fold(self) -> None:
        """The hits kept with their own time join :attr:`folded` (memory then grows with the
        minutes the logs span, not with the number of hits)."""
        import numpy as np

        if not self.times:
            return
        times = np.frombuffer(self.times, dtype=np.float64)
        groups = np.frombuffer(self.groups, dtype=np.int32)
        self.folded = Folded.joined(self.folded, Folded.of(times, groups))
        self.times = array("d")
        self.groups = array("i")


    def merge(self, other: Accumulator) -> None:
        """Fold in what another accumulator saw later (the next member of the bundle); its
        arrays may become this one's (:func:`_joined`): it is not used again."""
        names = {index: name for name, index in other.group_names.items()}
        remap: dict[int, int] = {}
        for index, name in names.items():
            mine = self.group_names.get(name)
            if mine is None and len(self.group_names) < MAX_GROUPS:
                mine = self.group_names[name] = len(self.group_names)
                sample = other.group_samples.get(index)
                if sample is not None and len(self.group_samples) < self.max_group_samples:
                    self.group_samples[mine] = sample
            remap[index] = mine if mine is not None else -1
        self.count += other.count
        self.times = _joined(self.times, other.times)
        self.groups = _joined_remapped(self.groups, other.groups, remap)
        if not other.exact_cap:  # the same check: its hits keep their times everywhere
            self.exact_cap = 0
        if other.folded is not None:
            self.folded = Folded.joined(self.folded, other.folded.remapped(remap))
        if self.folded is not None or (self.exact_cap and len(self.times) > self.exact_cap):
            self.fold()
        for hit in [*other.head, *other.tail]:
            hit.group = remap.get(hit.group, -1)
            if len(self.head) < SAMPLES_HEAD:
                self.head.append(resolved(hit))
            else:
                self.tail.append(hit)
        del self.tail[:-SAMPLES_TAIL]


@dataclass(eq=False)
class Folded:
    """Hits counted per (minute, group): how many, the first and the last time of each.

    A time window that starts inside a minute counts that minute whole: a check may count a
    few hits more than the exact count, never fewer (a wrong all-clear is the worse error),
    and its detail says so. Undated hits have their own minute (:data:`NO_MINUTE`) and, as
    exact hits, count in every window."""

    minutes: Any
    groups: Any
    counts: Any
    first: Any
    last: Any
    _by_group: dict[int, tuple[Any, Any]] | None = field(default=None, init=False, repr=False)

    @staticmethod
    def of(times: Any, groups: Any) -> Folded:
        """The rows of hits (one time and group each). Each hit counts one, so a row's count
        is its run's length and its first and last times the run's least and greatest:
        no column of ones or copies of the times to reduce. Hits that come in order (a
        member's, in time order) are not gathered either. Every temporary array of the
        parent's merges is a mapping of its own that faults its pages in
        (:func:`analyzer.heap.return_freed_memory`): 325,000 hits folded there took 28 ms
        of CPU and 11,800 page faults before."""
        import numpy as np

        if not len(times):
            return Folded(*(np.zeros(0, dtype=kind) for kind in (
                np.int64, np.int32, np.int64, np.float64, np.float64)))
        quotient = times / 60.0
        undated = np.flatnonzero(times == NO_TIME)
        quotient[undated] = 0.0  # no cast of infinity to an integer
        minutes = np.floor(quotient, out=quotient).astype(np.int64)
        minutes[undated] = NO_MINUTE
        groups = groups.astype(np.int32, copy=False)
        if not _in_minute_group_order(minutes, groups):
            order = _minute_group_order(minutes, groups)
            minutes, groups, times = minutes[order], groups[order], times[order]
        starts = np.flatnonzero(np.concatenate(
            ([True], (minutes[1:] != minutes[:-1]) | (groups[1:] != groups[:-1]))))
        counts = np.diff(np.append(starts, len(minutes)))
        return Folded(minutes[starts], groups[starts], counts.astype(np.int64, copy=False),
                      np.minimum.reduceat(times, starts), np.maximum.reduceat(times, starts))

    @staticmethod
    def joined(mine: Folded | None, other: Folded) -> Folded:
        import numpy as np

        if mine is None:
            return other
        return Folded(*(np.concatenate((a, b)) for a, b in zip(
            mine.columns(), other.columns(), strict=True)))._reduced()

    def columns(self) -> tuple[Any, ...]:
        return self.minutes, self.groups, self.counts, self.first, self.last

    def _reduced(self) -> Folded:
        """One row per (minute, group), ordered by minute then group."""
        import numpy as np

        if not len(self.minutes):
            return self
        order = _minute_group_order(self.minutes, self.groups)
        minutes, groups = self.minutes[order], self.groups[order]
        starts = np.flatnonzero(np.concatenate(
            ([True], (minutes[1:] != minutes[:-1]) | (groups[1:] != groups[:-1]))))
        return Folded(minutes[starts], groups[starts],
                      np.add.reduceat(self.counts[order], starts),
                      np.minimum.reduceat(self.first[order], starts),
                      np.maximum.reduceat(self.last[order], starts))

    def remapped(self, remap: dict[int, int]) -> Folded:
        import numpy as np

        groups = np.frombuffer(_remapped(array("i", self.groups.astype(np.int32).tobytes()),
                                         remap), dtype=np.int32)
        return Folded(self.minutes, groups.copy(), self.counts, self.first, self.last)

    def since(self, start: float | None) -> tuple[Folded, bool]:
        """The rows a window from ``start`` counts (a row whose last hit is in it, and the
        undated), and whether one of them began before ``start`` (counted whole)."""
        import numpy as np

        if start is None:
            return self, False
        undated = self.minutes == NO_MINUTE
        kept = (self.last >= start) | undated
        rows = self.where(kept)
        return rows, bool(np.any(rows.first[~undated[kept]] < start))

    def where(self, kept: Any) -> Folded:
        """The rows where ``kept`` (a boolean array, one per row) is true."""
        return Folded(*(column[kept] for column in self.columns()))

    def in_groups(self, wanted: set[int]) -> Folded:
        import numpy as np

        return self.where(np.isin(self.groups, np.fromiter(wanted, dtype=np.int32,
                                                           count=len(wanted))))

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def per_group(self) -> dict[int, int]:
        found: dict[int, int] = {}
        for group, count in zip(self.groups.tolist(), self.counts.tolist(), strict=True):
            found[group] = found.get(group, 0) + count
        return found

    def resolves(self, group: int, start: float, budget: float | None) -> bool:
        """Whether an end of ``group`` follows ``start`` within ``budget`` (None: at any
        later time). Exact for a budget of a minute or more: a minute row whose ends reach
        past ``start`` either begins after it (its first end is the first one) or holds
        ``start`` (an end lies within the minute, so within the budget). A shorter budget
        and a row that holds ``start`` cannot be told apart: not resolved (the start is
        reported, never hidden)."""
        import numpy as np

        return bool(self.resolves_each(group, np.asarray([start]), budget)[0])

    def resolves_each(self, group: int, starts: Any, budget: float | None) -> Any:
        """:meth:`resolves` for each of ``starts`` (a numpy array) of one group."""
        import numpy as np

        firsts, lasts = self._dated_rows().get(group, (None, None))
        if lasts is None:
            return np.zeros(len(starts), dtype=bool)
        rows = np.searchsorted(lasts, starts, side="left")  # the first minute reaching each
        inside = rows < len(lasts)
        if budget is None:
            return inside
        rows = np.minimum(rows, len(lasts) - 1)
        firsts, lasts = firsts[rows], lasts[rows]
        gaps = np.where(firsts >= starts, firsts - starts, lasts - starts)
        return inside & (gaps <= budget)

    def _dated_rows(self) -> dict[int, tuple[Any, Any]]:
        """Group -> the first and last times of its dated rows, in minute order (so the last
        times ascend): built once, then each start is one binary search."""
        if self._by_group is None:
            dated = self.minutes != NO_MINUTE
            groups, firsts, lasts = self.groups[dated], self.first[dated], self.last[dated]
            self._by_group = {int(group): (firsts[groups == group], lasts[groups == group])
                              for group in set(groups.tolist())}
        return self._by_group

    def span(self) -> Any:
        """The first and last time of every row (for a result's first and last seen)."""
        import numpy as np

        return np.concatenate((self.first, self.last))


NO_MINUTE = -(1 << 62)
"""The minute of undated hits in :class:`Folded`."""


def _minute_group_order(minutes: Any, groups: Any) -> Any:
    """The stable order of rows by minute, then group: ``np.lexsort((groups, minutes))``.

    Sorted as one combined key where it fits 62 bits: rows come mostly in time order (a
    member's hits, or two runs already in order when folded rows are joined), which a stable
    sort of one key takes in near-linear time, where ``lexsort`` sorted by group, then again
    by minute (the parent's merges of a hit-heavy bundle: 43 ms of lexsorts)."""
    import numpy as np

    dated = minutes != NO_MINUTE
    if not dated.any():
        return np.argsort(groups, kind="stable")
    low, high = int(minutes[dated].min()), int(minutes[dated].max())
    lowest_group, highest_group = int(groups.min()), int(groups.max())
    span = highest_group - lowest_group + 1
    if (high - low + 2) * span >= 1 << 62:
        return np.lexsort((groups, minutes))
    rank = np.where(dated, minutes - (low - 1), 0)  # undated rows first, as NO_MINUTE sorts
    return np.argsort(rank * span + (groups.astype(np.int64) - lowest_group), kind="stable")


def _in_minute_group_order(minutes: Any, groups: Any) -> bool:
    """Whether the rows are already ordered by minute, then group (no row before the one
    ahead of it)."""
    import numpy as np

    if len(minutes) < 2:
        return True
    later = minutes[1:] > minutes[:-1]
    same = minutes[1:] == minutes[:-1]
    return bool(np.all(later | (same & (groups[1:] >= groups[:-1]))))


def _first_seen(groups: array) -> list[int]:
    """The distinct values of ``groups`` in the order they first appear.

    Group indices are small: each value's first position is the least of its positions
    (``np.minimum.at``), where ``np.unique`` sorted a member's every end (1.6 million ends:
    54 against 5 ms)."""
    import numpy as np

    if not groups:
        return []
    values = np.frombuffer(groups, dtype=np.int32)
    low, high = int(values.min()), int(values.max())
    if low == high:  # one group (a check without ``group_by``): nothing to order
        return [low]
    if low < 0 or high > _MAX_GROUP_TABLE:
        distinct, first = np.unique(values, return_index=True)
        return [int(value) for value in distinct[np.argsort(first)]]
    count = len(values)
    first = np.full(high + 1, count, dtype=np.int64)
    np.minimum.at(first, values, np.arange(count))
    present = np.flatnonzero(first < count)
    return [int(value) for value in present[np.argsort(first[present])]]


_MAX_GROUP_TABLE = 1 << 20
"""Largest value :func:`_first_seen` keeps a first position for in a table of its own
(groups stop at ``MAX_GROUPS``)."""


def _joined(target: array, values: array) -> array:
    """``target`` followed by ``values``: ``values`` itself when ``target`` is empty. The
    stores' ``merge`` takes over the arrays of the store it is given (a member's delta,
    read for this merge only) instead of copying them into fresh memory."""
    if not target:
        return values
    target.extend(values)
    return target


def _first(values: array, count: int) -> array:
    """The first ``count`` values: the array itself when that is all of them (a slice is
    a copy)."""
    return values if count >= len(values) else values[:count]


def _joined_remapped(target: array, groups: array, remap: dict[int, int]) -> array:
    """``target`` followed by ``groups`` with each index replaced through ``remap`` (-1
    when absent); as they are when ``remap`` keeps every index (the next member of a
    bundle names its groups in the same order: no table look-up, no copies)."""
    if all(old == new for old, new in remap.items()) and _within(groups, remap):
        return _joined(target, groups)
    target.frombytes(_remapped(groups, remap))
    return target


def _within(groups: array, remap: dict[int, int]) -> bool:
    """Whether every index in ``groups`` is one ``remap`` names."""
    import numpy as np

    if not groups:
        return True
    values = np.frombuffer(groups, dtype=np.int32)
    low, high = int(values.min()), int(values.max())
    if low == high:
        return low in remap
    return bool(np.isin(values, np.fromiter(remap, dtype=np.int32, count=len(remap))).all())


def _remapped(groups: array, remap: dict[int, int]) -> bytes:
    """``groups`` (int32) with each index replaced through ``remap`` (-1 when absent), as
    bytes for ``array.frombytes``."""
    import numpy as np

    if not groups:
        return b""
    values = np.frombuffer(groups, dtype=np.int32)
    table = np.full(int(values.max()) + 2, -1, dtype=np.int32)  # index -1 reads the last: -1
    for old, new in remap.items():
        if 0 <= old < len(table) - 1:
            table[old] = new
    return table[values].tobytes()


@dataclass
class SequenceStore:
    """Starts and ends of one sequence check, in bounded memory.

    Every start keeps only its time, group and line (compact arrays, at most ``max_starts``);
    a bounded sample of starts keeps its full record for evidence: the first ``samples``, the
    last ``samples`` and ``samples`` spread evenly over the rest (every ``stride``-th start;
    the stride doubles when the spread is full, so the choice is deterministic). Ends are
    frequent success markers: only their time and group are kept, and past ``ends_cap`` they
    are folded per minute and group (:class:`Folded`): a start's first end is then still
    known exactly for any budget of a minute or more (see :meth:`Folded.resolves`).
    """

    max_starts: int = DEFAULT_LIMITS.max_sequence_starts
    samples: int = DEFAULT_LIMITS.sequence_samples
    start_times: array = field(default_factory=lambda: array("d"))
    start_groups: array = field(default_factory=lambda: array("i"))
    start_lines: array = field(default_factory=lambda: array("q"))
    starts_dropped: int = 0
    first: dict[int, Hit | RawHit] = field(default_factory=dict)
    last: dict[int, Hit | RawHit] = field(default_factory=dict)
    spread: dict[int, Hit | RawHit] = field(default_factory=dict)
    stride: int = 1
    end_times: array = field(default_factory=lambda: array("d"))
    end_groups: array = field(default_factory=lambda: array("i"))
    group_names: dict[str, int] = field(default_factory=dict)
    ends_cap: int = DEFAULT_LIMITS.max_exact_hits
    """Ends kept with their own time (0: all of them: a guard's, read one by one)."""
    folded_ends: Folded | None = None

    @property
    def starts(self) -> int:
        return len(self.start_times)

    def _group_index(self, group: str) -> int:
        index = self.group_names.get(group)
        if index is None:
            index = self.group_names[group] = len(self.group_names)
        return index

    def add(self, record: Record, captures: dict[str, str], group: str, is_start: bool) -> None:
        stamp = record.timestamp
        time = stamp.timestamp() if stamp else NO_TIME
        if not is_start:
            self.add_end(time, group)
            return
        self._add_start(time, self._group_index(group), record.line, Hit(record, captures))

    def _add_start(self, time: float, group: int, line: int, hit: Hit | RawHit | None) -> None:
        if self.starts >= self.max_starts:
            self.starts_dropped += 1
            return
        index = self.starts
        self.start_times.append(time)
        self.start_groups.append(group)
        self.start_lines.append(line)
        if hit is not None:
            self._sample(index, hit)

    def add_starts_bulk(self, times: array, lines: array,
                        hits: Callable[[int], RawHit]) -> None:
        """Starts with no group, in line order: what one ``add`` per start would keep (the
        arrays, the cap, and the same first/last/spread samples), sampling by arithmetic
        instead of a call per start. ``hits(i)`` makes the sample for ``times[i]``."""
        room = max(0, self.max_starts - self.starts)
        count = min(len(times), room)
        self.starts_dropped += len(times) - count
        if not count:
            return
        group = self._group_index("")
        begin = self.starts
        self.start_times.extend(times[:count])
        self.start_groups.extend(array("i", [group]) * count)
        self.start_lines.extend(lines[:count])
        offset = 0
        while len(self.first) < self.samples and offset < count:
            self.first[begin + offset] = hits(offset)
            offset += 1
        if offset == count:
            return
        # Every later start enters ``last``; the oldest of ``last`` is evicted into ``spread``
        # when its index is a multiple of the stride. Only the evictions can be sampled, so
        # walk the evicted indices that are multiples of the stride.
        new_indices = range(begin + offset, begin + count)
        evicted_old = sorted(self.last)
        overflow = len(evicted_old) + len(new_indices) - self.samples
        if overflow <= 0:
            for index in new_indices:
                self.last[index] = hits(index - begin)
            return
        old_out = evicted_old[: min(overflow, len(evicted_old))]
        for index in old_out:
            self._evict(index, self.last.pop(index))
        new_out_end = begin + offset + max(0, overflow - len(old_out))
        index = begin + offset
        while index < new_out_end:
            if index % self.stride:
                index += self.stride - index % self.stride
                continue
            self._evict(index, hits(index - begin))
            index += 1  # the stride may have doubled: the next multiple of the new one
        for index in range(new_out_end, begin + count):
            self.last[index] = hits(index - begin)

    def _evict(self, index: int, hit: Hit | RawHit) -> None:
        if index % self.stride == 0:
            self.spread[index] = hit
            while len(self.spread) > self.samples:
                self.stride *= 2
                self.spread = {i: h for i, h in self.spread.items() if i % self.stride == 0}

    def add_ends_bulk(self, times: array, group: str = "") -> None:
        self.end_times.extend(times)
        self.end_groups.extend(array("i", [self._group_index(group)]) * len(times))
        if self.ends_cap and len(self.end_times) > self.ends_cap:
            self.fold_ends()

    def fold_ends(self) -> None:
        import numpy as np

        if not self.end_times:
            return
        folded = Folded.of(np.frombuffer(self.end_times, dtype=np.float64),
                           np.frombuffer(self.end_groups, dtype=np.int32))
        self.folded_ends = Folded.joined(self.folded_ends, folded)
        self.end_times = array("d")
        self.end_groups = array("i")

    def _sample(self, index: int, hit: Hit | RawHit) -> None:
        if len(self.first) < self.samples:
            self.first[index] = hit
            return
        self.last[index] = hit
        if len(self.last) > self.samples:
            oldest = min(self.last)
            evicted = self.last.pop(oldest)
            if oldest % self.stride == 0:
                self.spread[oldest] = evicted
                while len(self.spread) > self.samples:
                    self.stride *= 2
                    self.spread = {i: h for i, h in self.spread.items() if i % self.stride == 0}

    def kept(self) -> dict[int, Hit | RawHit]:
        """Start index -> its sample, for the starts kept as evidence (a bulk or cheap-path
        sample is parsed only when shown: :func:`resolved`)."""
        return {**self.spread, **self.first, **self.last}

    def sampled(self) -> dict[int, Hit]:
        """Start index -> full record, for the starts kept as evidence."""
        return {index: resolved(hit) for index, hit in self.kept().items()}

    def add_end(self, time: float, group: str) -> None:
        self.end_times.append(time)
        self.end_groups.append(self._group_index(group))
        if self.ends_cap and len(self.end_times) > self.ends_cap:
            self.fold_ends()

    def merge(self, other: SequenceStore) -> None:
        """Fold in what another store saw later (the next member of the bundle); its arrays
        may become this one's (:func:`_joined`): it is not used again."""
        names = {index: name for name, index in other.group_names.items()}
        # Group indices are handed out in the order the groups first appear (starts, then
        # ends), as adding the records one by one would.
        folded_groups = ([] if other.folded_ends is None
                         else _first_seen(array("i", other.folded_ends.groups.tobytes())))
        remap = {group: self._group_index(names[group])
                 for group in [*_first_seen(other.start_groups), *_first_seen(other.end_groups),
                               *folded_groups]}
        room = max(0, self.max_starts - self.starts)
        taken = min(other.starts, room)
        self.starts_dropped += other.starts - taken + other.starts_dropped
        begin = self.starts
        self.start_times = _joined(self.start_times, _first(other.start_times, taken))
        self.start_groups = _joined_remapped(self.start_groups,
                                             _first(other.start_groups, taken), remap)
        self.start_lines = _joined(self.start_lines, _first(other.start_lines, taken))
        for index, hit in sorted(other.kept().items()):
            if index < taken:
                self._sample(begin + index, hit)
        self.end_times = _joined(self.end_times, other.end_times)
        self.end_groups = _joined_remapped(self.end_groups, other.end_groups, remap)
        if not other.ends_cap:  # the same store: its ends keep their times everywhere
            self.ends_cap = 0
        if other.folded_ends is not None:
            self.folded_ends = Folded.joined(self.folded_ends,
                                             other.folded_ends.remapped(remap))
        if self.folded_ends is not None or (self.ends_cap
                                            and len(self.end_times) > self.ends_cap):
            self.fold_ends()

    def keep_first_starts(self, room: int) -> None:
        """Drop every start past the first ``room``, as :meth:`merge` into a store with that
        much room left would (their count joins ``starts_dropped``, their samples go): a
        reader's per-member delta then carries only what the parent keeps."""
        if self.starts <= room:
            return
        self.starts_dropped += self.starts - room
        del self.start_times[room:]
        del self.start_groups[room:]
        del self.start_lines[room:]
        for kept in (self.first, self.last, self.spread):
            for index in [index for index in kept if index >= room]:
                del kept[index]

    def ends_by_group(self) -> dict[int, Any]:
        """Group -> the times of its ends, ascending, as a numpy array (sorted in numpy: a
        success marker can have hundreds of thousands of ends)."""
        import numpy as np

        if not self.end_times:
            return {}
        times = np.frombuffer(self.end_times, dtype=np.float64)
        groups = np.frombuffer(self.end_groups, dtype=np.int32)
        if groups.min() == groups.max():  # one group (no ``group_by``): no sort by group
            in_order = bool(np.all(times[1:] >= times[:-1]))  # a member's, in line order
            # A copy either way: a view would keep the store's array from growing.
            return {int(groups[0]): times.copy() if in_order else np.sort(times)}
        order = np.lexsort((times, groups))
        groups, times = groups[order], times[order]
        cuts = np.flatnonzero(np.diff(groups)) + 1
        return {int(part_groups[0]): part_times for part_groups, part_times
                in zip(np.split(groups, cuts), np.split(times, cuts), strict=True)}


MAX_NEIGHBOUR_CAPTURES = 2_000
NEIGHBOUR_ROLES = ("anchor", "partner")
"""Query roles of an adjacency join: the check's own records (``anchor``, in the same order
as its hits) and their neighbours (``partner``)."""


@dataclass
class NeighbourStore:
    """Where the records of one side of an adjacency join (``near``) were: time, member and
    line of each (20 bytes), for the first ``cap`` records (0: all), and the captures of the
    first ``MAX_NEIGHBOUR_CAPTURES``. Past the cap a record is only counted in
    :attr:`dropped`: a failing VM can log millions, and the join is then no longer required
    of every hit (more hits, never fewer)."""

    times: array = field(default_factory=lambda: array("d"))
    lines: array = field(default_factory=lambda: array("q"))
    members: array = field(default_factory=lambda: array("i"))
    member_names: dict[str, int] = field(default_factory=dict)
    captures: dict[int, dict[str, str]] = field(default_factory=dict)
    cap: int = 0
    dropped: int = 0

    def room(self, wanted: int) -> int:
        """How many of ``wanted`` more records are kept (the rest are counted dropped)."""
        kept = wanted if not self.cap else max(0, min(wanted, self.cap - len(self.times)))
        self.dropped += wanted - kept
        return kept

    def add(self, time: float, member: str, line: int, captures: dict[str, str]) -> None:
        if not self.room(1):
            return
        index = len(self.times)
        self.times.append(time)
        self.lines.append(line)
        self.members.append(self.member_names.setdefault(member, len(self.member_names)))
        if captures and len(self.captures) < MAX_NEIGHBOUR_CAPTURES:
            self.captures[index] = captures

    def add_bulk(self, times: array, member: str, lines: array,
                 captures_of: Callable[[int], dict[str, str]]) -> None:
        """Records of one member in line order, as that many :meth:`add` calls would keep
        them; ``captures_of(i)`` is asked only for the records whose captures are kept."""
        kept = self.room(len(times))
        if not kept:
            return
        self._keep_captures(len(self.times), ((position, captures_of(position))
                                              for position in range(kept)))
        index = self.member_names.setdefault(member, len(self.member_names))
        self.times.extend(times[:kept])
        self.lines.extend(lines[:kept])
        self.members.extend(array("i", [index]) * kept)

    def merge(self, other: NeighbourStore) -> None:
        """Append another store's records, as adding them one by one would (in arrays: a
        failing VM's member can bring hundreds of thousands); its arrays may become this
        one's (:func:`_joined`): it is not used again."""
        self.dropped += other.dropped
        kept = self.room(len(other.times))
        if not kept:
            return
        self._keep_captures(len(self.times), sorted(
            (position, found) for position, found in other.captures.items() if position < kept))
        # other's members are numbered in the order they first appear, as ours are
        remap = {index: self.member_names.setdefault(name, len(self.member_names))
                 for name, index in sorted(other.member_names.items(), key=lambda x: x[1])}
        self.times = _joined(self.times, _first(other.times, kept))
        self.lines = _joined(self.lines, _first(other.lines, kept))
        self.members = _joined_remapped(self.members, _first(other.members, kept), remap)

    def _keep_captures(self, offset: int,
                       captures: Iterable[tuple[int, dict[str, str]]]) -> None:
        """Keep the non-empty captures of records ``offset + position``, in order, while
        fewer than ``MAX_NEIGHBOUR_CAPTURES`` are kept (the rest are never asked for)."""
        for position, found in captures:
            if len(self.captures) >= MAX_NEIGHBOUR_CAPTURES:
                break
            if found:
                self.captures[offset + position] = found

    def member_of(self, index: int) -> str:
        wanted = self.members[index]
        return next((n for n, i in self.member_names.items() if i == wanted), "")


@dataclass
class LogQuery:
    """One pattern of one check of one rule, with the filters that decide if it applies."""

    rule_id: str
    check: str
    role: str
    """``hit`` for log/absence checks, ``start``/``then`` for sequence checks."""
    filter: RecordFilter
    pattern: str
    group_by: str
    exclude: tuple[str, ...] = ()
    """Patterns that drop a record the pattern matched (``exclude`` of the check)."""
    regex: Any = None
    has_captures: bool = False
    where: list[tuple[str, str, Any, bool]] = field(default_factory=list)
    excluders: list[Any] = field(default_factory=list)
    guard_within: float = 0.0
    """A guard's ``within`` (seconds): its records fold past the exact cap only when it
    is a minute or more (:data:`FOLDABLE_GUARD_SECONDS`)."""
    _where_cache: dict[tuple[str, str], bool] = field(default_factory=dict, repr=False)
    member_emitters: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    """Member provenance -> the extension whose own log it is by its content (a handler log
    outside its folder); shared with the :class:`RecordMatcher` that fills it."""

    def __post_init__(self) -> None:
        # Compiled on first use (:meth:`match`): a large bundle's reader forks its planners
        # only once every query is built, and most patterns never need their own regex
        # (the kind's pattern set decides). A named group can only be spelt so; an escaped
        # look-alike makes the query decided per message, which gives the same answers.
        self.has_captures = "(?P<" in self.pattern or "(?<" in self.pattern
        self.where = [where_test(name, value) for name, value in self.filter.where.items()]
        self.excluders = [compile_pattern(p) for p in self.exclude]

    @property
    def unfiltered(self) -> bool:
        """Matches on its pattern alone: no filter, capture or grouping to evaluate."""
        wanted = self.filter
        return not (self.has_captures or self.group_by or self.where or wanted.levels
                    or wanted.threads or wanted.prefixes or wanted.extensions
                    or wanted.exclude_extensions or wanted.emitted_by or self.excluders)

    @property
    def light(self) -> bool:
        """Decidable on a one-line record without folding it (everything but sequence
        starts, which become evidence and so keep their full record)."""
        return self.role != "start"

    def accepts(self, record: Record) -> bool:
        wanted = self.filter
        if wanted.levels and record.level not in wanted.levels:
            return False
        if wanted.threads and record.thread not in wanted.threads:
            return False
        if wanted.prefixes and record.prefix not in wanted.prefixes:
            return False
        if wanted.extensions and extension_of(record).lower() not in wanted.extensions:
            return False
        if wanted.exclude_extensions and extension_of(record).lower() in wanted.exclude_extensions:
            return False
        if wanted.emitted_by and not emitted_by(record, wanted.emitted_by,
                                                 self.member_emitters):
            return False
        return all(
            _field_matches(record_value(record, name), value, regex) != negate
            for name, value, regex, negate in self.where
        )

    def match(self, record: Record) -> dict[str, str] | None:
        if not self.accepts(record):
            return None
        if not self.pattern:
            return {}
        if self.excluders and any(x.search(record.message) is not None for x in self.excluders):
            return None
        if not self.has_captures:
            # The kind's pattern set already said the pattern matches; no captures to read.
            return {}
        if self.regex is None:
            self.regex = compile_pattern(self.pattern)
        found = self.regex.search(record.message)
        if found is None:
            return None
        return {k: v for k, v in found.groupdict().items() if v is not None}


HANDLER_PATH_START = "/var/lib/waagent/"
"""What every handler path starts with (:func:`handler_extension`)."""
_HANDLER_PATH = compile_pattern(
    HANDLER_PATH_START + r"(?P<name>[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)+)"
    r"-(?P<version>\d+(?:\.\d+){1,3})(?:/|\b)")
_EXTENSION_LOG_DIR = compile_pattern(
    r"(?:^|[/!])var/log/azure/(?P<name>[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)+)/")


def extension_of(record: Record) -> str:
    """The extension a record is about: its ``[Name-Version]`` prefix, its ``Event: name=``,
    else a handler path (``/var/lib/waagent/<Name>-<Version>/...``) inside it, which is all a
    header-less record (a handler's stderr, a traceback) says about where it came from."""
    named = record.extension or record.fields.get("event_name", "")
    if named:
        return named
    known = getattr(record, "extension_in_message", None)
    if known is not None:  # worked out once for the bulk path's view of a record
        return str(known)
    return handler_extension(record.message)


def handler_extension(message: str) -> str:
    """The extension whose handler path (``/var/lib/waagent/<Name>-<Version>/``) the message
    names first, or ""."""
    if HANDLER_PATH_START not in message:  # what the pattern starts with: most messages
        return ""
    found = _HANDLER_PATH.search(message)
    return (found.group("name") or "") if found is not None else ""


def emitted_by(record: Record, names: tuple[str, ...],
               member_emitters: dict[str, str] | None = None) -> bool:
    """The record was written by (or about) one of these extensions, in whatever log it is:
    the agent's log names it, or it sits in the extension's own log (its folder, or a file
    whose content says it is that extension's log)."""
    if extension_of(record).lower() in names:
        return True
    if member_emitters and member_emitters.get(record.member, "").lower() in names:
        return True
    return log_folder_extension(record.member).lower() in names


def log_folder_extension(member: str) -> str:
    """The extension whose log folder (``var/log/azure/<Name>/``) holds ``member``, or ""."""
    folder = _EXTENSION_LOG_DIR.search(member)
    return (folder.group("name") or "") if folder is not None else ""


def where_test(name: str, value: str) -> tuple[str, str, Any, bool]:
    """A ``where`` entry: (field, value, regex or None, negated). ``~re`` searches,
    ``!~re`` must not find, anything else is an equality ignoring case."""
    if value.startswith("!~"):
        return (name, value, compile_pattern(value[2:]), True)
    if value.startswith("~"):
        return (name, value, compile_pattern(value[1:]), False)
    return (name, value, None, False)


def record_value(record: Record, name: str) -> str:
    if name in record.fields:
        return record.fields[name]
    if name == "extension":
        return extension_of(record)
    value = getattr(record, name, "")
    return value if isinstance(value, str) else str(value)


def _field_matches(actual: str, wanted: str, regex: Any) -> bool:
    if regex is not None:
        return regex.search(actual) is not None
    return actual.lower() == wanted.lower()


def group_key(query: LogQuery, record: Record, captures: dict[str, str]) -> str:
    if not query.group_by:
        return ""
    if query.group_by in captures:
        return captures[query.group_by]
    return record_value(record, query.group_by)


@dataclass
class MatchStore:
    """What the log checks of all rules collected; picklable, mergeable across members."""

    accumulators: dict[tuple[str, str], Accumulator] = field(default_factory=dict)
    sequences: dict[tuple[str, str], SequenceStore] = field(default_factory=dict)
    neighbours: dict[tuple[str, str], NeighbourStore] = field(default_factory=dict)
    max_starts: int = DEFAULT_LIMITS.max_sequence_starts
    samples: int = DEFAULT_LIMITS.sequence_samples
    group_samples: int = DEFAULT_LIMITS.max_group_samples
    exact_hits: int = DEFAULT_LIMITS.max_exact_hits
    exact_keys: frozenset[tuple[str, str]] = frozenset()
    """Checks whose every hit keeps its time (guards and ``near`` joins read each one)."""

    before_write: Callable[[tuple[str, str]], None] | None = field(
        default=None, repr=False, compare=False)
    """Called with a check's key before the record path adds to it: the bulk path applies
    its matches of that check on earlier lines first, so every store sees line order."""

    @classmethod
    def for_limits(cls, limits: Limits) -> MatchStore:
        return cls(max_starts=limits.max_sequence_starts, samples=limits.sequence_samples,
                   group_samples=limits.max_group_samples, exact_hits=limits.max_exact_hits)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["before_write"] = None  # a chunk's plan never travels with the store
        return state

    def accumulator(self, key: tuple[str, str]) -> Accumulator:
        if self.before_write is not None:
            self.before_write(key)
        found = self.accumulators.get(key)
        if found is None:
            found = self.accumulators[key] = self.new_accumulator(key)
        return found

    def new_accumulator(self, key: tuple[str, str]) -> Accumulator:
        return Accumulator(max_group_samples=self.group_samples,
                           exact_cap=0 if key in self.exact_keys else self.exact_hits)

    def sequence(self, key: tuple[str, str]) -> SequenceStore:
        if self.before_write is not None:
            self.before_write(key)
        store = self.sequences.get(key)
        if store is None:
            store = self.sequences[key] = SequenceStore(self.max_starts, self.samples)
            store.ends_cap = 0 if key in self.exact_keys else self.exact_hits
        return store

    def neighbour(self, key: tuple[str, str]) -> NeighbourStore:
        if self.before_write is not None:
            self.before_write(key)
        found = self.neighbours.get(key)
        if found is None:
            found = self.neighbours[key] = NeighbourStore(cap=self.exact_hits)
        return found

    def merge(self, other: MatchStore) -> None:
        self.exact_keys |= other.exact_keys
        for key, accumulator in other.accumulators.items():
            self.accumulator(key).merge(accumulator)
        for key, sequence in other.sequences.items():
            self.sequence(key).merge(sequence)
        for key, neighbours in other.neighbours.items():
            self.neighbours.setdefault(key, NeighbourStore(cap=self.exact_hits)).merge(
                neighbours)

    def keep_room_of(self, kept: dict[tuple[str, str], int]) -> None:
        """Trim this delta's sequence starts to the room a parent that already kept
        ``kept[key]`` starts of each check has left, and count them in ``kept``."""
        for key, sequence in self.sequences.items():
            sequence.keep_first_starts(max(0, self.max_starts - kept.get(key, 0)))
            kept[key] = kept.get(key, 0) + sequence.starts

    def is_empty(self) -> bool:
        return not self.accumulators and not self.sequences and not self.neighbours


FOLDABLE_GUARD_SECONDS = 60.0
"""A guard at least this long is answered exactly from its records folded per minute (the
first and last of each minute row, :meth:`GuardRecords.explains`)."""


def per_hit_checks(queries: Iterable[LogQuery]) -> frozenset[tuple[str, str]]:
    """The stores that keep every record's own time: the records of a guard shorter than a
    minute. A guarded check's own hits, a guard's records and a ``near``-joined check's
    hits otherwise fold past the exact cap like any others (a join's two sides stop at the
    same cap, :class:`NeighbourStore`): a failing VM can log millions."""
    keys: list[tuple[str, str]] = []
    for query in queries:
        if query.role == "guard" and query.guard_within < FOLDABLE_GUARD_SECONDS:
            keys.append((query.rule_id, query.check))
    return frozenset(keys)


def reads_digits(pattern: str) -> bool:
    """Whether a pattern may tell one ASCII digit from another: it holds a digit character
    (``Errno 113``, ``[01]``, ``\\x35``, ``\\d{3}`` too). One that holds none accepts every
    ASCII digit or none at each step: a class or range is written with other characters
    (``[/-:]`` holds them all), ``\\d``, ``\\w``, ``.``, POSIX and Unicode classes hold all
    ten, and the word boundaries read digits alike. So such a pattern matches a message
    exactly when it matches it with each digit read as ``0`` (the bulk planner decides the
    records of one digit form once)."""
    return not _ASCII_DIGITS.isdisjoint(pattern)


_ASCII_DIGITS = frozenset("0123456789")


class RecordMatcher:
    """Routes candidate records to the queries of their source kind and fills ``store``."""

    def __init__(self, rules: Iterable[Rule], limits: Limits = DEFAULT_LIMITS) -> None:
        from analyzer.engine.checks import log_queries  # the kinds import this module

        self.limits = limits
        self.queries: list[LogQuery] = log_queries(rules)
        self.by_kind: dict[str, list[LogQuery]] = defaultdict(list)
        for query in self.queries:
            for kind in query.filter.sources:
                self.by_kind[kind].append(query)
        agent_copies = self.by_kind.get("waagent_log", []) + self.by_kind.get(SYSTEM_LOG, [])
        if agent_copies:
            self.by_kind[AGENT_IN_SYSTEM_LOG] = agent_copies
        self._per_hit = per_hit_checks(self.queries)
        self.store = self.new_store()
        self.member_emitters: dict[str, str] = {}
        for query in self.queries:
            query.member_emitters = self.member_emitters
        self._sets: dict[str, tuple[Any, list[list[LogQuery]]]] = {}
        self._light_sets: dict[str, tuple[Any, list[list[LogQuery]]]] = {}

    def new_store(self) -> MatchStore:
        """An empty store for these rules (which checks keep every hit's time included)."""
        store = MatchStore.for_limits(self.limits)
        store.exact_keys = self._per_hit
        return store

    def note_emitter(self, member: str, extension: str) -> None:
        """Records of ``member`` were written by ``extension`` (``emitted_by`` filters)."""
        self.member_emitters[member] = extension

    def _pattern_set(self, kind: str) -> tuple[Any, list[list[LogQuery]]]:
        """One RE2 set per source kind: a single pass over a record says which patterns
        match, so each record costs one scan whatever the number of rules."""
        cached = self._sets.get(kind)
        if cached is None:
            by_pattern: dict[str, list[LogQuery]] = {}
            for query in self.by_kind.get(kind, ()):
                by_pattern.setdefault(query.pattern, []).append(query)
            cached = (compile_set(tuple(by_pattern)), list(by_pattern.values()))
            self._sets[kind] = cached
        return cached

    def patterns_for(self, kind: str) -> tuple[str, ...]:
        kind = AGENT_IN_SYSTEM_LOG if kind == SYSTEM_LOG else kind
        return tuple(sorted({q.pattern for q in self.by_kind.get(kind, ()) if q.pattern}))

    def full_patterns_for(self, kind: str) -> tuple[str, ...]:
        """Patterns some query can only decide on a fully parsed record."""
        kind = AGENT_IN_SYSTEM_LOG if kind == SYSTEM_LOG else kind
        return tuple(sorted({q.pattern for q in self.by_kind.get(kind, ())
                             if q.pattern and not q.light}))

    def _light_set(self, kind: str) -> tuple[Any, list[list[LogQuery]]]:
        cached = self._light_sets.get(kind)
        if cached is None:
            by_pattern: dict[str, list[LogQuery]] = {}
            for query in self.by_kind.get(kind, ()):
                if query.light:
                    by_pattern.setdefault(query.pattern, []).append(query)
            cached = (compile_set(tuple(by_pattern)), list(by_pattern.values()))
            self._light_sets[kind] = cached
        return cached

    def offer_line(self, ref: LineRef) -> None:
        """The cheap path: a one-line record that only light queries can match."""
        pattern_set, groups = self._light_set(query_kind(ref.source_kind, ref.header.generation))
        if pattern_set is None:
            return
        indices = pattern_set.Match(ref.header.message)
        if not indices:
            return
        view: LineView | None = None
        stamp = ref.header.timestamp
        time = stamp.timestamp() if stamp is not None else NO_TIME
        for index in indices:
            for query in groups[index]:
                key = (query.rule_id, query.check)
                if query.role in NEIGHBOUR_ROLES:
                    if view is None:
                        view = LineView(ref)
                    found = query.match(view)  # type: ignore[arg-type]
                    if found is not None:
                        self.store.neighbour(key).add(
                            time, ref.member, ref.line, found)
                    continue
                if query.unfiltered:  # the common case: a success marker, a plain count
                    if query.role == "hit":
                        self.store.accumulator(key).add_line(ref, "", {})
                    else:
                        self.store.sequence(key).add_end(time, "")
                    continue
                if view is None:
                    view = LineView(ref)
                captures = query.match(view)  # type: ignore[arg-type]
                if captures is None:
                    continue
                group = group_key(query, view, captures) if query.group_by else ""  # type: ignore[arg-type]
                if query.role == "hit":
                    self.store.accumulator(key).add_line(ref, group, captures)
                else:
                    self.store.sequence(key).add_end(time, group)

    def prefilter(self, kind: str, extra: tuple[str, ...] = (),
                  extra_tags: tuple[int, ...] = ()) -> Any:
        """The prefilter of a kind: its rules' patterns (tagged ``QUERY_TAG``) and the
        ``extra`` ones (tagged ``extra_tags``, or with every tag)."""
        own = self.patterns_for(kind)
        patterns = own + extra
        tags = (tuple(QUERY_TAG | (DIGIT_TAG if reads_digits(pattern) else 0) for pattern in own)
                + (extra_tags or (ALL_TAGS,) * len(extra)))
        return compile_prefilter(patterns, tags) if patterns else None

    def __call__(self, record: Record) -> None:
        pattern_set, groups = self._pattern_set(query_kind(record.source_kind, record.generation))
        if pattern_set is None:
            return
        for index in pattern_set.Match(record.message) or ():
            for query in groups[index]:
                self._offer(query, record)

    def _offer(self, query: LogQuery, record: Record) -> None:
        captures = query.match(record)
        if captures is None:
            return
        key = (query.rule_id, query.check)
        if query.role in NEIGHBOUR_ROLES:
            stamp = record.timestamp
            self.store.neighbour(key).add(
                stamp.timestamp() if stamp is not None else NO_TIME, record.member, record.line,
                captures)
            return
        group = group_key(query, record, captures) if query.group_by else ""
        if query.role == "hit":
            self.store.accumulator(key).add(Hit(record, captures), group)
        else:
            self.store.sequence(key).add(
                record, captures, group, query.role == "start"
            )
