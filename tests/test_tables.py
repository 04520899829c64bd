"""BundleTables: every row list is capped, and what a cap dropped is counted and said."""

from __future__ import annotations

from analyzer.errors import Problem
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
