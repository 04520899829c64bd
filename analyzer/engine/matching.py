"""Matching log records against the log-based checks of every rule, with bounded memory.

The scanner calls :class:`RecordMatcher` once per candidate record. Each check keeps an
:class:`Accumulator`: counts, timestamps (for windows), group keys and a few sample hits for
evidence, never every record.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from analyzer.engine.model import AbsenceCheck, LogCheck, RecordFilter, Rule, SequenceCheck
from analyzer.engine.regex import compile_pattern, compile_prefilter, compile_set
from analyzer.parse.records import Record, Tz
from analyzer.parse.waagent_log import Header, split_extension_prefix, structured_fields

SAMPLES_HEAD = 3
SAMPLES_TAIL = 3
MAX_GROUPS = 10_000
MAX_SEQUENCE_EVENTS = 200_000
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
    tail: list[Hit | _LazyHit] = field(default_factory=list)
    group_samples: dict[int, Hit] = field(default_factory=dict)

    def add(self, hit: Hit, group: str) -> None:
        self.count += 1
        stamp = hit.record.timestamp
        self.times.append(stamp.timestamp() if stamp is not None else NO_TIME)
        index = self.group_names.get(group)
        if index is None and len(self.group_names) < MAX_GROUPS:
            index = self.group_names[group] = len(self.group_names)
            self.group_samples[index] = hit
        hit.group = index if index is not None else -1
        self.groups.append(hit.group)
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
        group_index = index if index is not None else -1
        self.groups.append(group_index)
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

    def samples(self) -> list[Hit]:
        tail = [h.resolve() if isinstance(h, _LazyHit) else h for h in self.tail[-SAMPLES_TAIL:]]
        self.tail = list(tail)
        return self.head + tail

    def merge(self, other: Accumulator) -> None:
        """Fold in what another accumulator saw later (the next member of the bundle)."""
        names = {index: name for name, index in other.group_names.items()}
        remap: dict[int, int] = {}
        for index, name in names.items():
            mine = self.group_names.get(name)
            if mine is None and len(self.group_names) < MAX_GROUPS:
                mine = self.group_names[name] = len(self.group_names)
                sample = other.group_samples.get(index)
                if sample is not None:
                    self.group_samples[mine] = sample
            remap[index] = mine if mine is not None else -1
        self.count += other.count
        self.times.extend(other.times)
        self.groups.extend(remap.get(g, -1) for g in other.groups)
        for hit in [*other.head, *other.tail]:
            hit.group = remap.get(hit.group, -1)
            if len(self.head) < SAMPLES_HEAD:
                self.head.append(hit.resolve() if isinstance(hit, _LazyHit) else hit)
            else:
                self.tail.append(hit)
        del self.tail[:-SAMPLES_TAIL]


@dataclass
class SequenceEvent:
    time: float
    member: str
    line: int
    group: str
    is_start: bool
    hit: Hit | None


@dataclass
class SequenceStore:
    """Starts keep their record (they become evidence); ends are frequent success markers, so
    only their time and group are kept, in compact arrays."""

    events: list[SequenceEvent] = field(default_factory=list)
    """The starts."""
    end_times: array = field(default_factory=lambda: array("d"))
    end_groups: array = field(default_factory=lambda: array("i"))
    group_names: dict[str, int] = field(default_factory=dict)

    def _group_index(self, group: str) -> int:
        index = self.group_names.get(group)
        if index is None:
            index = self.group_names[group] = len(self.group_names)
        return index

    def merge(self, other: SequenceStore) -> None:
        room = MAX_SEQUENCE_EVENTS - len(self.events)
        self.events.extend(other.events[: max(0, room)])
        names = {index: name for name, index in other.group_names.items()}
        self.end_times.extend(other.end_times)
        self.end_groups.extend(self._group_index(names[g]) for g in other.end_groups)

    def add(self, record: Record, captures: dict[str, str], group: str, is_start: bool) -> None:
        stamp = record.timestamp
        time = stamp.timestamp() if stamp else NO_TIME
        if not is_start:
            self.end_times.append(time)
            self.end_groups.append(self._group_index(group))
            return
        if len(self.events) < MAX_SEQUENCE_EVENTS:
            self.events.append(SequenceEvent(time, record.member, record.line, group, True,
                                             Hit(record, captures)))

    def add_end(self, time: float, group: str) -> None:
        self.end_times.append(time)
        self.end_groups.append(self._group_index(group))

    def ends_by_group(self) -> dict[str, list[float]]:
        names = {index: name for name, index in self.group_names.items()}
        ends: dict[str, list[float]] = {}
        for time, group in zip(self.end_times, self.end_groups, strict=True):
            ends.setdefault(names[group], []).append(time)
        for times in ends.values():
            times.sort()
        return ends


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
    regex: Any = None
    has_captures: bool = False
    where: list[tuple[str, str, Any]] = field(default_factory=list)
    _where_cache: dict[tuple[str, str], bool] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.regex = compile_pattern(self.pattern) if self.pattern else None
        self.has_captures = bool(self.regex is not None and self.regex.groupindex)
        self.where = [
            (name, value, compile_pattern(value[1:]) if value.startswith("~") else None)
            for name, value in self.filter.where.items()
        ]

    @property
    def unfiltered(self) -> bool:
        """Matches on its pattern alone: no filter, capture or grouping to evaluate."""
        wanted = self.filter
        return not (self.has_captures or self.group_by or self.where or wanted.levels
                    or wanted.threads or wanted.prefixes or wanted.extensions
                    or wanted.exclude_extensions)

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
        return all(
            _field_matches(record_value(record, name), value, regex)
            for name, value, regex in self.where
        )

    def match(self, record: Record) -> dict[str, str] | None:
        if not self.accepts(record):
            return None
        if self.regex is None:
            return {}
        if not self.has_captures:
            # The kind's pattern set already said the pattern matches; no captures to read.
            return {}
        found = self.regex.search(record.message)
        if found is None:
            return None
        return {k: v for k, v in found.groupdict().items() if v is not None}


def extension_of(record: Record) -> str:
    return record.extension or record.fields.get("event_name", "")


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

    def merge(self, other: MatchStore) -> None:
        for key, accumulator in other.accumulators.items():
            self.accumulators.setdefault(key, Accumulator()).merge(accumulator)
        for key, sequence in other.sequences.items():
            self.sequences.setdefault(key, SequenceStore()).merge(sequence)

    def is_empty(self) -> bool:
        return not self.accumulators and not self.sequences


class RecordMatcher:
    """Routes candidate records to the queries of their source kind and fills ``store``."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.queries: list[LogQuery] = list(_queries(rules))
        self.by_kind: dict[str, list[LogQuery]] = defaultdict(list)
        for query in self.queries:
            for kind in query.filter.sources:
                self.by_kind[kind].append(query)
        agent_copies = self.by_kind.get("waagent_log", []) + self.by_kind.get(SYSTEM_LOG, [])
        if agent_copies:
            self.by_kind[AGENT_IN_SYSTEM_LOG] = agent_copies
        self.store = MatchStore()
        self._sets: dict[str, tuple[Any, list[list[LogQuery]]]] = {}
        self._light_sets: dict[str, tuple[Any, list[list[LogQuery]]]] = {}

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
        accumulators, sequences = self.store.accumulators, self.store.sequences
        for index in indices:
            for query in groups[index]:
                key = (query.rule_id, query.check)
                if query.unfiltered:  # the common case: a success marker, a plain count
                    if query.role == "hit":
                        accumulators.setdefault(key, Accumulator()).add_line(ref, "", {})
                    else:
                        sequences.setdefault(key, SequenceStore()).add_end(time, "")
                    continue
                if view is None:
                    view = LineView(ref)
                captures = query.match(view)  # type: ignore[arg-type]
                if captures is None:
                    continue
                group = group_key(query, view, captures) if query.group_by else ""  # type: ignore[arg-type]
                if query.role == "hit":
                    accumulators.setdefault(key, Accumulator()).add_line(ref, group, captures)
                else:
                    sequences.setdefault(key, SequenceStore()).add_end(time, group)

    def prefilter(self, kind: str, extra: tuple[str, ...] = ()) -> Any:
        patterns = self.patterns_for(kind) + extra
        return compile_prefilter(patterns) if patterns else None

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
        group = group_key(query, record, captures) if query.group_by else ""
        if query.role == "hit":
            self.store.accumulators.setdefault(key, Accumulator()).add(Hit(record, captures), group)
        else:
            self.store.sequences.setdefault(key, SequenceStore()).add(
                record, captures, group, query.role == "start"
            )


def _queries(rules: Iterable[Rule]) -> Iterable[LogQuery]:
    for rule in rules:
        for check in rule.checks.values():
            if isinstance(check, LogCheck | AbsenceCheck):
                group_by = check.group_by if isinstance(check, LogCheck) else ""
                yield LogQuery(rule.id, check.name, "hit", check.filter, check.pattern, group_by)
            elif isinstance(check, SequenceCheck):
                yield LogQuery(
                    rule.id, check.name, "start", check.filter, check.pattern, check.group_by
                )
                yield LogQuery(
                    rule.id, check.name, "then", check.filter, check.then, check.group_by
                )
