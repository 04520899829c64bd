"""The bundle's tables: what was read, and every structured fact parsed from it.

Rows are kept as typed dataclasses (cheap, picklable, no pandas import on the analyze path);
:meth:`BundleTables.frame` turns any table into a pandas DataFrame on demand.

Tables and their columns:

=============  ================================================================================
table          columns
=============  ================================================================================
files          member, logical_path, kind, size, collector_truncated, problems
extensions     name, version, source_kind, member, state, status, code, message, operation,
               goal_state, sequence, timestamp, line
goal_states    document, member, incarnation, etag, timestamp, container_id, role_instance,
               deployment, role, source, details
agent          role (daemon | goal_state_agent | blacklisted_agent | os | python | ...), value,
               member, timestamp,
               line, source_kind
config         source_kind (waagent_conf | vmbackup_conf | dhcp_lease | live | ...), key, value,
               member, line
snapshot_runs  start, end, outcome, code (backup runs of VMSnapshotLinux, paired from the log;
               always built, see ``analyzer.parse.snapshot_runs``)
records        member, source_kind, line, end_line, timestamp, tz, level, thread, prefix,
               extension, extension_version, generation, message, fields, flags
               (built in chunks by ``analyzer.pipeline.export_records``, never kept in memory)
=============  ================================================================================

Every table, the event list and the problems are capped (``Limits.max_table_rows``,
``max_timeline_events``, ``max_problems_per_kind``): what a cap drops is counted, and
:meth:`BundleTables.cap_notes` says so in one problem line per table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from analyzer.errors import Problem
from analyzer.parse.log_facts import LogEvent
from analyzer.parse.rows import AgentRow, ConfigRow, ExtensionRow, GoalStateRow
from analyzer.parse.snapshot_runs import SnapshotRunRow
from analyzer.parse.timeutil import from_micros, micros_of
from analyzer.settings import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    import pandas as pd

TABLES = ("files", "extensions", "goal_states", "agent", "config", "snapshot_runs")
MAX_HOURLY_POINTS = 100_000
"""(hour, level) points of the records-per-hour timeline (11 years of hours at 1 level)."""
MAX_PROBLEM_KINDS = 20
"""Problem lines in all: this many kinds' worth of ``max_problems_per_kind``."""
CAPPED = (*TABLES, "events")
"""Row lists a cap applies to (``events`` feeds the timeline and the backup runs)."""


@dataclass
class FileRow:
    member: str
    logical_path: str
    kind: str
    size: int
    collector_truncated: bool = False
    problems: str = ""


@dataclass
class Coverage:
    """Time span and volume of the logs of one source kind."""

    first: datetime | None = None
    last: datetime | None = None
    lines: int = 0
    bytes: int = 0
    members: int = 0

    def extend(self, first: datetime | None, last: datetime | None, lines: int, size: int) -> None:
        if first is not None and (self.first is None or first < self.first):
            self.first = first
        if last is not None and (self.last is None or last > self.last):
            self.last = last
        self.lines += lines
        self.bytes += size
        self.members += 1


@dataclass(frozen=True)
class TableCaps:
    rows: int = DEFAULT_LIMITS.max_table_rows
    events: int = DEFAULT_LIMITS.max_timeline_events
    problems_per_kind: int = DEFAULT_LIMITS.max_problems_per_kind
    dedupe_keys: int = DEFAULT_LIMITS.max_dedupe_keys

    @classmethod
    def from_limits(cls, limits: Limits) -> TableCaps:
        return cls(limits.max_table_rows, limits.max_timeline_events, limits.max_problems_per_kind,
                   limits.max_dedupe_keys)

    def of(self, table: str) -> int:
        return self.events if table == "events" else self.rows


@dataclass(frozen=True)
class _EventColumns:
    """Timeline events as three columns, for pickling: a delta carries up to thousands of
    them, and each event's datetime pickled on its own took most of a marker-heavy
    member's delta (2,500 events: 4-7 ms in the reader, at a member boundary, where the
    planners wait for it; 1.2-1.4 ms as columns)."""

    micros: list[int]
    """Microseconds since the epoch (every event's time is in UTC)."""
    kinds: list[str]
    labels: list[str]

    @staticmethod
    def of(events: list[LogEvent]) -> _EventColumns | None:
        """The columns, or None when an event's time is not in UTC (kept as it is)."""
        if not events or any(event.timestamp.tzinfo is not UTC for event in events):
            return None
        return _EventColumns([micros_of(event.timestamp) for event in events],
                             [event.kind for event in events],
                             [event.label for event in events])

    def events(self) -> list[LogEvent]:
        return [LogEvent(from_micros(micros), kind, label)
                for micros, kind, label in zip(self.micros, self.kinds, self.labels,
                                               strict=True)]



@dataclass
class BundleTables:
    source: str
    sha256: str = ""
    files: list[FileRow] = field(default_factory=list)
    extensions: list[ExtensionRow] = field(default_factory=list)
    goal_states: list[GoalStateRow] = field(default_factory=list)
    agent: list[AgentRow] = field(default_factory=list)
    config: list[ConfigRow] = field(default_factory=list)
    snapshot_runs: list[SnapshotRunRow] = field(default_factory=list)
    events: list[LogEvent] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    coverage: dict[str, Coverage] = field(default_factory=dict)
    hourly: Counter[tuple[str, str]] = field(default_factory=Counter)
    collector_time: datetime | None = None
    archive_time: datetime | None = None
    """The input's own time stamp: the MTIME of its gzip header (0, "unknown", is ignored)."""
    newest_member_time: datetime | None = None
    """The newest modification time of any member (tar/zip/folder entries)."""
    """When the agent's log collector ran (results.txt), if the bundle says so."""
    readable_logs: int = 0
    """Log members in which more than white space was read (a read stopped later counts)."""
    caps: TableCaps = field(default_factory=TableCaps)
    dropped: Counter[str] = field(default_factory=Counter)
    """Rows each cap left out, per table (and ``events``, ``problems``)."""
    _problem_counts: Counter[str] = field(default_factory=Counter, repr=False, compare=False)
    """Problems kept per kind by :meth:`add_problems`."""

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["events"] = _EventColumns.of(self.events) or self.events
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state["events"], _EventColumns):
            state["events"] = state["events"].events()
        self.__dict__.update(state)

    def add(self, table: str, rows: Iterable[Any], earlier: int = 0) -> None:
        """Append rows up to the table's cap; ``earlier`` rows of it were already sent on
        (the reader streams one delta per member)."""
        target: list[Any] = getattr(self, table)
        room = max(0, self.caps.of(table) - earlier - len(target))
        for row in rows:
            if room > 0:
                target.append(row)
                room -= 1
            else:
                self.dropped[table] += 1

    def merge(self, other: BundleTables) -> None:
        """Add what was learnt from further members (results streamed from the reader)."""
        for name in CAPPED:
            self.add(name, getattr(other, name))
        self.add_problems(other.problems)
        self.dropped.update(other.dropped)
        for kind, coverage in other.coverage.items():
            mine = self.coverage.setdefault(kind, Coverage())
            mine.extend(coverage.first, coverage.last, coverage.lines, coverage.bytes)
            mine.members += coverage.members - 1
        for key, count in other.hourly.items():
            if key in self.hourly or len(self.hourly) < MAX_HOURLY_POINTS:
                self.hourly[key] += count
            else:
                self.dropped["hours"] += count
        if other.collector_time is not None:
            self.collector_time = max(filter(None, (self.collector_time, other.collector_time)))
        if other.archive_time is not None:
            self.archive_time = other.archive_time
        self.readable_logs += other.readable_logs
        self.note_member_time(other.newest_member_time)

    def note_member_time(self, stamp: datetime | None) -> None:
        if stamp is not None and (self.newest_member_time is None
                                  or stamp > self.newest_member_time):
            self.newest_member_time = stamp

    def add_problems(self, problems: Iterable[Problem]) -> None:
        """Append problems, keeping the first ``problems_per_kind`` of each kind (the text
        before the first ``:``) and ``MAX_PROBLEM_KINDS`` kinds' worth in all."""
        kept = self._problem_counts
        total_cap = self.caps.problems_per_kind * MAX_PROBLEM_KINDS
        for problem in problems:
            kind = problem_kind(problem)
            if kept[kind] >= self.caps.problems_per_kind:
                self.dropped[f"problems:{kind}"] += 1
            elif len(self.problems) >= total_cap:
                self.dropped["problems:*"] += 1
            else:
                self.problems.append(problem)
                kept[kind] += 1

    def cap_problems(self) -> None:
        """Apply the problem caps to problems appended directly to the list."""
        problems, self.problems = self.problems, []
        self._problem_counts = Counter()
        self.add_problems(problems)

    def cap_notes(self) -> list[Problem]:
        """One problem line per cap that dropped something."""
        notes = []
        for name, count in sorted(self.dropped.items()):
            if name == "events":
                text = (f"timeline capped at {self.caps.events} events: {count} more events "
                        "not kept (limit max_timeline_events)")
            elif name == "hours":
                text = (f"timeline capped at {MAX_HOURLY_POINTS} hour/level points: {count} "
                        "records of further hours not counted")
            elif name == "dedupe_keys":
                text = (f"record de-duplication remembers {self.caps.dedupe_keys} dated "
                        f"records: {count} later records were not remembered, so a rotated "
                        "copy read after them counts them again (limit max_dedupe_keys)")
            elif name == "problems:*":
                text = (f"{count} more problems not listed (limit: {MAX_PROBLEM_KINDS} x "
                        "max_problems_per_kind problem lines in all)")
            elif name.startswith("problems:"):
                text = (f"{count} more problems like '{name[9:]}' not listed "
                        f"(limit max_problems_per_kind = {self.caps.problems_per_kind})")
            else:
                text = (f"the {name} table is capped at {self.caps.rows} rows: {count} more rows "
                        "were not kept, so checks on it saw only the first ones "
                        "(limit max_table_rows)")
            notes.append(Problem(self.source, text))
        return notes

    @property
    def time_start(self) -> datetime | None:
        starts = [c.first for c in self.coverage.values() if c.first is not None]
        return min(starts) if starts else None

    @property
    def time_end(self) -> datetime | None:
        ends = [c.last for c in self.coverage.values() if c.last is not None]
        return max(ends) if ends else None

    @property
    def collected_at(self) -> datetime | None:
        """The reference point of time windows (see :meth:`collection_time`)."""
        return self.collection_time()[0]

    @property
    def collected_at_source(self) -> str:
        """Where :attr:`collected_at` comes from: ``collector``, ``archive``, ``member_mtime``,
        ``newest_line`` or ``""`` (unknown)."""
        return self.collection_time()[1]

    def collection_time(self) -> tuple[datetime | None, str]:
        """When the logs were collected, and how we know: the collector's own record
        (``results.txt``), else the archive's gzip header, else the newest member mtime,
        else the newest log line.

        A file time is believed only when it is not before the newest log line (less
        :data:`CLOCK_SLACK`) and not more than :data:`MAX_COLLECTION_LAG` after it: older
        means a copy that reset times, much newer means the bundle was repacked later. A
        time before 2005 (a zeroed stamp) is never believed."""
        if self.collector_time is not None:
            return self.collector_time, "collector"
        newest_line = self.time_end
        for stamp, source in ((self.archive_time, "archive"),
                              (self.newest_member_time, "member_mtime")):
            if stamp is None or stamp < EARLIEST_STAMP:
                continue
            if newest_line is None or (
                    newest_line - CLOCK_SLACK <= stamp <= newest_line + MAX_COLLECTION_LAG):
                return stamp, source
        if newest_line is not None:
            return newest_line, "newest_line"
        return None, ""

    def rows(self, table: str) -> list[Any]:
        if table not in TABLES:
            raise KeyError(f"unknown table {table!r}; valid options: {', '.join(TABLES)}")
        rows: list[Any] = getattr(self, table)
        return rows

    def table(self, table: str) -> list[dict[str, Any]]:
        """Rows as dicts (for exports and frames; checks read the row objects directly)."""
        return [asdict(row) for row in self.rows(table)]

    def frame(self, table: str) -> pd.DataFrame:
        import pandas as pd  # deferred: pandas costs half a second to import

        records = self.table(table)
        columns = table_columns(table)
        frame = pd.DataFrame.from_records(records, columns=columns)
        for column in ("timestamp",):
            if column in frame.columns:
                frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame


EARLIEST_STAMP = datetime(2005, 1, 1, tzinfo=UTC)
CLOCK_SLACK = timedelta(seconds=2)
MAX_COLLECTION_LAG = timedelta(days=30)


def table_columns(table: str) -> list[str]:
    from dataclasses import fields as dataclass_fields

    row_type = {
        "files": FileRow,
        "extensions": ExtensionRow,
        "goal_states": GoalStateRow,
        "agent": AgentRow,
        "config": ConfigRow,
        "snapshot_runs": SnapshotRunRow,
    }[table]
    return [f.name for f in dataclass_fields(row_type)]


def problem_kind(problem: Problem) -> str:
    """What a problem is about, without the member: its text up to the first ``:``."""
    return problem.message.split(":", 1)[0][:60]
