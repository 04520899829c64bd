"""BundleTables: every row list is capped, and what a cap dropped is counted and said."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.errors import Problem
from analyzer.parse.log_facts import LogEvent
from analyzer.parse.rows import ConfigRow
from analyzer.tables import MAX_PROBLEM_KINDS, BundleTables, TableCaps


def _rows(count: int, start: int = 0) -> list[ConfigRow]:
    return [ConfigRow("waagent_conf", f"Key{i}", "y", "case!etc/waagent.conf", i)
            for i in range(start, start + count)]


def test_rows_beyond_the_cap_are_counted_not_kept() -> None:
    tables = BundleTables("case", caps=TableCaps(rows=10))
    tables.add("config", _rows(4), earlier=3)  # 3 rows of this table went out in a delta
    tables.add("config", _rows(10, 4), earlier=3)
    assert len(tables.config) == 7 and tables.dropped["config"] == 7
    (note,) = tables.cap_notes()
    assert note == Problem("case", "the config table is capped at 10 rows: 7 more rows were "
                                   "not kept, so checks on it saw only the first ones "
                                   "(limit max_table_rows)")


def test_merging_deltas_keeps_the_cap_and_adds_their_drop_counts() -> None:
    whole = BundleTables("case", caps=TableCaps(rows=5))
    for start in (0, 3, 6):
        delta = BundleTables("case", caps=TableCaps(rows=5))
        delta.add("config", _rows(3, start))
        whole.merge(delta)
    assert [r.line for r in whole.config] == [0, 1, 2, 3, 4]
    assert whole.dropped["config"] == 4


def test_problems_are_capped_per_kind_and_in_all() -> None:
    tables = BundleTables("case", caps=TableCaps(problems_per_kind=2))
    tables.add_problems(Problem(f"m{i}", "skipped: hard link") for i in range(5))
    tables.add_problems(Problem(f"m{i}", f"kind{i}: x") for i in range(3 * MAX_PROBLEM_KINDS))
    assert [p.member for p in tables.problems[:2]] == ["m0", "m1"]
    assert len(tables.problems) == 2 * MAX_PROBLEM_KINDS
    notes = [p.message for p in tables.cap_notes()]
    assert "3 more problems like 'skipped' not listed (limit max_problems_per_kind = 2)" in notes
    in_all = 3 * MAX_PROBLEM_KINDS - (2 * MAX_PROBLEM_KINDS - 2)
    assert any(n.startswith(f"{in_all} more problems not listed") for n in notes), notes


_TIMES = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_TIMES, st.sampled_from([UTC, UTC, timezone(timedelta(hours=-3))]),
                          st.sampled_from(["snapshot-run", "agent-start"]), st.text(max_size=20)),
                max_size=30))
def test_a_tables_events_come_back_from_a_pickle_as_they_were(
        events: list[tuple[datetime, Any, str, str]]) -> None:
    """A member's delta carries its timeline events in columns when every time is in UTC
    (to the microsecond, before 1970 too); any other zone keeps them as they are."""
    tables = BundleTables(source="x")
    tables.events = [LogEvent(when.replace(tzinfo=zone), kind, label)
                     for when, zone, kind, label in events]
    back = pickle.loads(pickle.dumps(tables, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == tables
    assert [event.timestamp.tzinfo for event in back.events] == [
        event.timestamp.tzinfo for event in tables.events]
