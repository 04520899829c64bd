"""Matching in bulk: one-line records that only feed counters and sequence ends cost no record.

The scanner's prefilter finds candidate lines in a chunk. Most of them, in a verbose or failing
agent log, are one-line records that only add to a count, a time series or a sequence end
(heartbeats, ``ProcessExtensionsGoalState completed``, the same WireServer failure every few
seconds). For those, nothing needs a parsed :class:`Record`:

* the header is checked by one small bytes regex (only the common G4 agent layout and the
  backup extension's ``date time [prefix]message`` layout; anything else takes the record path);
* every *distinct* message of the chunk goes once through the kind's RE2 pattern set, so a
  message repeated ten thousand times is matched once;
* timestamps are read with the line starts in one compiled pass (:mod:`analyzer.engine.heads`);
* counts, times, sequence starts and ends go to the match store as arrays, and only the few
  lines kept as evidence are parsed, when they are shown (:class:`RawHit`).

A line takes the record path instead (:class:`~analyzer.parse.logscan.LogScanner`) when it is
part of a multi-line record, has an unusual header or timestamp, matches an event pattern,
carries a structured event, or matches a query that filters on ``where`` or groups by a field.
Records of the two paths are applied in line order (:meth:`BulkPlan.flush` runs before each
record-path record), so samples, sequence caps and agent facts come out exactly as if every
line had been taken one by one.

Planning a chunk (:class:`ChunkPlanner`, giving a :class:`Planned` of plain arrays) reads
nothing but the chunk and the rule pack, so a large member's chunks are planned by forked
workers (:mod:`analyzer.forkpool`) while this process reads ahead and applies the plans
(:class:`BulkPlan`) in order.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from functools import lru_cache
from itertools import repeat
from operator import is_, is_not
from typing import Any

import numpy as np

from analyzer.engine.distinct import digit_forms, distinct_ranges, newline_offsets
from analyzer.engine.heads import (
    DASH_REST_AT,
    G4_REST_AT,
    HEAD_DASH,
    HEAD_DASH_SPACE,
    HEAD_G4,
    HEAD_LEVEL,
    HEAD_MAY_OPEN,
    HEAD_SLASH_SPACE,
    HEAD_VALID,
    WINDOW,
    has,
    line_heads,
)
from analyzer.engine.matching import (
    EVENT_TAG,
    FACT_TAG,
    HANDLER_PATH_START,
    NEIGHBOUR_ROLES,
    QUERY_TAG,
    LogQuery,
    RawHit,
    RecordMatcher,
    extension_of,
    group_key,
    handler_extension,
    log_folder_extension,
)
from analyzer.engine.regex import ALL_TAGS, LiteralPresence, unique_sorted
from analyzer.forkpool import ForkPool, Lent, WorkerLost, usable_cores
from analyzer.parse.log_facts import (
    HANDLER_STATE,
    LogEvent,
    LogFacts,
    event_label,
    may_hold_version_fields,
)
from analyzer.parse.logscan import CHUNK_BYTES, reads_as_header
from analyzer.parse.records import Record
from analyzer.parse.timeutil import from_micros, local_zone
from analyzer.parse.waagent_log import (
    RECORD_START,
    heartbeat_agent_version,
    parse_header,
    split_extension_prefix,
    version_fields,
)
from analyzer.redact import redact_text

# Mirrors parse_header for the two layouts that make up nearly every line of a large bundle;
# a line these do not match whole takes the record path, so they may be strict.
_G4 = re.compile(
    rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6})Z (VERBOSE|INFO|WARNING|ERROR) "
    rb"([^\[ \n][^ \n]*) (Daemon|ExtHandler|LogCollector|Firewall|\[[^ \n]*\]) ([^\r\n\x00]*)"
)
_DASH = re.compile(rb"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}) (\[[^\]\n]*\])([^\r\n\x00]*)")
_WORD_LEVEL_WINDOW = 160
"""Bytes that surely hold the 40 characters in which parse_header looks for ``  Info  ``."""
_EVENT_FIELD = b"Event: name="
_HANDLER_STATE = HANDLER_STATE.encode()
_BOM_LINE = b"\n\xef\xbb\xbf"
_MARKERS = (b"\r", b"\x00", _BOM_LINE, _EVENT_FIELD)
_ODD_BYTE_MARKS = 0b0111
_EVENT_FIELD_MARK = 0b1000
_SCAN_MARKERS_FROM = 1024
"""Records to decide in a chunk from which the chunk is scanned for the markers first: a
search of each record decided costs ~0.8 µs (four ``in``), the scan ~0.9 ms a chunk."""


@lru_cache(maxsize=1)
def _chunk_markers() -> LiteralPresence:
    return LiteralPresence(_MARKERS)


SAMPLE_HEAD = 4
SAMPLE_TAIL = 3


_HEADER_FILTER = 1
"""The query filters on level, thread or prefix: decided per distinct header."""
_MESSAGE_FILTER = 2
"""The query filters on the extension a record is about (``extensions``, ``emitted_by``):
without a ``[Name-Version]`` prefix that comes from handler paths in the message, so it is
decided per distinct (header, message)."""


_RECORD_FILTER = 3
"""A sequence end grouped by, or filtered with ``where`` on, what a one-line record's
header and message say (its extension, member, level, thread or prefix): decided, and its
group taken, per distinct line."""
_MAX_ROUTES = 50_000
_PER_LINE_FIELDS = frozenset({"extension", "member", "level", "thread", "prefix"})
_END_ROLES = ("then", "guard")
"""Queries whose records are kept as a time per group: a sequence's ends and a guard's
records (``unless_preceded_by``)."""


def _filtered(query: LogQuery) -> int:
    wanted = query.filter
    if query.group_by or query.where:
        return _RECORD_FILTER
    if wanted.extensions or wanted.exclude_extensions or wanted.emitted_by:
        return _MESSAGE_FILTER
    return _HEADER_FILTER if (wanted.levels or wanted.threads or wanted.prefixes) else 0


def bulk_capable(query: LogQuery) -> bool:
    """A query whose matches the bulk path can record. ``exclude`` and the extension
    filters are decided on the message, once per distinct record. ``where`` and
    ``group_by`` are too, for sequence ends and guard records whose fields are those of the
    record's header and message (either is kept as a time per group, so the order in which
    groups are applied does not matter); other grouped queries take the record path."""
    if query.role not in ("hit", "start", "then", "guard", *NEIGHBOUR_ROLES):
        return False
    if not query.group_by and not query.where:
        return True
    names = {name for name, _, _, _ in query.where} | ({query.group_by} - {""})
    return query.role in _END_ROLES and names <= _PER_LINE_FIELDS


def _any_excludes(excluders: list[Any], data: bytes, excluded: dict[int, bool]) -> bool:
    """Whether one of ``excluders`` matches ``data``, each searched at most once per
    message (``excluded`` keeps the answers by excluder)."""
    for excluder in excluders:
        found = excluded.get(id(excluder))
        if found is None:
            found = excluded[id(excluder)] = excluder.search(data) is not None
        if found:
            return True
    return False


@dataclass(slots=True)
class _HeaderView:
    """What the record filters read (level, thread, prefix, extension) from a bulk header."""

    level: str
    thread: str
    prefix: str
    extension: str
    message: str = ""
    """The redacted message, as a record would hold it (only for extension filters)."""
    member: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    _handler: str | None = None

    @property
    def extension_in_message(self) -> str:
        """:func:`handler_extension` of ``message``, worked out once, when a filter first
        asks (``extension_of`` reads it)."""
        if self._handler is None:
            self._handler = handler_extension(self.message)
        return self._handler


def _reads_member(query: LogQuery) -> bool:
    """Whether a ``where`` or ``group_by`` of ``query`` reads the member's path: the one
    field of a :class:`_HeaderView` taken from the member (a field it lacks reads "")."""
    return query.group_by == "member" or any(name == "member" for name, *_ in query.where)


@dataclass
class BulkContext:
    """What the bulk path needs from the scan state."""

    first_sightings: Callable[[Any, Any, str], Any]
    """(POSIX microseconds, hashes of the message bytes, member; numpy arrays) -> False for
    each record another member held (:meth:`FirstSighting.first_of_many`)."""
    facts: LogFacts
    add_facts: Callable[[Record], None]
    add_events: Callable[[list[LogEvent]], None]
    """Timeline events in line order (past the cap, only counted)."""
    events_full: Callable[[], bool] = lambda: False
    """The timeline's cap is reached: further events are only counted."""
    drop_events: Callable[[int], None] = lambda count: None


@dataclass
class _Pending:
    """Bulk matches of one query in the current chunk, in line order."""

    query: LogQuery
    rows: Any
    """Indices into the plan's bulk rows (numpy, ascending)."""
    lines: Any
    """Their line numbers (numpy, ascending)."""
    group: str = ""
    done: int = 0


Decision = tuple[Any, bytes, Any, Any]
"""What the bulk path decided once for one distinct header-less line (level, thread, prefix
and message of a G4 line; prefix and message of a backup-extension line), as a plain tuple
(a chunk of a verbose log decides ~4,000; a slotted class cost 0.3 µs more each):

* the queries it matches, with the group each puts it in (``(query, group)`` pairs);
* its message bytes (their hash keys first sightings);
* (version fields, extension, version, message) of a line that may hold agent facts
  (whether it adds one depends on what came before: decided row by row), or None;
* the event kind and label of a timeline event, or None.

A record with facts or an event is applied row by row (:attr:`Planned.row_by_row`)."""
RECORD_PATH: Decision = ((), b"", None, None)
"""The decision on a record the bulk path leaves to the record path (its row is not taken,
so its message is never hashed)."""
_NO_QUERIES: tuple[()] = ()
_BY_RECORD: Any = object()


_UNKNOWN: Any = object()


def _put(target: list[Any], indices: list[int], values: Any) -> None:
    """``target[i] = value`` for each pair, looped in C."""
    deque(map(target.__setitem__, indices, values), maxlen=0)


class _KnownRecords:
    """Decisions kept across the chunks of a member and the members of a kind: a log that
    repeats the same few messages (a VM failing the same way for weeks) decides each once,
    not once per chunk.

    Only records seen before are kept (a first sighting costs a hash in a set): most logs'
    distinct records never come back (durations, sequence numbers), and keeping each one's
    decision would cost more in allocation and garbage collection than deciding it again.
    Where most do come back (a VM failing the same way for weeks), every decision is kept
    from its first sighting (:meth:`tally`). Bounded by count and bytes; emptied when full or
    when what a decision reads of the member changes (:meth:`of`: rotated logs of one kind
    share them)."""

    def __init__(self) -> None:
        self._context: tuple[Any, ...] = ()
        self._decided: dict[tuple[bytes, int], Any] = {}
        self._seen: set[int] = set()
        self._bytes = 0
        self._asked = self._found = self._resting = self._returned = 0
        self._eager = False

    def of(self, context: tuple[Any, ...]) -> _KnownRecords:
        """These decisions, for what a decision reads besides the record (emptied when
        that changes; :meth:`BulkMatcher.known_records`). Whether keeping them pays carries
        over to the next member: rotated logs of one VM repeat alike (the marker-heavy mix
        looked up 44% of its distinct records, which never came back, in the trials that
        opened each member)."""
        if context != self._context:
            self._context = context
            self._decided = {}
            self._seen = set()
            self._bytes = 0
        return self

    def worthwhile(self) -> bool:
        """Whether to look records up and keep them. A verbose log's distinct records
        almost never come back (of 128,533 in the standard mix, 200 did), and the look-up
        and first-sighting hash then cost about 0.5 µs each for nothing: after
        :data:`_TRIAL_RECORDS` records with under 1% come back (:meth:`tally`), the next
        :data:`_REST_RECORDS` are decided without (then it is tried again). The count runs
        on across the members of a kind, and so do the decisions unless what they read of the
        member changes (:meth:`of`)."""
        return self._resting <= 0

    def tally(self, asked: int, found: int) -> None:
        """``found`` of ``asked`` records were decided before. Records come back when they
        are found, or seen a second time (:meth:`keep`). After a trial: under 1% came back,
        rest (:meth:`worthwhile`); a tenth or more (from :data:`_EAGER_TRIAL` records on),
        keep each decision from its first sighting. A dense failing log's second chunk
        repeated a thousand decisions of its first, and every member starts afresh: a tenth
        of the hit-heavy mix's decisions."""
        self._asked += asked
        self._found += found
        came_back = self._found + self._returned
        if self._asked >= _EAGER_TRIAL and came_back * 10 >= self._asked:
            self._eager = True
        if self._asked >= _TRIAL_RECORDS:
            if came_back * 100 < self._asked:
                self._resting = _REST_RECORDS
            self._eager = came_back * 10 >= self._asked
            self._asked = self._found = self._returned = 0

    def passed(self, records: int) -> None:
        """``records`` decided without looking up or keeping them."""
        self._resting -= records

    def lookup(self, keys: list[tuple[bytes, int]]) -> list[Any]:
        """The decision on each key (a record and its tags), or :data:`_UNKNOWN`: one
        C-level look-up per key, no Python call (1 µs less each, 56,000 on the hit-heavy
        mix)."""
        return list(map(self._decided.get, keys, repeat(_UNKNOWN)))

    def keep(self, key: tuple[bytes, int], found: Any) -> None:
        if not self._eager:
            seen = self._seen
            marker = hash(key)
            if marker not in seen:
                if len(seen) >= _MAX_SEEN:
                    seen.clear()
                seen.add(marker)
                return
            self._returned += 1
        decided = self._decided
        if len(decided) >= _MAX_KNOWN or self._bytes > _MAX_KNOWN_BYTES:
            decided.clear()
            self._bytes = 0
        decided[key] = found
        self._bytes += 2 * len(key[0])  # the key and the record's message


_FORM_TAGS = (QUERY_TAG, 0, QUERY_TAG | FACT_TAG, FACT_TAG)
"""The tags of the records decided once per digit form (:meth:`ChunkPlanner._decisions`);
a record with a fact literal has its fact parts read from its own message."""
_MAX_SEEN = 1 << 17
_EAGER_TRIAL = 1024
_TRIAL_RECORDS = 16_384
_REST_RECORDS = 65_536
_MAX_KNOWN = 16_384
_MAX_KNOWN_BYTES = 8 << 20


class BulkMatcher:
    """Per source kind: plans each chunk, then applies the bulk matches in line order."""

    def __init__(self, matcher: RecordMatcher, kind: str, context: BulkContext) -> None:
        self.matcher = matcher
        self.kind = kind
        self.context = context
        self.pattern_set, groups = matcher._pattern_set(kind)
        self.match_set: Callable[[bytes], Any] = (
            self.pattern_set.raw_match if self.pattern_set is not None else (lambda _: ()))
        self.queries_of_pattern: list[list[LogQuery]] = groups
        self.bulk_pattern = [all(bulk_capable(q) for q in group) for group in groups]
        self.filtered = {id(q): _filtered(q) for group in groups for q in group}
        self.queries: list[LogQuery] = list({id(q): q for group in groups for q in group}
                                            .values())
        self.query_index = {id(query): index for index, query in enumerate(self.queries)}
        self.route_cache: dict[tuple[Any, ...], Any] = {}
        """(matched patterns, level, thread, prefix, header checked) -> :meth:`routes`."""
        self._known = _KnownRecords()
        self._reads_member = any(_reads_member(query) for query in self.queries)
        self.decisions: dict[tuple[Any, ...], tuple[bool, str]] = {}
        """(query, header, extension, member) -> (taken, group) of a query that reads no
        capture (:meth:`ChunkPlanner._per_message`)."""
        self.per_message_lists: dict[tuple[Any, ...], tuple[list[LogQuery], Any]] = {}
        """(id of a route's message-reading queries, header, extension, member) -> (those
        queries, what they take), for routes whose queries read nothing of the message but
        the extension (:meth:`reads_extension_only`); the queries are kept to tell a reused
        id apart."""
        self._extension_only: dict[int, tuple[list[LogQuery], bool]] = {}
        self._joined: dict[tuple[int, int], tuple[Any, Any, list[Any]]] = {}
        self._joined_alike: dict[tuple[Any, ...], tuple[list[Any], list[Any]]] = {}
        self._prefix_extensions: dict[bytes, tuple[str, str]] = {}
        self._shared_parts: dict[tuple[Any, ...], tuple[dict[str, str], str, str, str]] = {}
        self._pool: ForkPool | None = None
        self._pool_prefilter: Any = None
        self._pool_failed = False

    def known_records(self, member: str, real_version: bool) -> _KnownRecords:
        """The distinct records already decided, for what a decision reads besides the
        record: the member's emitter, whether its versions are real, the extension log
        folder it sits in (``emitted_by``), and the member's path itself only where a query
        reads it. Rotated logs of one kind so share their decisions (a failing VM repeats
        its messages from one rotation to the next: a third of the hit-heavy mix's)."""
        emitter = self.matcher.member_emitters.get(member, "")
        place = member if self._reads_member else log_folder_extension(member)
        return self._known.of((self.kind, place, real_version, emitter))

    def reads_extension_only(self, candidates: list[LogQuery]) -> bool:
        """No query of the list has ``exclude`` or a capture group: what it takes depends on
        the record's header, extension and member alone."""
        known = self._extension_only.get(id(candidates))
        if known is None or known[0] is not candidates:
            if len(self._extension_only) > _MAX_ROUTES:
                self._extension_only.clear()
            known = self._extension_only[id(candidates)] = (candidates, not any(
                query.excluders or query.has_captures for query in candidates))
        return known[1]

    def prefix_extension(self, prefix: bytes) -> tuple[str, str]:
        """:func:`split_extension_prefix` of a header's prefix bytes (few distinct ones)."""
        found = self._prefix_extensions.get(prefix)
        if found is None:
            if len(self._prefix_extensions) > _MAX_ROUTES:
                self._prefix_extensions.clear()
            found = self._prefix_extensions[prefix] = split_extension_prefix(
                prefix.decode("utf-8", "surrogateescape"))
        return found

    def shared_parts(self, parts: tuple[dict[str, str], str, str, str]
                     ) -> tuple[dict[str, str], str, str, str]:
        """One object for equal fact parts (the fields are only read, never changed)."""
        key = (tuple(parts[0].items()), *parts[1:])
        found = self._shared_parts.get(key)
        if found is None:
            if len(self._shared_parts) > _MAX_ROUTES:
                self._shared_parts.clear()
            found = self._shared_parts[key] = parts
        return found

    def extension_without_view(self, prefix: bytes, message: str) -> str | None:
        """:func:`extension_of` a record's view, where it needs neither the redacted message
        nor the view: the prefix names the extension, or the message holds no handler path
        (redaction only replaces text, so it cannot make one). None: ask the view."""
        named = self.prefix_extension(prefix)[0]
        if named:
            return named
        return None if HANDLER_PATH_START in message else ""

    def joined(self, fixed: list[Any], taken: list[Any]) -> list[Any]:
        """``fixed + taken``, the same list object for the same two lists: records routed
        alike then share one query list (:meth:`Planned.of` expands each list once)."""
        key = (id(fixed), id(taken))
        found = self._joined.get(key)
        if found is None or found[0] is not fixed or found[1] is not taken:
            if len(self._joined) > _MAX_ROUTES:
                self._joined.clear()
            found = self._joined[key] = (fixed, taken, [*fixed, *taken])
        return found[2]

    def joined_alike(self, fixed: list[Any], taken: list[tuple[LogQuery, str]]) -> list[Any]:
        """``fixed + taken``, one list object for the same queries and groups: records whose
        message-reading queries take them alike then share one list (a failing log's
        captured groups repeat; a list per record made ~450 lists per chunk to expand)."""
        key = (id(fixed), tuple((id(query), group) for query, group in taken))
        found = self._joined_alike.get(key)
        if found is None or found[0] is not fixed:
            if len(self._joined_alike) > _MAX_ROUTES:
                self._joined_alike.clear()
            found = self._joined_alike[key] = (fixed, [*fixed, *taken])
        return found[1]

    def routes(self, indices: tuple[int, ...], level: bytes, thread: bytes, prefix: bytes,
               header_checked: bool = True
               ) -> tuple[list[tuple[LogQuery, str]], list[LogQuery]] | None:
        """For the patterns a record matched and its header: the queries that take it
        whatever its message says, and those that must read its message; None when one
        pattern needs the record path, or when a G4 header not yet checked
        (``header_checked`` false) is none the header regex takes. Cached in
        :attr:`route_cache`: a heartbeat's or a marker's many distinct messages share one
        answer (planners look it up themselves first)."""
        key = (indices, level, thread, prefix, header_checked)
        found = self.route_cache.get(key, _UNKNOWN)
        if found is not _UNKNOWN:
            return found  # type: ignore[no-any-return]
        if len(self.route_cache) > _MAX_ROUTES:
            self.route_cache.clear()
        decided = (self._route(indices, (level, thread, prefix))
                   if header_checked or _g4_header(level, thread, prefix) else None)
        self.route_cache[key] = decided
        return decided

    def _route(self, indices: tuple[int, ...], head: tuple[bytes, bytes, bytes]
               ) -> tuple[list[tuple[LogQuery, str]], list[LogQuery]] | None:
        fixed: list[tuple[LogQuery, str]] = []
        per_message: list[LogQuery] = []
        view: _HeaderView | None = None
        for index in indices:
            if not self.bulk_pattern[index]:
                return None
            for query in self.queries_of_pattern[index]:
                how = self.filtered[id(query)]
                if query.excluders or how in (_MESSAGE_FILTER, _RECORD_FILTER):
                    per_message.append(query)
                    continue
                if how == _HEADER_FILTER:
                    view = view or _view(self, head)
                    if not query.accepts(view):  # type: ignore[arg-type]
                        continue
                fixed.append((query, ""))
        return fixed, per_message

    def plan_later(self, region: bytes, member: str, real_version: bool,
                   first_line_cut: bool, prefilter: Any, max_line_bytes: int
                   ) -> Callable[[int], BulkPlan | None]:
        """The chunk's plan, to be collected later given the chunk's first line number
        (chunks are collected in the order they were handed in). A large member's chunks
        are planned by forked workers on the other cores (:attr:`depth` chunks ahead) while
        this process reads and applies; they count the chunk's lines too."""
        if self.pattern_set is None or prefilter is None:
            return lambda line_base: None
        # What the matcher learnt of the member after the workers were forked goes along.
        emitter = self.matcher.member_emitters.get(member, "")
        task = (member, real_version, first_line_cut, max_line_bytes, emitter)
        pool = self._pool_for(prefilter, len(region))
        if pool is None:
            return lambda line_base: BulkPlan(self, region, line_base, member, real_version,
                                              self._planned(prefilter, task, region))
        ticket = pool.submit(task, region)

        def collect(line_base: int) -> BulkPlan:
            try:
                planned: Planned = pool.result(ticket).resized(np.int64)
            except WorkerLost:  # redone here, where a real error shows as it is
                self.close()
                self._pool_failed = True
                planned = self._planned(prefilter, task, region)
            return BulkPlan(self, region, line_base, member, real_version, planned)

        return collect

    def _planned(self, prefilter: Any, task: tuple[Any, ...], region: Any,
                 padded: bool = False, size: int | None = None) -> Planned:
        member, real_version, first_line_cut, max_line_bytes, emitter = task
        if emitter:  # a no-op here; in a worker, the parent's note (``emitted_by``)
            self.matcher.member_emitters[member] = emitter
        return ChunkPlanner(self, region, member, real_version, max_line_bytes,
                            padded=padded, size=size).plan(first_line_cut, prefilter)

    @property
    def depth(self) -> int:
        """How many chunks may be handed in before the oldest is collected: one more than
        the workers, so a worker that finishes first is handed the next one at once."""
        return self._pool.count + 1 if self._pool is not None else 0

    def _pool_for(self, prefilter: Any, size: int) -> ForkPool | None:
        """Workers once the logs of this kind prove large: from the first chunk of 1 MiB or
        more, every large chunk of the kind, whatever its member, is planned by them."""
        if self._pool is not None:
            return self._pool if prefilter is self._pool_prefilter else None
        workers = plan_workers()
        if workers < 1 or size < POOL_MIN_REGION or self._pool_failed:
            return None
        # What every plan needs is loaded here first, so the workers inherit it instead of
        # each loading its own: the scan database and the marker scan.
        if getattr(prefilter, "_scanner", None) is not None:
            prefilter._scanner()
        _chunk_markers()
        pool_prefilter = prefilter

        def work(task: tuple[Any, ...], data: bytes | Lent) -> Planned:
            # The chunk where it lies in the shared slot (no 4 MB copy per chunk), or the
            # bytes that came through the pipe; its zero padding follows either way.
            region, size = ((data.buffer, data.size) if isinstance(data, Lent)
                            else (data, len(data) - PAD_BYTES))
            # A chunk is far below 2 GiB: its offsets, lines and codes fit 32 bits.
            return self._planned(pool_prefilter, task, region, padded=True,
                                 size=size).resized(np.int32)

        self._pool = ForkPool(work, workers, slot_bytes=POOL_SLOT_BYTES, pad_bytes=PAD_BYTES,
                              lend_slot=True)
        self._pool_prefilter = prefilter
        return self._pool

    def close(self) -> None:
        """Ends the planning workers (the pass over the members is over)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


POOL_MIN_REGION = 1 << 20
"""Chunks smaller than this are planned in this process: a small member never forks."""
POOL_SLOT_BYTES = 2 * CHUNK_BYTES
"""A chunk and the carry of a long record before it fit a worker's shared slot; a larger
region goes through the pipe."""
_PLAN_WORKERS: list[int] = []


def plan_workers() -> int:
    """Forked planners for a large member: ``WAAGENT_ANALYZER_PLAN_WORKERS`` when set (0: none),
    else one per usable core when there are two or more (this process reads and applies, which
    costs far less than planning), or the value :func:`set_plan_workers` chose."""
    if _PLAN_WORKERS:
        return _PLAN_WORKERS[-1]
    configured = os.environ.get("WAAGENT_ANALYZER_PLAN_WORKERS", "").strip()
    if configured.isdigit():
        return min(int(configured), 16)
    cores = usable_cores()
    return min(cores, 4) if cores >= 2 else 0


def set_plan_workers(count: int | None) -> None:
    """Fix the number of planners for this process (batch workers use none: the bundles
    already share the cores); None: back to the default."""
    _PLAN_WORKERS.clear()
    if count is not None:
        _PLAN_WORKERS.append(count)


PAD_BYTES = 2 * WINDOW
"""Zero bytes after a planned chunk: a window gathered at any offset of the chunk stays
inside the array."""
_G4_REST = re.compile(
    rb"(VERBOSE|INFO|WARNING|ERROR) ([^\[ \n][^ \n]*) "
    rb"(Daemon|ExtHandler|LogCollector|Firewall|\[[^ \n]*\]) (.*)", re.DOTALL)
"""The message may go on over continuation lines (a record of several lines)."""
_DASH_REST = re.compile(rb"(\[[^\]\n]*\])([^\r\n\x00]*)")


@lru_cache(maxsize=4096)
def _g4_header(level: bytes, thread: bytes, prefix: bytes) -> bool:
    """Whether ``_G4_REST`` takes a line with this level, thread and prefix (a log has a
    few dozen distinct headers, each checked once)."""
    return _G4_REST.fullmatch(b"%s %s %s " % (level, thread, prefix)) is not None


@dataclass
class _Rows:
    """Bulk records of a chunk as parallel arrays: first line (0-based in the chunk), byte
    span (the last line's newline excluded), POSIX microseconds, G4 layout (else dash)."""

    lines: Any
    starts: Any
    ends: Any
    micros: Any
    g4: Any
    tags: Any
    """Prefilter tags of the record's candidate lines (:meth:`Prefilter.tagged_lines`)."""

    def taken(self, index: Any) -> _Rows:
        return _Rows(self.lines[index], self.starts[index], self.ends[index],
                     self.micros[index], self.g4[index], self.tags[index])

    def joined(self, other: _Rows) -> _Rows:
        return _Rows(*(np.concatenate((mine, theirs)) for mine, theirs in (
            (self.lines, other.lines), (self.starts, other.starts), (self.ends, other.ends),
            (self.micros, other.micros), (self.g4, other.g4), (self.tags, other.tags))))


class _MultiLine:
    """Records of several lines (a header and its ``[stdout]`` block or traceback) in a
    waagent.log chunk, taken in bulk when they are plain: a G4 header, no line longer than
    the line cap, no more lines or bytes than a record may hold, no CR, NUL or BOM (which the
    line decoder would alter). Their message is then the bytes as they stand."""

    def __init__(self, plan: ChunkPlanner, padded: Any, bounds: Any, size: int,
                 max_line_bytes: int, first_line_cut: bool) -> None:
        self.plan = plan
        self.padded = padded
        self.bounds = bounds
        self.size = size
        self.max_line_bytes = max_line_bytes
        self.first_line_cut = first_line_cut
        limits = plan.owner.matcher.limits
        self.max_lines = limits.max_continuation_lines
        self.max_bytes = limits.max_record_bytes

    def records(self, lines: Any, line_tags: Any, wanted: Any, opening: Any
                ) -> tuple[_Rows, Any] | None:
        """(the bulk-able records holding the ``wanted`` candidate lines, and for each
        candidate the index of its record or -1), or None when there are none. ``opening``:
        which candidate ``lines`` hold a G4 stamp and a level word (known already)."""
        opens, odd = self._line_kinds(lines[opening])
        heads = np.flatnonzero(opens)
        if not len(heads):
            return None
        which = np.searchsorted(heads, lines, side="right") - 1
        which = np.where(wanted & (which >= 0), which, -1)
        chosen = unique_sorted(which[which >= 0])
        if not len(chosen):
            return None
        head_lines = heads[chosen]
        ends_line = self.size > 0 and self.plan.region[self.size - 1] == 10
        real_lines = len(self.bounds) - 1 - ends_line
        after = np.minimum(np.append(heads, real_lines)[chosen + 1], real_lines)
        starts = self.bounds[head_lines] + 1
        ends = self.bounds[after]  # the newline ending the record's last line (or the end)
        flags, micros = line_heads(self.plan.region, starts, self.padded)
        lengths = np.diff(self.bounds) - 1
        longest = np.maximum.reduceat(lengths, heads)[chosen]
        odd_inside = np.logical_or.reduceat(odd, heads)[chosen]
        plain = ((flags & (HEAD_G4 | HEAD_VALID) == HEAD_G4 | HEAD_VALID)
                 & (after - head_lines <= self.max_lines)
                 & (ends - starts <= self.max_bytes) & ~odd_inside
                 & (longest <= self.max_line_bytes))
        if self.first_line_cut:
            plain &= head_lines != 0
        keep = np.flatnonzero(plain)
        record_index = np.full(len(chosen) + 1, -1, dtype=np.int64)
        record_index[keep] = np.arange(len(keep))
        position = np.searchsorted(chosen, np.maximum(which, 0))
        record_of = np.where(which >= 0, record_index[np.minimum(position, len(chosen))], -1)
        rows = _Rows(head_lines[keep], starts[keep], ends[keep], micros[keep],
                     np.ones(len(keep), dtype=bool), np.zeros(len(keep), dtype=np.uint8))
        inside = record_of >= 0
        np.bitwise_or.at(rows.tags, record_of[inside], line_tags[inside])
        return rows, record_of

    def _line_kinds(self, opening: Any) -> tuple[Any, Any]:
        """(lines that open a record, lines the record path would not read as they stand:
        a header the folder and the scanner disagree on). ``opening``: lines known to hold a
        G4 stamp and a level word (candidates, tested already): they open a record, and only
        the other lines are tested here (in a dense log, few)."""
        padded, size = self.padded, self.size
        line_starts = self.bounds[:-1] + 1
        opens = np.zeros(len(line_starts), dtype=bool)
        opens[opening] = True
        rest = np.flatnonzero(~opens)
        flags, _ = line_heads(self.plan.region, np.minimum(line_starts[rest], size), padded)
        opens[rest] = flags & (HEAD_G4 | HEAD_LEVEL) == HEAD_G4 | HEAD_LEVEL
        may_open = np.zeros(len(line_starts), dtype=bool)
        may_open[rest] = has(flags, HEAD_MAY_OPEN)
        odd = np.zeros(len(line_starts), dtype=bool)
        unsure = np.flatnonzero(may_open & ~opens & (line_starts < size))
        region = self.plan.region
        for index in unsure.tolist():
            begin = int(line_starts[index])
            parsed = reads_as_header(region, begin, parse_header, self.max_line_bytes, size)
            started = RECORD_START.match(region, begin, size) is not None
            opens[index] = parsed and started
            odd[index] = parsed != started
        return opens, odd


def _opens_record(region: bytes, begin: int, size: int, cap: int) -> bool:
    """The scanner's record-start test (``RECORD_START`` and the header parser agree) on
    the line at ``begin`` of the chunk's first ``size`` bytes."""
    return (RECORD_START.match(region, begin, size) is not None
            and reads_as_header(region, begin, parse_header, cap, size))


@dataclass
class Planned:
    """What planning one chunk found, a pure function of its bytes and the rule pack (so a
    forked worker can work it out and send it back as arrays)."""

    positions: list[int]
    """Candidate lines left to the record path (byte offsets, ascending)."""
    table: _Rows | None = None
    """The bulk rows."""
    codes: Any = None
    """Each row's distinct-record code."""
    hashes: Any = None
    """Per distinct record: the hash of its message bytes (first sightings)."""
    matched: list[tuple[int, str, Any]] = field(default_factory=list)
    """(query index in :attr:`BulkMatcher.queries`, group, the distinct codes it takes), in
    the order the record path would first meet them."""
    row_by_row: dict[int, tuple[Any, Any]] = field(default_factory=dict)
    """Distinct code -> (facts, event) of the records applied row by row."""
    newlines: int = -1
    """Newlines in the chunk (the reader numbers the next chunk's lines from it)."""

    def resized(self, dtype: Any) -> Planned:
        """The chunk-relative arrays (lines, byte offsets, codes) as ``dtype``: int32 to
        cross the pipe from a worker at half the size, int64 again on arrival."""
        if self.table is None:
            return self
        table = self.table
        return dataclasses.replace(
            self, codes=self.codes.astype(dtype),
            table=_Rows(table.lines.astype(dtype), table.starts.astype(dtype),
                        table.ends.astype(dtype), table.micros, table.g4, table.tags))

    @staticmethod
    def of(owner: BulkMatcher, positions: list[int], table: _Rows, codes: Any,
           distinct: list[Decision]) -> Planned:
        count = len(distinct)
        queries, messages, facts, events = (zip(*distinct, strict=True) if count
                                            else ((), (), (), ()))
        hashes = np.fromiter(map(hash, messages), dtype=np.int64, count=count)
        # Rows with facts or an event: found in C (``map``), read in Python.
        with_parts = (np.fromiter(map(is_not, facts, repeat(None)), dtype=bool, count=count)
                      | np.fromiter(map(is_not, events, repeat(None)), dtype=bool, count=count))
        row_by_row = {code: (facts[code], events[code])
                      for code in np.flatnonzero(with_parts).tolist()}
        # Records routed alike share one query list (BulkMatcher.routes): grouped by it in
        # numpy, the queries are expanded once per list, not once per record.
        list_of = np.fromiter(map(id, queries), dtype=np.int64, count=count)
        by_list = np.argsort(list_of, kind="stable")  # each list's codes together, ascending
        ordered = list_of[by_list]
        group_starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        group_ends = np.append(group_starts[1:], len(ordered))
        # Lists in the order of their first record (a group's first code: the sort is
        # stable), queries in list order: the order in which the record path first meets
        # each (query, group).
        groups = sorted(zip(by_list[group_starts].tolist(), group_starts.tolist(),
                            group_ends.tolist(), strict=True)) if len(list_of) else []
        by_query: dict[tuple[int, str], list[Any]] = {}
        index = owner.query_index
        for first, begin, end in groups:
            if not queries[first]:
                continue  # records no query takes
            taken = by_list[begin:end].astype(np.int32)  # a chunk's distinct codes
            for query, group in queries[first]:
                by_query.setdefault((index[id(query)], group), []).append(taken)
        matched = [(query, group, np.concatenate(parts))
                   for (query, group), parts in by_query.items()]
        return Planned(positions, table, codes, hashes, matched, row_by_row)


class ChunkPlanner:
    """Plans one chunk: which candidate lines the bulk path takes and what each distinct
    record matches. Reads nothing but the chunk and the rule pack.

    ``padded``: ``region`` ends with :data:`PAD_BYTES` zero bytes that are not the chunk's
    (a worker's shared slot holds them after the chunk: the windows past the last line need
    no second 4 MiB copy of the chunk). ``size``: the chunk's length, where ``region`` is
    longer than the chunk and its padding (a worker's whole slot, which a slice reads as
    bytes)."""

    def __init__(self, owner: BulkMatcher, region: Any, member: str, real_version: bool,
                 max_line_bytes: int, padded: bool = False, size: int | None = None) -> None:
        self.owner = owner
        self.size = (size if size is not None
                     else len(region) - PAD_BYTES if padded else len(region))
        self.region = region if padded else region + bytes(PAD_BYTES)
        """The chunk and :data:`PAD_BYTES` zero bytes: offsets past :attr:`size` are
        padding, never read as the chunk's."""
        self.member = member
        self.real_version = real_version
        self._max_line_bytes = max_line_bytes
        self._distinct: list[Decision] = []
        self._read_message = False
        """Set by :meth:`_decide` when a route read the record's message: that decision
        is the record's own, not its digit form's (:meth:`_decisions`)."""
        self._match_set = owner.match_set
        self._routes = owner.route_cache
        self._odd_bytes = self._event_fields = True
        """Whether the chunk may hold bytes the line decoder drops or alters, or event
        fields: each record decided is searched for them unless a scan of the chunk found
        none (:meth:`_scan_markers`)."""

    # -- planning ---------------------------------------------------------------------------

    def plan(self, first_line_cut: bool, prefilter: Any) -> Planned:
        """Every step is an array operation over the chunk's candidate lines, except one
        dictionary lookup per candidate and the decisions per distinct record."""
        size = self.size
        data = np.frombuffer(self.region, dtype=np.uint8)
        newlines = newline_offsets(self.region, size)
        planned = self._planned_rows(first_line_cut, prefilter, data, newlines)
        planned.newlines = len(newlines)
        return planned

    def _planned_rows(self, first_line_cut: bool, prefilter: Any, data: Any, newlines: Any
                      ) -> Planned:
        max_line_bytes = self._max_line_bytes
        size = self.size
        # ``padded[i]`` is the window of bytes from offset i: a row gather, no index matrix.
        padded = np.lib.stride_tricks.sliding_window_view(data, WINDOW)
        lines, line_tags = prefilter.tagged_lines(self.region, newlines, probe_density=True,
                                                  size=size)
        if not len(lines):
            return Planned([])
        bounds = np.concatenate(([-1], newlines, [size]))
        starts = bounds[lines] + 1
        ends = bounds[lines + 1]
        flags, micros = line_heads(self.region, starts, padded)
        g4 = has(flags, HEAD_G4)
        # A backup-extension stamp is the VM's local time (``--vm-timezone``): taken in bulk,
        # as UTC, only when that zone is UTC; else the record path converts it.
        dash = has(flags, HEAD_DASH) if local_zone() is UTC else np.zeros(len(lines), bool)
        shaped = (g4 | dash) & (ends - starts <= max_line_bytes)
        if first_line_cut:
            shaped &= starts != 0
        g4_level = flags & (HEAD_G4 | HEAD_LEVEL) == HEAD_G4 | HEAD_LEVEL
        stamped = g4_level | dash
        one_line = self._one_line(padded, ends, size, lines, stamped)
        usable = shaped & one_line & has(flags, HEAD_VALID)
        rows = np.flatnonzero(usable)
        row_of = np.full(len(lines), -1, dtype=np.int64)  # candidate -> its row in ``table``
        row_of[rows] = np.arange(len(rows))
        table = _Rows(lines[rows], starts[rows], ends[rows], micros[rows], g4[rows],
                      line_tags[rows])
        if self.owner.kind == "waagent_log" and not usable.all():
            records = _MultiLine(self, padded, bounds, size, max_line_bytes,
                                 first_line_cut).records(lines, line_tags, ~usable, g4_level)
            if records is not None:
                heads, record_of = records
                row_of = np.where(record_of >= 0, record_of + len(rows), row_of)
                table = table.joined(heads)
        if not len(table.lines):
            return Planned(starts.tolist())
        order = np.argsort(table.lines, kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        table = table.taken(order)
        row_of = np.where(row_of >= 0, rank[np.maximum(row_of, 0)], -1)
        codes = self._codes(table, prefilter)
        known = np.fromiter(map(is_not, self._distinct, repeat(RECORD_PATH)), dtype=bool,
                            count=len(self._distinct))
        row_known = known[codes]
        handled = (row_of >= 0) & row_known[np.maximum(row_of, 0)]
        positions = starts[~handled].tolist()
        taken = np.flatnonzero(row_known)
        if not len(taken):
            return Planned(positions)
        return Planned.of(self.owner, positions, table.taken(taken), codes[taken],
                          self._distinct)

    def _one_line(self, padded: Any, ends: Any, size: int, lines: Any, stamped: Any) -> Any:
        """Candidates whose next line opens a record (or who end the chunk): ``RECORD_START``
        decided by array tests where the line is a common header or surely none, by the
        regex for the rest. In a dense log the next line is mostly a candidate too, whose
        window and stamp (``stamped``: a G4 stamp and level word, or a whole dash stamp)
        are known already."""
        next_starts = ends + 1
        inside = next_starts < size
        opens = np.zeros(len(ends), dtype=bool)
        # Candidates are in line order: the next line is a candidate when it is the next row.
        known = np.flatnonzero(lines[1:] == lines[:-1] + 1)
        opens[known] = stamped[known + 1]
        rest = np.flatnonzero(~opens)
        opens[rest] = self._opens_ahead(padded, next_starts[rest], inside[rest], size)
        return ~inside | opens

    def _opens_ahead(self, padded: Any, next_starts: Any, inside: Any, size: int) -> Any:
        """Whether each line starting at ``next_starts`` opens a record."""
        flags, _ = line_heads(self.region, np.minimum(next_starts, size), padded)
        opens = ((flags & (HEAD_G4 | HEAD_LEVEL) == HEAD_G4 | HEAD_LEVEL)
                 | has(flags, HEAD_DASH_SPACE | HEAD_SLASH_SPACE))
        unsure = np.flatnonzero(inside & ~opens & has(flags, HEAD_MAY_OPEN))
        if len(unsure):
            opens[unsure] = [_opens_record(self.region, at, size, self._max_line_bytes)
                             for at in next_starts[unsure].tolist()]
        return opens

    def _codes(self, table: _Rows, prefilter: Any) -> Any:
        """The distinct-record code of each row (new records decided on first sight)."""
        region = self.region
        rest_at = np.where(table.g4, G4_REST_AT, DASH_REST_AT) + table.starts
        codes, firsts, tags_of = distinct_ranges(region, rest_at, table.ends, table.tags)
        starts, ends = rest_at[firsts], table.ends[firsts]
        # Slicing in C over the distinct records only: the header-less bytes each is decided on.
        records = list(map(region.__getitem__, map(slice, starts.tolist(), ends.tolist())))
        known = self.owner.known_records(self.member, self.real_version)
        if not known.worthwhile():
            self._distinct = self._decisions(prefilter, records, tags_of, starts, ends)
            known.passed(len(records))
            return codes
        keys = list(zip(records, tags_of.tolist(), strict=True))
        distinct = known.lookup(keys)
        unknown = np.flatnonzero(np.fromiter(map(is_, distinct, repeat(_UNKNOWN)), dtype=bool,
                                             count=len(distinct)))
        if len(unknown):
            new = unknown.tolist()
            decided = self._decisions(prefilter, [records[index] for index in new],
                                      tags_of[unknown], starts[unknown], ends[unknown])
            for index, found in zip(new, decided, strict=True):
                distinct[index] = found
                known.keep(keys[index], found)
        known.tally(len(distinct), len(distinct) - len(unknown))
        self._distinct = distinct
        return codes

    def _decisions(self, prefilter: Any, records: list[bytes], tags: Any, starts: Any,
                   ends: Any) -> list[Decision]:
        """:meth:`_decide` on each record, once per digit form where that is its answer: a
        G4 record whose lines hold a rule literal and no literal of an event or of a rule
        pattern that reads digits (tags exactly ``QUERY_TAG``, or with ``FACT_TAG``) is
        decided as every record with its header and its message once each digit is read as
        ``0``; a fact's parts are read from each record's own message (:meth:`_own_facts`).
        No pattern of the set that could match it holds a digit (:func:`reads_digits`), and a
        pattern without one accepts every ASCII digit or none at each step (classes, ``.``,
        ``\\w``, ``\\b``), so it matches both or neither; header filters read the header as it is,
        and a form whose route reads the message (``exclude``, ``where``, captures) is
        decided record by record. The durations and counters of a verbose log's markers make
        most of its distinct records (``ProcessExtensionsGoalState completed
        [incarnation_12 345 ms]``: 65,000 of the marker-heavy mix's 200,000 decisions).

        So is a record of a dense chunk that holds no literal at all (no tag): nothing but
        its header and bytes no digit can be (``\r``, NUL, a byte-order mark, the event
        field) decide it. A failing VM's telemetry tracebacks and CPU lines, distinct only
        by their numbers, were 10,200 of the hit-heavy mix's 13,800 decisions."""
        self._scan_markers(len(records))
        unscanned = np.flatnonzero(tags == ALL_TAGS)
        if len(unscanned):  # a dense chunk's records: tagged by their own literals
            scanned = prefilter.record_tags([records[index] for index in unscanned])
            if scanned is not None:
                tags = tags.copy()
                tags[unscanned] = scanned
        tag_list = tags.tolist()
        found = (digit_forms(self.region, starts, ends, tags, _FORM_TAGS)
                 if len(records) > 1 else None)
        if found is None:
            return list(map(self._decide, records, tag_list))
        forms, message_at = found
        # Only forms of two records or more are worth a shared decision; of those, the
        # first record (forms are numbered in order of first sight: its number is above every
        # number before it) is decided, the others follow it.
        in_form = forms >= 0
        repeated = in_form & (np.bincount(forms[in_form], minlength=1)[np.maximum(forms, 0)] > 1)
        seen = np.maximum.accumulate(forms)
        leads = repeated & (forms > np.concatenate(([-1], seen[:-1])))
        follows = np.flatnonzero(repeated & ~leads)
        if not len(follows):
            return list(map(self._decide, records, tag_list))
        decided: list[Any] = [None] * len(records)
        alone = np.flatnonzero(~repeated).tolist()
        _put(decided, alone, map(self._decide, [records[index] for index in alone],
                                 [tag_list[index] for index in alone]))
        shares: dict[int, Any] = {}
        leaders = np.flatnonzero(leads)
        for index, form in zip(leaders.tolist(), forms[leaders].tolist(), strict=True):
            self._read_message = False
            decision = self._decide(records[index], tag_list[index])
            decided[index] = decision
            shares[form] = (_BY_RECORD if self._read_message
                            else RECORD_PATH if decision is RECORD_PATH else decision[0])
        shared = list(map(shares.__getitem__, forms[follows].tolist()))
        messages = map(self.region.__getitem__, map(
            slice, (starts[follows] + message_at[follows]).tolist(), ends[follows].tolist()))
        followers: list[Any] = list(zip(shared, messages, repeat(None), repeat(None)))
        self._own_facts(followers, follows, tags, records)
        # A form whose leader took the record path sends its records there too; one whose
        # route read the leader's message decides each record.
        odd = np.flatnonzero(np.fromiter(map(is_, shared, repeat(RECORD_PATH)), dtype=bool,
                                         count=len(shared))
                             | np.fromiter(map(is_, shared, repeat(_BY_RECORD)), dtype=bool,
                                           count=len(shared)))
        for at in odd.tolist():
            index = int(follows[at])
            followers[at] = (RECORD_PATH if shared[at] is RECORD_PATH
                             else self._decide(records[index], tag_list[index]))
        _put(decided, follows.tolist(), followers)
        return decided

    def _own_facts(self, followers: list[Any], follows: Any, tags: Any,
                   records: list[bytes]) -> None:
        """Each follower (``followers[at]`` is record ``follows[at]``) with a fact literal
        gets the fact parts of its own message: a heartbeat's counter and its agent version
        are both digits, so the records of a form share their queries but not their versions
        (the marker-heavy mix: 50,000 heartbeats decided one by one, each a pattern-set match
        and a route look-up)."""
        for at in np.flatnonzero(tags[follows] & FACT_TAG).tolist():
            queries, message, _, _ = followers[at]
            prefix = records[follows[at]].split(b" ", 3)[2]  # a digit form is a G4 record's
            followers[at] = (queries, message, self._fact_parts(message, prefix), None)

    def _scan_markers(self, deciding: int) -> None:
        """A chunk with many records to decide (a verbose log's) is scanned once for the
        markers, and its records are searched only when it holds some; a dense chunk's few
        records are searched each (hit-heavy: ~150 a chunk, where the scan cost 0.9 ms)."""
        if deciding >= _SCAN_MARKERS_FROM:
            present = _chunk_markers().present(memoryview(self.region)[:self.size])
            self._odd_bytes = bool(present & _ODD_BYTE_MARKS)
            self._event_fields = bool(present & _EVENT_FIELD_MARK)

    def _decide(self, rest: bytes, tags: int) -> Decision:
        """The queries a distinct line matches (those its filters and ``exclude`` accept),
        its facts and event, or :data:`RECORD_PATH` when it must take the record path."""
        if rest.startswith(b"["):
            found = _DASH_REST.fullmatch(rest)
            if found is None:
                return RECORD_PATH
            prefix, message = found.groups()
            level = thread = b""
            if b"  " in message[:_WORD_LEVEL_WINDOW]:
                return RECORD_PATH
            header_checked = True
        else:
            parts = rest.split(b" ", 3)
            if len(parts) < 4:
                return RECORD_PATH
            level, thread, prefix, message = parts
            if self._odd_bytes and (b"\r" in message or b"\x00" in message
                                    or _BOM_LINE in message):
                return RECORD_PATH  # bytes the line decoder drops or alters: the record path
            # ``_G4_REST`` splits at the first three spaces (level, thread and prefix hold
            # none), so the split gives its groups when the regex takes the header: checked
            # once per header, by the look-up of its routes when it has any.
            header_checked = False
        if self._event_fields and _EVENT_FIELD in message:
            return RECORD_PATH
        queries: Any = _NO_QUERIES
        if tags & QUERY_TAG:
            ids = tuple(self._match_set(message))
            routes = self._routes.get((ids, level, thread, prefix, header_checked), _UNKNOWN)
            if routes is _UNKNOWN:
                routes = self.owner.routes(ids, level, thread, prefix, header_checked)
            if routes is None:
                return RECORD_PATH
            fixed, per_message = routes
            if per_message:
                self._read_message = True
                taken = self._per_message(per_message, _decoded(message), (level, thread, prefix))
                queries = (self.owner.joined(fixed, taken)
                           if self.owner.reads_extension_only(per_message)
                           else self.owner.joined_alike(fixed, taken))
            else:
                queries = fixed
        elif not header_checked and not _g4_header(level, thread, prefix):
            return RECORD_PATH
        # A record holds agent facts only where one of the fact patterns' literals stands.
        return (queries, message,
                self._fact_parts(message, prefix) if tags & FACT_TAG else None,
                self._event(_decoded(message)) if tags & EVENT_TAG else None)

    def _per_message(self, candidates: list[LogQuery], decoded: str,
                     head: tuple[bytes, bytes, bytes]) -> list[tuple[LogQuery, str]]:
        """The queries whose ``exclude``, extension filters, ``where`` or group read the
        record's (redacted) message: decided on it, as the record path decides. Filters,
        ``where`` and groups on a one-line record's own fields read nothing of the message
        but the extension it is about, so their answer is kept per (query, header,
        extension, member)."""
        owner = self.owner
        extension: str | None = None
        whole_list_kept = owner.reads_extension_only(candidates)
        if whole_list_kept:
            # Every answer is kept per (query, header, extension, member): so is the list.
            extension = owner.extension_without_view(head[2], decoded)
            if extension is not None:
                kept = owner.per_message_lists.get((id(candidates), head, extension, self.member))
                if kept is not None and kept[0] is candidates:
                    return kept[1]
        text = redact_text(decoded)
        view = _view(owner, head, text, self.member)
        if whole_list_kept:
            extension = extension_of(view)  # type: ignore[arg-type]
        decisions = owner.decisions
        taken: list[tuple[LogQuery, str]] = []
        excluded: dict[int, bool] = {}
        """Excluder -> whether it matches this message: rules of one cause share theirs
        (one compiled object per pattern text), so each is searched once."""
        data: bytes | None = None
        for query in candidates:
            if query.excluders:
                if data is None:
                    data = text.encode("utf-8", "surrogateescape")
                if _any_excludes(query.excluders, data, excluded):
                    continue
            if query.has_captures:  # its group may be a capture: decided on this message
                if query.accepts(view):  # type: ignore[arg-type]
                    self._take(query, view, taken)
                continue
            if extension is None:
                extension = extension_of(view)  # type: ignore[arg-type]
            key = (id(query), head, extension, self.member)
            decided = decisions.get(key)
            if decided is None:
                if len(decisions) > _MAX_ROUTES:
                    decisions.clear()
                decided = decisions[key] = self._decided(query, view)
            if decided[0]:
                taken.append((query, decided[1]))
        if whole_list_kept:
            lists = owner.per_message_lists
            if len(lists) > _MAX_ROUTES:
                lists.clear()
            lists[(id(candidates), head, extension, self.member)] = (candidates, taken)
        return taken

    @staticmethod
    def _decided(query: LogQuery, view: _HeaderView) -> tuple[bool, str]:
        """(taken, group) of a query without captures, on a record's header view."""
        if not query.accepts(view):  # type: ignore[arg-type]
            return False, ""
        return True, group_key(query, view, {})  # type: ignore[arg-type]

    @staticmethod
    def _take(query: LogQuery, view: _HeaderView, taken: list[tuple[LogQuery, str]]) -> None:
        if not query.group_by:
            taken.append((query, ""))
            return
        captures = query.match(view)  # type: ignore[arg-type]
        if captures is not None:
            taken.append((query, group_key(query, view, captures)))  # type: ignore[arg-type]

    def _fact_parts(self, message: bytes, prefix: bytes
                    ) -> tuple[dict[str, str], str, str, str] | None:
        if self.owner.kind != "waagent_log":
            return None
        extension, version = self.owner.prefix_extension(prefix)
        # What :meth:`LogFacts.rows` keeps: a handler state where the prefix names the
        # extension, or version fields.
        handler_state = bool(extension) and _HANDLER_STATE in message
        heartbeat = None if handler_state else heartbeat_agent_version(message)
        if heartbeat is not None:
            return self.owner.shared_parts(({"goal_state_agent_version": heartbeat},
                                            extension, version if self.real_version else "",
                                            ""))
        if not (handler_state or may_hold_version_fields(message)):
            return None
        decoded = _decoded(message)
        fields = version_fields(decoded)
        if not fields and not handler_state:
            return None
        # Only a handler state's message is read again (LogFacts.would_add). Equal parts are
        # one object: a plan sends it once, and the reader skips a row whose parts are those
        # of the row before it (BulkPlan._flush_facts).
        parts = (fields, extension, version if self.real_version else "",
                 decoded if handler_state else "")
        return self.owner.shared_parts(parts)

    def _event(self, decoded: str) -> tuple[str, str] | None:
        kind = self.owner.context.facts.event_kind(decoded)
        return None if kind is None else (kind, event_label(decoded))


class BulkPlan:
    """One chunk: ``positions`` are the candidate lines the record path must take (byte
    offsets, ascending); every other candidate was matched here and is applied by ``flush``."""

    def __init__(self, owner: BulkMatcher, region: bytes, line_base: int, member: str,
                 real_version: bool, planned: Planned) -> None:
        self.owner = owner
        self.region = region
        self.member = member
        self.real_version = real_version
        self.positions = planned.positions
        self.newlines = planned.newlines
        self._pending: dict[tuple[int, str], _Pending] = {}
        self._by_key: dict[tuple[str, str], list[_Pending]] = {}
        self._cursor = 0
        """The line the record path is on: bulk matches before it may be applied."""
        self._next_fact_line = sys.maxsize
        """The earliest line a pending fact or event is on."""
        self._facts: Any = np.zeros(0, dtype=np.int64)
        self._fact_lists: tuple[Any, list[int], list[int], list[int], list[int]] = (
            self._facts, [], [], [], [])
        self._facts_done = 0
        self._row_by_row = planned.row_by_row
        self._events_counted = False
        if planned.table is not None:
            self._match(planned, line_base)

    def _match(self, planned: Planned, line_base: int) -> None:
        """Hands the bulk rows' matches to the pending lists (per query, in line order)."""
        context = self.owner.context
        codes = planned.codes
        assert planned.table is not None
        first = context.first_sightings(planned.table.micros, planned.hashes[codes],
                                        self.member)
        table = planned.table
        if not first.all():  # repeats of an earlier rotated file's records are left out
            table = table.taken(np.flatnonzero(first))
            codes = codes[first]
        self.rows_start = table.starts
        self.rows_end = table.ends
        self.rows_line = table.lines + line_base
        self.rows_micros = table.micros
        self.rows_time = self.rows_micros / 1e6
        self.rows_code = codes
        count = len(planned.hashes)
        queries = self.owner.queries
        for index, group, members in planned.matched:
            matched = np.zeros(count, dtype=bool)
            matched[members] = True
            chosen = np.flatnonzero(matched[codes])
            if len(chosen):
                query = queries[index]
                self._pending[(id(query), group)] = _Pending(query, chosen,
                                                             self.rows_line[chosen], group)
        facts = np.zeros(count, dtype=bool)
        facts[list(planned.row_by_row)] = True
        self._facts = np.flatnonzero(facts[codes])
        if len(self._facts):
            self._next_fact_line = int(self.rows_line[self._facts[0]])
        for pending in self._pending.values():
            self._by_key.setdefault((pending.query.rule_id, pending.query.check),
                                    []).append(pending)
        if self._pending:
            self.owner.matcher.store.before_write = self._before_write

    # -- applying ---------------------------------------------------------------------------

    def flush(self, before_line: int) -> None:
        """The record path is about to take line ``before_line`` (``sys.maxsize``: the chunk
        is done). Facts and events of earlier bulk lines are applied now (they share state
        across checks); a check's bulk matches wait until the record path writes to that
        check (:attr:`MatchStore.before_write`) or the chunk ends, so each store still sees
        its records in line order."""
        self._cursor = before_line
        if before_line == sys.maxsize:
            for pending in self._pending.values():
                self._apply_upto(pending, before_line)
            self._pending.clear()
            store = self.owner.matcher.store
            if store.before_write == self._before_write:
                store.before_write = None
        if before_line > self._next_fact_line:
            self._next_fact_line = self._flush_facts(before_line)

    def _before_write(self, key: tuple[str, str]) -> None:
        for pending in self._by_key.get(key, ()):
            self._apply_upto(pending, self._cursor)

    def _apply_upto(self, pending: _Pending, before_line: int) -> None:
        cut = int(np.searchsorted(pending.lines, before_line))
        if cut > pending.done:
            store = self.owner.matcher.store
            hook, store.before_write = store.before_write, None
            try:
                self._apply(pending, pending.done, cut)
            finally:
                store.before_write = hook
            pending.done = cut

    def _lines(self, rows: Any) -> array:
        lines = array("q")
        lines.frombytes(self.rows_line[rows].astype(np.int64).tobytes())
        return lines

    def _captures(self, query: LogQuery, row: int) -> dict[str, str]:
        """What the query captures on a bulk row (the record path's ``query.match``)."""
        if not query.has_captures:
            return {}
        return self._raw(row, query.pattern).resolve().captures

    def _raw(self, row: int, capture_pattern: str) -> RawHit:
        return RawHit(self.region[int(self.rows_start[row]):int(self.rows_end[row])],
                      self.member, self.owner.kind, int(self.rows_line[row]),
                      self.real_version, capture_pattern=capture_pattern)

    def _apply(self, pending: _Pending, begin: int, end: int) -> None:
        query = pending.query
        rows = pending.rows[begin:end]
        times = array("d")
        times.frombytes(self.rows_time[rows].tobytes())
        key = (query.rule_id, query.check)
        store = self.owner.matcher.store
        captures = query.pattern if query.has_captures else ""
        if query.role in _END_ROLES:
            store.sequence(key).add_ends_bulk(times, pending.group)
        elif query.role in NEIGHBOUR_ROLES:
            store.neighbour(key).add_bulk(
                times, self.member, self._lines(rows),
                lambda index: self._captures(query, int(rows[index])))
        elif query.role == "start":
            store.sequence(key).add_starts_bulk(
                times, self._lines(rows), lambda index: self._raw(int(rows[index]), captures))
        else:
            chosen = (rows.tolist() if len(rows) <= SAMPLE_HEAD + SAMPLE_TAIL
                      else rows[:SAMPLE_HEAD].tolist() + rows[-SAMPLE_TAIL:].tolist())
            accumulator = store.accumulators.get(key)
            if accumulator is None:
                accumulator = store.accumulators[key] = store.new_accumulator(key)
            accumulator.add_bulk(times, [self._raw(row, captures) for row in chosen])

    def _flush_facts(self, before_line: int) -> int:
        """Agent facts and events of the bulk lines before ``before_line``, in line order;
        returns the line of the next one left (a huge number: none)."""
        context = self.owner.context
        last_facts: Any = None
        if context.events_full():
            self._drop_remaining_events()
        rows, lines, codes, micros = self._fact_rows()
        row_by_row = self._row_by_row
        start = self._facts_done
        stop = bisect_left(lines, before_line, start)
        self._facts_done = stop
        # Events go to the timeline in one call (its cap keeps the first and counts the
        # rest, as one call per event did): a verbose log's 10,000 handler commands cost
        # ~7 µs each one by one, most of it the call and the cap check.
        events: list[LogEvent] = []
        for at in range(start, stop):
            found, event = row_by_row[codes[at]]
            if found is not None and found is not last_facts:
                # The same parts again (shared: BulkMatcher.shared_parts), with no record-path
                # record in between, add no fact: the row before left the facts they hold.
                last_facts = found
                if context.facts.would_add(*found):
                    # A new value: the record is built, as the record path would have.
                    context.add_facts(self._raw(rows[at], "").resolve().record)
            if event is not None:
                kind, label = event
                events.append(LogEvent(from_micros(micros[at]), kind, label))
        if events:
            context.add_events(events)
        return lines[stop] if stop < len(lines) else sys.maxsize

    def _fact_rows(self) -> tuple[list[int], list[int], list[int], list[int]]:
        """The rows that may add a fact or an event, with their lines, codes and times, as
        Python lists (a numpy element read costs ~0.1 us; a verbose log has ~60,000 such
        rows), worked out again when :meth:`_drop_remaining_events` replaced them."""
        facts = self._facts
        if self._fact_lists[0] is not facts:
            self._fact_lists = (facts, facts.tolist(), self.rows_line[facts].tolist(),
                                self.rows_code[facts].tolist(),
                                self.rows_micros[facts].tolist())
        return self._fact_lists[1:]

    def _drop_remaining_events(self) -> None:
        """The timeline is full, and stays full: the events of the chunk's remaining rows
        are counted in one step, and only the rows that may add a fact stay for the loop
        (facts still go in line order)."""
        if self._events_counted:
            return
        self._events_counted = True
        facts = self._facts
        done = self._facts_done
        row_by_row = self._row_by_row
        if not any(event is not None for _, event in row_by_row.values()):
            return
        segment = facts[done:]
        unique, inverse = np.unique(self.rows_code[segment], return_inverse=True)
        parts = [row_by_row[code] for code in unique.tolist()]
        events = np.asarray([event is not None for _, event in parts], dtype=bool)
        with_facts = np.asarray([found is not None for found, _ in parts], dtype=bool)
        self.owner.context.drop_events(int(events[inverse].sum()))
        self._facts = np.concatenate((facts[:done], segment[with_facts[inverse]]))
        self._row_by_row = {code: (found, None) for code, (found, _) in row_by_row.items()}


def _decoded(message: bytes) -> str:
    """A message's text (decoded only for what reads it as text: most records that match
    only queries of fixed routes never are)."""
    return message.decode("utf-8", "surrogateescape")


def _view(owner: BulkMatcher, head: tuple[bytes, bytes, bytes], message: str = "",
          member: str = "") -> _HeaderView:
    level, thread, prefix = (part.decode("utf-8", "surrogateescape") for part in head)
    return _HeaderView(level, thread, prefix, owner.prefix_extension(head[2])[0], message,
                       member)




