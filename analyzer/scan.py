"""One pass over the members of a bundle: every member becomes a ``files`` row, structured
members are parsed into table rows, log members go through the prefiltered scanner and the
rule matcher.

:class:`ScanState` is what the pass keeps; in the isolated reader it is the child's state and
each member's additions travel to the parent as one delta (:mod:`analyzer.isolation`).
"""

from __future__ import annotations

import os
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from analyzer import progress
from analyzer.bundle.model import Member, SourceKind
from analyzer.engine.bulk import BulkContext, BulkMatcher
from analyzer.engine.loader import RulePack
from analyzer.engine.matching import EVENT_TAG, FACT_TAG, LineRef, MatchStore, RecordMatcher
from analyzer.engine.regex import compile_prefilter
from analyzer.errors import BundleError, Problem
from analyzer.parse import windows_agent_log as winlog
from analyzer.parse.dedupe import FirstSighting
from analyzer.parse.log_facts import (
    FACT_PATTERNS,
    RUN_PATTERNS,
    TIMELINE_PATTERNS,
    LogFacts,
    may_hold_facts,
)
from analyzer.parse.logscan import LogScanner
from analyzer.parse.logsources import grammar_for
from analyzer.parse.records import Record
from analyzer.parse.registry import RECORD_PARSERS, STRUCTURED_PARSERS, ParsedRows
from analyzer.parse.rows import AgentRow
from analyzer.parse.waagent_log import Header
from analyzer.settings import Limits
from analyzer.tables import CAPPED, BundleTables, Coverage, FileRow, TableCaps

_READ_ERRORS = (OSError, EOFError, zlib.error, ValueError, UnicodeError)


@dataclass
class ScanResult:
    tables: BundleTables
    store: MatchStore


class ScanState:
    """State of one pass over the members."""

    def __init__(self, pack: RulePack, tables: BundleTables, limits: Limits,
                 timeline: bool) -> None:
        self.tables = tables
        self.limits = limits
        self.timeline = timeline
        self.matcher = RecordMatcher(pack.rules, limits)
        self.log_facts = LogFacts(all_events=timeline)
        self.sent: Counter[str] = Counter()
        """Rows of each table already handed on in earlier deltas (they count for the caps)."""
        self._prefilters: dict[str, Any] = {}
        self._seen = FirstSighting(max_keys=limits.max_dedupe_keys)
        self._unrecorded_noted = 0
        self._events = TIMELINE_PATTERNS if timeline else RUN_PATTERNS
        self._bulk: dict[str, BulkMatcher | None] = {}
        self._windows_last: dict[tuple[str, ...], str] = {}
        self.kinds_seen: set[str] = set()
        """Source kinds of the members read so far (live facts stand in for absent files)."""
        self.bulk_enabled = os.environ.get("WAAGENT_ANALYZER_BULK", "1") != "0"
        """``WAAGENT_ANALYZER_BULK=0`` sends every candidate through the record path (the
        equivalence tests and the benchmark compare both)."""

    def note_unrecorded(self) -> None:
        """Records past the de-duplication key cap, for the report's caps line."""
        fresh = self._seen.unrecorded - self._unrecorded_noted
        if fresh:
            self.tables.dropped["dedupe_keys"] += fresh
            self._unrecorded_noted = self._seen.unrecorded

    def reset_deltas(self, source: str) -> None:
        """Start collecting a fresh delta (what the next member adds)."""
        for name in CAPPED:
            self.sent[name] += len(getattr(self.tables, name))
        self.tables = BundleTables(source=source, caps=self.tables.caps)
        self.matcher.store = self.matcher.new_store()

    def add(self, table: str, rows: Iterable[Any]) -> None:
        self.tables.add(table, rows, earlier=self.sent[table])

    def add_parsed(self, parsed: ParsedRows) -> None:
        for table in ("goal_states", "extensions", "agent", "config"):
            self.add(table, getattr(parsed, table))
        if parsed.collected_at is not None:
            self.tables.collector_time = parsed.collected_at

    def prefilter(self, kind: str) -> Any:
        if kind not in self._prefilters:
            extra: tuple[str, ...] = FACT_PATTERNS if kind == SourceKind.WAAGENT_LOG else ()
            if kind in SourceKind.WINDOWS_LOG_KINDS:  # the guest agent's version, plugin facts
                extra = tuple(winlog.FACT_PATTERNS)
            tags = (FACT_TAG,) * len(extra) + (EVENT_TAG,) * len(self._events)
            self._prefilters[kind] = self.matcher.prefilter(kind, extra + self._events, tags)
        return self._prefilters[kind]

    def full_prefilter(self, kind: str) -> Any:
        """What must go through the full record parse; the rest takes the cheap path."""
        key = f"full:{kind}"
        if key not in self._prefilters:
            patterns = self.matcher.full_patterns_for(kind) + self._events
            self._prefilters[key] = compile_prefilter(patterns) if patterns else None
        return self._prefilters[key]

    def bulk_matcher(self, kind: str) -> BulkMatcher | None:
        if not self.bulk_enabled:
            return None
        if kind not in self._bulk:
            seen = self._seen

            def first_sightings(micros: Any, hashes: Any, member: str) -> Any:
                return seen.first_of_many(kind, micros, hashes, member)

            def events_full() -> bool:
                kept = len(self.tables.events) + self.sent["events"]
                return kept >= self.tables.caps.of("events")

            def drop_events(count: int) -> None:
                self.tables.dropped["events"] += count

            context = BulkContext(first_sightings, self.log_facts, self.add_facts,
                                  lambda events: self.add("events", events), events_full,
                                  drop_events)
            self._bulk[kind] = BulkMatcher(self.matcher, kind, context)
        return self._bulk[kind]

    def close(self) -> None:
        """Ends the forked chunk planners (the pass is over)."""
        for bulk in self._bulk.values():
            if bulk is not None:
                bulk.close()

    def on_line(self, ref: LineRef) -> None:
        """A one-line record only light checks and facts need: no fold, no full parse."""
        header = ref.header
        if not self._seen.is_first(ref.source_kind, header.timestamp, header.message,
                                   ref.member):
            return
        if ref.source_kind == SourceKind.WAAGENT_LOG and may_hold_facts(ref.header.message):
            self.add_facts(ref.to_record())
        elif (ref.source_kind in SourceKind.WINDOWS_LOG_KINDS
              and winlog.may_hold_facts(header.message)):
            self.add_windows_facts(winlog.enrich_record(ref.to_record()))
        self.matcher.offer_line(ref)

    def on_record(self, record: Record) -> None:
        if not self._seen.is_first(record.source_kind, record.timestamp, record.message,
                                   record.member):
            return
        if record.source_kind in SourceKind.WINDOWS_LOG_KINDS:
            self.add_windows_facts(winlog.enrich_record(record))
        self.add_facts(record)
        event = self.log_facts.event(record)
        if event is not None:
            self.add("events", [event])
        self.matcher(record)

    def add_windows_facts(self, record: Record) -> None:
        """The Windows guest agent's version (kept when it changes) and plugin operations
        (docs/windows-formats.md)."""
        for row in winlog.record_facts(record):
            if isinstance(row, AgentRow):
                if self._windows_last.get((row.role,)) != row.value:
                    self._windows_last[(row.role,)] = row.value
                    self.add("agent", [row])
            else:
                self.add("extensions", [row])

    def add_windows_plugin_folder(self, member: Member) -> None:
        """A file under Packages\\Plugins\\<Name>\\<Version>\\ (or the matching log folder)
        says that version of the handler is on the VM, once per folder."""
        row = winlog.directory_row(member.provenance, member.logical_path)
        if row is None:
            return
        key = ("windows-dir", row.name.lower(), row.version)
        if key not in self._windows_last:
            self._windows_last[key] = "1"
            self.add("extensions", [row])

    def add_facts(self, record: Record) -> None:
        for row in self.log_facts.rows(record):
            self.add("agent" if isinstance(row, AgentRow) else "extensions", [row])


def new_tables(source: str, limits: Limits, sha256: str = "") -> BundleTables:
    return BundleTables(source=source, sha256=sha256, caps=TableCaps.from_limits(limits))


def scan_members(members: Iterable[Member], state: ScanState) -> ScanResult:
    try:
        for member in guarded(members, state):
            scan_member(member, state)
    finally:
        state.close()
    return ScanResult(state.tables, state.matcher.store)


def guarded(members: Iterable[Member], state: ScanState) -> Iterator[Member]:
    """The members, until the walker gives up on the input (its reason becomes a problem)."""
    iterator = iter(members)
    while True:
        try:
            member = next(iterator)
        except StopIteration:
            return
        except BundleError as error:
            state.tables.problems.append(Problem(state.tables.source, str(error)))
            return
        yield member


def scan_member(member: Member, state: ScanState) -> None:
    row = FileRow(
        member.provenance,
        member.logical_path,
        member.kind,
        member.size,
        member.collector_truncated,
        "; ".join(member.problems),
    )
    state.add("files", [row])
    state.kinds_seen.add(member.kind)
    if member.extension:
        state.matcher.note_emitter(member.provenance, member.extension)
    state.add_windows_plugin_folder(member)
    if member.mtime:
        state.tables.note_member_time(_mtime(member.mtime))
    handler = _handler(member.kind)
    if handler is None:
        return
    try:
        handler(member, state)
    except BundleError as error:
        _problem(state.tables, row, member, str(error))
    except _READ_ERRORS as error:
        _problem(state.tables, row, member, f"cannot read: {type(error).__name__}: {error}")
    finally:
        state.note_unrecorded()


def _problem(tables: BundleTables, row: FileRow, member: Member, message: str) -> None:
    prefix = f"{member.provenance}: "
    message = message[len(prefix) :] if message.startswith(prefix) else message
    tables.problems.append(Problem(member.provenance, message))
    row.problems = "; ".join(p for p in (row.problems, message) if p)


def _scan_log(member: Member, state: ScanState) -> None:
    limits = state.limits
    scanner = LogScanner(
        member.provenance,
        member.kind,
        grammar_for(member.kind),
        state.prefilter(member.kind),
        state.on_record,
        max_line_bytes=limits.max_line_bytes,
        max_record_bytes=limits.max_record_bytes,
        max_continuation_lines=limits.max_continuation_lines,
        collector_truncated=member.collector_truncated,
        timeline=state.timeline,
    )
    scanner.full_prefilter = state.full_prefilter(member.kind)
    grammar = grammar_for(member.kind)

    def on_line(header: Header, line: int, cut: bool) -> None:
        state.on_line(LineRef(header, member.provenance, member.kind, line, cut,
                              grammar.prefix_has_real_version))

    scanner.on_line = on_line
    bulk = state.bulk_matcher(member.kind) if grammar.record_start is not None else None
    if bulk is not None:
        prefilter = scanner.prefilter

        def plan(region: bytes, at_first_line: bool) -> Any:
            return bulk.plan_later(region, member.provenance, grammar.prefix_has_real_version,
                                   member.collector_truncated and at_first_line, prefilter,
                                   limits.max_line_bytes)

        scanner.bulk = plan
        scanner.bulk_depth = lambda: bulk.depth
    with member.open() as stream:
        text: Any = _Counted(stream)
        if member.kind in SourceKind.WINDOWS_LOG_KINDS:  # UTF-16 copies become UTF-8
            text = winlog.text_stream(text)
        try:
            stats = scanner.scan(text)
        finally:  # a read stopped by a budget still read the lines before it
            state.tables.readable_logs += int(scanner.stats.text)
    coverage = state.tables.coverage.setdefault(member.kind, Coverage())
    coverage.extend(stats.first_timestamp, stats.last_timestamp, stats.lines, stats.bytes)
    state.tables.hourly.update(stats.hourly)


class _Counted:
    """A member's stream that reports the bytes read to the progress meter."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._stream.read(size)
        progress.advance(len(data))
        return data


def read_document(member: Member, limits: Limits) -> bytes:
    """A structured member's bytes, or a problem when it is larger than a document may be."""
    cap = limits.max_xml_bytes
    with member.open() as stream:
        data = stream.read(cap + 1)
    if len(data) > cap:
        raise BundleError(f"skipped: larger than {cap} bytes")
    return data


def _live_facts(member: Member, state: ScanState) -> None:
    from analyzer.live.rows import FILE_KINDS, file_rows, live_rows
    from analyzer.live.vm_state import LiveFacts

    try:
        facts = LiveFacts.from_json(read_document(member, state.limits))
    except (ValueError, TypeError, KeyError) as error:
        raise BundleError(f"invalid self-check facts: {error}") from None
    state.add("config", live_rows(facts, member.provenance))
    # self-check and collect put self-check.json after the files: when waagent.conf or a
    # lease file was read as a member, its rows come from the parser, not again from here.
    absent = tuple(kind for kind in FILE_KINDS if kind not in state.kinds_seen)
    state.add("config", file_rows(facts, member.provenance, absent))


Handler = Callable[[Member, ScanState], None]


def _handler(kind: str) -> Handler | None:
    if kind in SourceKind.LOG_KINDS:
        return _scan_log
    if kind == SourceKind.LIVE_FACTS:
        return _live_facts
    parse = STRUCTURED_PARSERS.get(kind)
    if parse is not None:
        return lambda member, state: state.add_parsed(
            parse(read_document(member, state.limits), member.provenance))
    records = RECORD_PARSERS.get(kind)
    if records is not None:
        def feed(member: Member, state: ScanState) -> None:
            for record in records(read_document(member, state.limits), member.provenance):
                state.on_record(record)

        return feed
    return None


def _mtime(seconds: float) -> datetime | None:
    """A member's modification time; a stamp that does not fit a datetime is no stamp."""
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
