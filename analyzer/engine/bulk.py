"""Matching in bulk: one-line records that only feed counters and sequence ends cost no record.

The scanner's prefilter finds candidate lines in a chunk. Most of them, in a verbose or failing
agent log, are one-line records that only add to a count, a time series or a sequence end
(heartbeats, ``ProcessExtensionsGoalState completed``, the same WireServer failure every few
seconds). For those, nothing needs a parsed :class:`Record`:

* the header is checked by one small bytes regex (only the common G4 agent layout and the
  backup extension's ``date time [prefix]message`` layout; anything else takes the record path);
* every *distinct* message of the chunk goes once through the kind's RE2 pattern set, so a
  message repeated ten thousand times is matched once;
* timestamps are parsed in one numpy pass over the chunk's stamps;
* counts, times, sequence starts and ends go to the match store as arrays, and only the few
  lines kept as evidence are parsed, when they are shown (:class:`RawHit`).

A line takes the record path instead (:class:`~analyzer.parse.logscan.LogScanner`) when it is
part of a multi-line record, has an unusual header or timestamp, matches an event pattern,
carries a structured event, or matches a query that filters on ``where`` or groups by a field.
Records of the two paths are applied in line order (:meth:`BulkPlan.flush` runs before each
record-path record), so samples, sequence caps and agent facts come out exactly as if every
line had been taken one by one.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from analyzer.engine.matching import Accumulator, LogQuery, RawHit, RecordMatcher
from analyzer.parse.log_facts import LogEvent, LogFacts, event_label
from analyzer.parse.records import Record
from analyzer.parse.timeutil import FIRST_YEAR, LAST_YEAR, local_zone
from analyzer.parse.waagent_log import (
    RECORD_START,
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
_STAMP_BYTES = 26
_WORD_LEVEL_WINDOW = 160
"""Bytes that surely hold the 40 characters in which parse_header looks for ``  Info  ``."""
_EVENT_FIELD = b"Event: name="
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

SAMPLE_HEAD = 4
SAMPLE_TAIL = 3


_HEADER_FILTER = 1
"""The query filters on level, thread or prefix: decided per distinct header."""
_MESSAGE_FILTER = 2
"""The query filters on the extension a record is about (``extensions``, ``emitted_by``):
without a ``[Name-Version]`` prefix that comes from handler paths in the message, so it is
decided per distinct (header, message)."""


def _filtered(query: LogQuery) -> int:
    wanted = query.filter
    if wanted.extensions or wanted.exclude_extensions or wanted.emitted_by:
        return _MESSAGE_FILTER
    return _HEADER_FILTER if (wanted.levels or wanted.threads or wanted.prefixes) else 0


def bulk_capable(query: LogQuery) -> bool:
    """A query whose matches the bulk path can record: no ``where`` and no grouping (both
    read structured fields of the parsed record). ``exclude`` and the extension filters
    are decided on the message, which for a one-line record is the whole record, once per
    distinct message (:meth:`BulkPlan._queries_for`)."""
    return (not query.group_by and not query.where
            and query.role in ("hit", "start", "then"))


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


@dataclass
class BulkContext:
    """What the bulk path needs from the scan state."""

    first_sightings: Callable[[list[float], list[bytes], str], list[bool]]
    """(timestamps, message bytes, member) -> False for each record another member held."""
    facts: LogFacts
    add_facts: Callable[[Record], None]
    add_event: Callable[[LogEvent], None]


def days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (vectorised; H. Hinnant's method)."""
    year = year - (month <= 2)
    era = np.floor_divide(year, 400)
    year_of_era = year - era * 400
    day_of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def parse_stamps(stamps: bytes) -> tuple[np.ndarray, np.ndarray]:
    """``YYYY-MM-DD?HH:MM:SS.ffffff`` stamps (26 bytes each, concatenated) -> (POSIX
    microseconds, valid). ``micros / 1e6`` equals ``datetime(..., tzinfo=UTC).timestamp()``
    to the bit (both are the correctly rounded quotient); a stamp that
    parse_header would reject (year outside FIRST_YEAR..LAST_YEAR, 30 February) is not valid.
    """
    raw = np.frombuffer(stamps, dtype=np.uint8).reshape(-1, _STAMP_BYTES).astype(np.int64) - 48

    def number(start: int, width: int) -> np.ndarray:
        value = np.zeros(len(raw), dtype=np.int64)
        for column in range(start, start + width):
            value = value * 10 + raw[:, column]
        return value

    year, month, day = number(0, 4), number(5, 2), number(8, 2)
    hour, minute, second, micro = number(11, 2), number(14, 2), number(17, 2), number(20, 6)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_days = _MONTH_DAYS[np.clip(month, 0, 12)] + ((month == 2) & leap)
    valid = ((year >= FIRST_YEAR) & (year <= LAST_YEAR) & (month >= 1) & (month <= 12)
             & (day >= 1) & (day <= month_days) & (hour < 24) & (minute < 60) & (second < 60))
    days = days_from_civil(year, month, day)
    micros = ((days * 86400 + hour * 3600 + minute * 60 + second) * 1_000_000 + micro)
    return micros, valid


@dataclass
class _Pending:
    """Bulk matches of one query in the current chunk, in line order."""

    query: LogQuery
    rows: list[int] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    done: int = 0


class BulkMatcher:
    """Per source kind: plans each chunk, then applies the bulk matches in line order."""

    def __init__(self, matcher: RecordMatcher, kind: str, context: BulkContext) -> None:
        self.matcher = matcher
        self.kind = kind
        self.context = context
        self.pattern_set, groups = matcher._pattern_set(kind)
        self.queries_of_pattern: list[list[LogQuery]] = groups
        self.bulk_pattern = [all(bulk_capable(q) for q in group) for group in groups]
        self.filtered = {id(q): _filtered(q) for group in groups for q in group}

    def plan(self, region: bytes, line_base: int, member: str, real_version: bool,
             first_line_cut: bool, prefilter: Any, max_line_bytes: int) -> BulkPlan | None:
        if self.pattern_set is None or prefilter is None:
            return None
        return BulkPlan(self, region, line_base, member, real_version, first_line_cut,
                        prefilter, max_line_bytes)


class BulkPlan:
    """One chunk: ``positions`` are the candidate lines the record path must take (byte
    offsets, ascending); every other candidate was matched here and is applied by ``flush``."""

    def __init__(self, owner: BulkMatcher, region: bytes, line_base: int, member: str,
                 real_version: bool, first_line_cut: bool, prefilter: Any,
                 max_line_bytes: int) -> None:
        self.owner = owner
        self.region = region
        self.member = member
        self.real_version = real_version
        self.positions: list[int] = []
        self._pending: dict[int, _Pending] = {}
        self._facts: list[int] = []
        self._facts_done = 0
        self._events: dict[bytes, tuple[str | None, str]] = {}
        """Event kind and label of each distinct message of the chunk."""
        self._classify(line_base, first_line_cut, prefilter, max_line_bytes)

    # -- planning ---------------------------------------------------------------------------

    def _classify(self, line_base: int, first_line_cut: bool, prefilter: Any,
                  max_line_bytes: int) -> None:
        region = self.region
        dash_ok = local_zone() is UTC
        dash_first = False
        starts: list[int] = []
        ends: list[int] = []
        stamps: list[bytes] = []
        messages: list[bytes] = []
        heads: list[tuple[bytes, bytes, bytes]] = []
        old = self.positions
        size = len(region)
        position = 0
        next_hit = prefilter.next_hit
        record_start = RECORD_START.match
        while True:
            hit = next_hit(region, position)
            if hit < 0 or hit >= size:
                break
            start = region.rfind(b"\n", 0, hit) + 1
            end = region.find(b"\n", hit)
            if end < 0:
                end = size
            position = end + 1
            if end + 1 < size and record_start(region, end + 1) is None:
                old.append(start)  # a record of several lines: the record path folds it
                continue
            if end - start > max_line_bytes or (start == 0 and first_line_cut):
                old.append(start)
                continue
            # No line matches both layouts (``T`` vs a space after the date), so the one
            # that matched the previous candidate is tried first: a member is one or the other.
            match = _DASH.fullmatch(region, start, end) if dash_first else None
            if match is None:
                match = _G4.fullmatch(region, start, end)
            if match is not None and match.re is _G4:
                stamp, level, thread, prefix, message = match.groups()
                dash_first = False
            else:
                if match is None and dash_ok and not dash_first:
                    match = _DASH.fullmatch(region, start, end)
                if match is None:
                    old.append(start)
                    continue
                dash_first = True
                stamp, prefix, message = match.groups()
                level = thread = b""
                if b"  " in message[:_WORD_LEVEL_WINDOW]:
                    old.append(start)
                    continue
            if _EVENT_FIELD in message:
                old.append(start)
                continue
            starts.append(start)
            ends.append(end)
            stamps.append(stamp)
            messages.append(message)
            heads.append((level, thread, prefix))
        if not starts:
            return
        self._match(line_base, starts, ends, stamps, messages, heads, old)
        old.sort()

    def _match(self, line_base: int, starts: list[int], ends: list[int], stamps: list[bytes],
               messages: list[bytes], heads: list[tuple[bytes, bytes, bytes]],
               old: list[int]) -> None:
        owner, region = self.owner, self.region
        context = owner.context
        micros, valid = parse_stamps(b"".join(stamps))
        times = micros / 1e6
        self.rows_micros = micros.tolist()
        newline_offsets = np.flatnonzero(np.frombuffer(region, dtype=np.uint8) == 10)
        line_numbers = (np.searchsorted(newline_offsets, np.asarray(starts, dtype=np.int64))
                        + line_base).tolist()
        time_list = times.tolist()
        valid_list = valid.tolist()
        distinct: dict[bytes, tuple[list[LogQuery], bool, str | None, str] | None] = {}
        filtered = owner.filtered
        match_set = owner.pattern_set.Match  # type: ignore[union-attr]
        views: dict[tuple[bytes, bytes, bytes], _HeaderView] = {}
        accepted: dict[tuple[Any, ...], bool] = {}
        self.rows_start, self.rows_end = starts, ends
        self.rows_line, self.rows_time = line_numbers, time_list
        self.rows_message = messages
        self.rows_prefix = [head[2] for head in heads]
        member = self.member
        taken: list[int] = []
        for row, message in enumerate(messages):
            if not valid_list[row]:
                old.append(starts[row])
                continue
            if message in distinct:
                known = distinct[message]
            else:
                known = self._queries_for(message, match_set)
                distinct[message] = known
            if known is None:
                old.append(starts[row])
                continue
            taken.append(row)
        firsts = context.first_sightings([time_list[row] for row in taken],
                                         [messages[row] for row in taken], member)
        for row, first in zip(taken, firsts, strict=True):
            if not first:
                continue  # the same record in an earlier member: counted there
            message = messages[row]
            known = distinct[message]
            assert known is not None
            queries, facts, event, text = known
            if facts or event:
                self._facts.append(row)
            head = heads[row]
            for query in queries:
                how = filtered[id(query)]
                if how:
                    key: tuple[Any, ...] = ((id(query), head) if how == _HEADER_FILTER
                                            else (id(query), head, message))
                    ok = accepted.get(key)
                    if ok is None:
                        if how == _HEADER_FILTER:
                            view = views.get(head)
                            if view is None:
                                view = views[head] = _view(head)
                        else:
                            view = _view(head, text, member)
                        ok = accepted[key] = query.accepts(view)  # type: ignore[arg-type]
                    if not ok:
                        continue
                pending = self._pending.get(id(query))
                if pending is None:
                    pending = self._pending[id(query)] = _Pending(query)
                pending.rows.append(row)
                pending.lines.append(line_numbers[row])

    def _queries_for(self, message: bytes, match_set: Any
                     ) -> tuple[list[LogQuery], bool, str | None, str] | None:
        """The queries a message matches (less those its ``exclude`` drops), whether it may
        hold agent facts, the kind of event it is and its text as a record would hold it
        (redacted); None when it must take the record path."""
        owner = self.owner
        queries: list[LogQuery] = []
        decoded = message.decode("utf-8", "surrogateescape")
        text = ""
        for index in match_set(message):
            if not owner.bulk_pattern[index]:
                return None
            for query in owner.queries_of_pattern[index]:
                if query.excluders or owner.filtered[id(query)] == _MESSAGE_FILTER:
                    # What the record path reads: the one-line record's redacted message.
                    text = text or redact_text(decoded)
                    if any(x.search(text) is not None for x in query.excluders):
                        continue
                queries.append(query)
        event = owner.context.facts.event_kind(decoded)
        return queries, may_hold_facts_bytes(message), event, text

    # -- applying ---------------------------------------------------------------------------

    def flush(self, before_line: int) -> None:
        """Apply the bulk matches on lines before ``before_line`` (all: a huge number)."""
        for pending in self._pending.values():
            cut = bisect_left(pending.lines, before_line, pending.done)
            if cut > pending.done:
                self._apply(pending, pending.done, cut)
                pending.done = cut
        self._flush_facts(before_line)

    def _raw(self, row: int, capture_pattern: str) -> RawHit:
        return RawHit(self.region[self.rows_start[row]:self.rows_end[row]], self.member,
                      self.owner.kind, self.rows_line[row], self.real_version,
                      capture_pattern=capture_pattern)

    def _apply(self, pending: _Pending, begin: int, end: int) -> None:
        query = pending.query
        rows = pending.rows[begin:end]
        times = array("d", [self.rows_time[row] for row in rows])
        key = (query.rule_id, query.check)
        store = self.owner.matcher.store
        captures = query.pattern if query.has_captures else ""
        if query.role == "then":
            store.sequence(key).add_ends_bulk(times)
        elif query.role == "start":
            lines = array("q", [self.rows_line[row] for row in rows])
            store.sequence(key).add_starts_bulk(
                times, lines, lambda index: self._raw(rows[index], captures))
        else:
            chosen = (rows if len(rows) <= SAMPLE_HEAD + SAMPLE_TAIL
                      else rows[:SAMPLE_HEAD] + rows[-SAMPLE_TAIL:])
            accumulator = store.accumulators.get(key)
            if accumulator is None:
                accumulator = store.accumulators[key] = Accumulator()
            accumulator.add_bulk(times, [self._raw(row, captures) for row in chosen])

    def _flush_facts(self, before_line: int) -> None:
        """Agent facts and events of the bulk lines before ``before_line``, in line order."""
        context = self.owner.context
        agent_log = self.owner.kind == "waagent_log"
        while self._facts_done < len(self._facts):
            row = self._facts[self._facts_done]
            if self.rows_line[row] >= before_line:
                return
            self._facts_done += 1
            raw = self.rows_message[row]
            if agent_log and may_hold_facts_bytes(raw):
                message = raw.decode("utf-8", "surrogateescape")
                prefix = self.rows_prefix[row].decode("utf-8", "surrogateescape")
                extension, version = split_extension_prefix(prefix)
                if not self.real_version:
                    version = ""
                if context.facts.would_add(version_fields(message), extension, version,
                                           message):
                    # A new value: the record is built, as the record path would have.
                    context.add_facts(self._raw(row, "").resolve().record)
            described = self._events.get(raw)
            if described is None:  # event kind and label depend on the message alone
                message = raw.decode("utf-8", "surrogateescape")
                kind = context.facts.event_kind(message)
                described = self._events[raw] = (
                    kind, event_label(message) if kind is not None else "")
            kind, label = described
            if kind is not None:
                stamp = _EPOCH + timedelta(microseconds=self.rows_micros[row])
                context.add_event(LogEvent(stamp, kind, label))


def may_hold_facts_bytes(message: bytes) -> bool:
    """:func:`may_hold_facts` on the message's bytes."""
    return (b"Agent" in message or b"Python: " in message or message.startswith(b"OS: ")
            or b"Target handler state" in message)


def _view(head: tuple[bytes, bytes, bytes], message: str = "", member: str = ""
          ) -> _HeaderView:
    level, thread, prefix = (part.decode("utf-8", "surrogateescape") for part in head)
    return _HeaderView(level, thread, prefix, split_extension_prefix(prefix)[0], message,
                       member)




