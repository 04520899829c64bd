"""Hits past a log check's exact cap are counted per minute and group (``Accumulator.fold``).

A VM failing for weeks matches a rule millions of times; keeping 12 bytes per hit made peak
memory follow the number of matching lines. Past ``Limits.max_exact_hits`` a check keeps
counts per (minute, group) with the first and last time of each: memory follows the minutes
the logs span. Answers stay exact except at a window's start, where the minute it starts in
counts whole (more hits, never fewer) and the check's detail says so. Guards shorter than a
minute never fold. A ``near``-joined check folds too, and both sides of its join stop at the
same cap: past it every hit counts (the join is no longer required of each) and the detail
says so.
"""

from __future__ import annotations

import pickle
from array import array
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from analyzer.engine.checks.base import GuardRecords
from analyzer.engine.checks.log import GUARD
from analyzer.engine.loader import default_rules_dir, load_rules
from analyzer.engine.matching import (
    FOLDABLE_GUARD_SECONDS,
    MAX_GROUPS,
    NO_MINUTE,
    NO_TIME,
    Accumulator,
    Folded,
    LogQuery,
    MatchStore,
    RawHit,
    RecordMatcher,
    _minute_group_order,
    per_hit_checks,
)
from analyzer.engine.model import Guard, RecordFilter
from analyzer.pipeline import AnalyzeOptions, analyze_path
from analyzer.settings import Limits
from tests.engine.test_bulk import _mix_bundle

PACK = load_rules(sorted(default_rules_dir().rglob("*.toml")))
BASE = 1_706_700_000.0  # a whole minute


def _sample(index: int) -> RawHit:
    line = f"2024-01-31T10:00:{index % 60:02d}.000000Z INFO ExtHandler ExtHandler hit {index}"
    return RawHit(line.encode(), "waagent.log", "waagent_log", index + 1, True)


def _add(accumulator: Accumulator, times: list[float]) -> None:
    """As the bulk path adds them, chunk by chunk (with a sample of each chunk)."""
    for begin in range(0, len(times), 1000):
        accumulator.add_bulk(array("d", times[begin:begin + 1000]), [_sample(begin)])


def _filled(cap: int, times: list[float]) -> Accumulator:
    accumulator = Accumulator(exact_cap=cap)
    _add(accumulator, times)
    return accumulator


def test_memory_follows_the_minutes_not_the_hits() -> None:
    times = [BASE + second * 0.03 for second in range(200_000)]  # 100 minutes
    accumulator = _filled(1000, times)
    assert accumulator.count == 200_000
    assert len(accumulator.times) <= 1000
    assert accumulator.folded is not None
    assert len(accumulator.folded.minutes) <= 101
    assert accumulator.folded.total + len(accumulator.times) == 200_000


@pytest.mark.parametrize("start, exact, whole", [
    (None, 6000, False),
    (BASE + 600.0, 5400, False),  # on a minute's first second: exact
    (BASE + 630.0, 5400, True),   # half a minute in: that minute counts whole
    (BASE + 6000.0, 0, False),
])
def test_a_window_counts_its_first_minute_whole(start: float | None, exact: int,
                                                whole: bool) -> None:
    times = [BASE + second for second in range(6000)]  # one hit a second
    folded = Folded.of(np.asarray(times), np.zeros(len(times), dtype=np.int32))
    rows, boundary = folded.since(start)
    truth = sum(1 for t in times if start is None or t >= start)
    assert truth == exact - (30 if whole else 0)
    assert rows.total == exact
    assert boundary is whole


def test_undated_hits_count_in_every_window() -> None:
    times = np.asarray([NO_TIME, NO_TIME, BASE, BASE + 3600.0])
    folded = Folded.of(times, np.zeros(4, dtype=np.int32))
    rows, _ = folded.since(BASE + 1800.0)
    assert rows.total == 3


def test_folded_groups_merge_by_name_across_stores() -> None:
    """A child's store crosses to the parent pickled; each store numbers its groups in the
    order it met them, so folded rows are renumbered by name on merging."""
    first = Folded.of(np.asarray([BASE, BASE + 1, BASE + 61]), np.asarray([0, 1, 0]))
    second = Folded.of(np.asarray([BASE + 2, BASE + 62]), np.asarray([0, 1]))
    mine = Accumulator(exact_cap=1, group_names={"a": 0, "b": 1}, folded=first, count=3)
    other = Accumulator(exact_cap=1, group_names={"b": 0, "c": 1}, folded=second, count=2)
    mine = pickle.loads(pickle.dumps(mine))
    mine.merge(pickle.loads(pickle.dumps(other)))
    assert mine.count == 5
    assert mine.group_names == {"a": 0, "b": 1, "c": 2}
    assert mine.folded is not None
    assert mine.folded.per_group() == {0: 2, 1: 2, 2: 1}
    rows = sorted(zip(mine.folded.minutes.tolist(), mine.folded.groups.tolist(),
                      mine.folded.counts.tolist(), strict=True))
    minute = int(BASE // 60)
    assert rows == [(minute, 0, 1), (minute, 1, 2), (minute + 1, 0, 1), (minute + 1, 2, 1)]


def _guard_query(within: float) -> LogQuery:
    return LogQuery("WAA-TEST-001", "failure" + GUARD, "guard",
                    RecordFilter(sources=("waagent_log",)), "found it", "",
                    guard_within=within)


def test_short_guards_keep_every_hit_the_rest_fold() -> None:
    """A guard of a minute or more is answered exactly from minute rows: its records and its
    check's hits fold past the cap (a failing VM logs millions of both), as do a
    ``near``-joined check's hits; a shorter guard keeps its records."""
    matcher = RecordMatcher(PACK.rules)
    exact = per_hit_checks(matcher.queries)
    joined = {(rule.id, check.name) for rule in PACK.rules for check in rule.checks.values()
              if getattr(check, "near", None) is not None}
    guarded = {(rule.id, check.name) for rule in PACK.rules for check in rule.checks.values()
               if getattr(check, "guard", None) is not None}
    assert joined and guarded, "the pack has joined and guarded checks"
    assert not joined & exact
    assert not guarded & exact
    assert all(check.guard.within >= FOLDABLE_GUARD_SECONDS for rule in PACK.rules
               for check in rule.checks.values() if getattr(check, "guard", None) is not None)
    assert not any(key[1].endswith(GUARD) for key in exact), "the pack's guards all fold"
    assert per_hit_checks([_guard_query(30.0)]) == {("WAA-TEST-001", "failure" + GUARD)}
    assert per_hit_checks([_guard_query(60.0)]) == frozenset()

    key = ("WAA-TEST-001", "failure" + GUARD)
    child = MatchStore.for_limits(Limits(max_exact_hits=5))
    child.exact_keys = per_hit_checks([_guard_query(30.0)])
    _add(child.accumulator(key), [BASE + index for index in range(50)])
    parent = MatchStore.for_limits(Limits(max_exact_hits=5))  # knows no checks: told by child
    parent.merge(pickle.loads(pickle.dumps(child)))
    assert parent.accumulators[key].folded is None
    assert len(parent.accumulators[key].times) == 50
    for other in [("WAA-NET-001", "wire_failure"), *sorted(guarded), *sorted(joined)]:
        assert other not in exact
        _add(parent.accumulator(other), [BASE + index for index in range(50)])
        assert parent.accumulators[other].folded is not None, other


def _outcomes(bundle: Path, cap: int) -> dict[str, tuple[bool, int, str, object, object]]:
    limits = Limits(max_exact_hits=cap)
    analysis = analyze_path(bundle, AnalyzeOptions(isolate=False, limits=limits))
    return {f"{outcome.rule.id}/{name}": (result.value, result.count, result.detail,
                                         result.first, result.last)
            for outcome in analysis.outcomes for name, result in outcome.checks.items()}


@pytest.mark.parametrize("mix, bulk", [("hit-heavy", "1"), ("standard", "1"),
                                       ("hit-heavy", "0")])
def test_folding_never_answers_fewer_and_is_exact_away_from_window_starts(
        mix: str, bulk: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same bundle with every hit kept and with hits folded past 20 per check (hits
    added in bulk, and one by one by the record path): every check that held is still true
    with at least as many hits; a check whose detail does not say a window's first minute
    was counted whole has the same answer and count."""
    monkeypatch.setenv("WAAGENT_ANALYZER_BULK", bulk)
    bundle = _mix_bundle(tmp_path, mix)
    exact = _outcomes(bundle, 10**9)
    folded = _outcomes(bundle, 20)
    assert exact.keys() == folded.keys()
    notes = [name for name, result in folded.items() if "counted per minute" in result[2]]
    assert notes, "some check folded its hits"
    for name, (value, count, _detail, first, last) in exact.items():
        folded_value, folded_count, folded_detail, folded_first, folded_last = folded[name]
        if value:
            assert folded_value, f"{name}: held with every hit kept, not once folded"
            assert folded_count >= count, name
        if "counted whole" not in folded_detail:
            assert (folded_value, folded_count) == (value, count), name
            if folded_value and "counted per minute" in folded_detail:
                assert (folded_first, folded_last) == (first, last), name


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 600), st.integers(0, 2)), max_size=60),
       st.integers(0, 600), st.integers(0, 2),
       st.sampled_from([None, 1, 30, 59, 60, 61, 300, 3600]))
@example([(0, 0), (50, 0)], 10, 0, 30)  # both ends in the start's minute, none within 30 s
def test_folded_ends_resolve_a_start_as_the_exact_ends_do(
        ends: list[tuple[int, int]], start: int, group: int, budget: int | None) -> None:
    """A start is resolved by an end of its group within its budget. Folded per minute, the
    answer is the exact one for budgets of a minute or more (and none); under a minute a
    start may be reported when an end did follow, never hidden when none did."""
    times = np.asarray([BASE + t + 0.5 for t, _ in ends], dtype=np.float64)
    groups = np.asarray([g for _, g in ends], dtype=np.int32)
    folded = Folded.of(times, groups)
    begin = BASE + start
    exact = any(g == group and begin <= t <= begin + (budget if budget is not None else 1e12)
                for t, g in zip(times.tolist(), groups.tolist(), strict=True))
    answer = folded.resolves(group, begin, budget)
    if budget is None or budget >= 60:
        assert answer == exact
    else:
        assert not answer or exact


def test_sequence_ends_and_guard_records_past_the_cap_fold_short_guards_never() -> None:
    store = MatchStore.for_limits(Limits(max_exact_hits=10))
    store.exact_keys = per_hit_checks([*RecordMatcher(PACK.rules).queries, _guard_query(30.0)])
    plain = store.sequence(("WAA-GS-001", "unrecovered"))
    plain.add_ends_bulk(array("d", [BASE + i for i in range(100)]))
    assert plain.folded_ends is not None and len(plain.end_times) <= 10
    long_guard = store.sequence(("WAA-DHCP-001", "endpoint_wrapper" + GUARD))
    long_guard.add_ends_bulk(array("d", [BASE + i for i in range(100)]))
    assert long_guard.folded_ends is not None and len(long_guard.end_times) <= 10
    short = ("WAA-TEST-001", "failure" + GUARD)
    short_guard = store.sequence(short)
    short_guard.add_ends_bulk(array("d", [BASE + i for i in range(100)]))
    assert short_guard.folded_ends is None and len(short_guard.end_times) == 100
    parent = MatchStore.for_limits(Limits(max_exact_hits=10))
    parent.merge(pickle.loads(pickle.dumps(store)))
    assert parent.sequences[short].folded_ends is None
    assert parent.sequences[("WAA-GS-001", "unrecovered")].folded_ends.total == 100


_MINUTES = st.lists(st.tuples(st.integers(0, 900), st.integers(0, 2)), max_size=40)


@settings(max_examples=400, deadline=None)
@given(_MINUTES, _MINUTES, st.sampled_from([60.0, 90.0, 120.0, 600.0]), st.booleans())
def test_guard_records_folded_per_minute_explain_as_every_record(
        guards: list[tuple[int, int]], records: list[tuple[int, int]], within: float,
        same_group: bool) -> None:
    """A guard of a minute or more gives every record the same answer from its records
    folded per minute (each row's first and last) as from all of them; a row of hits that
    ``covers`` drops is explained record by record."""
    guard = Guard("x", within, same_group)
    times = np.asarray([BASE + t + 0.5 for t, _ in guards], dtype=np.float64)
    groups = np.asarray([g for _, g in guards], dtype=np.int64)
    every = GuardRecords(times, groups)
    folded = Folded.of(times, groups.astype(np.int32))
    rows = GuardRecords(np.concatenate((folded.first, folded.last)),
                        np.tile(folded.groups.astype(np.int64), 2))
    hit_times = np.asarray([BASE + t for t, _ in records], dtype=np.float64)
    hit_groups = np.asarray([g for _, g in records], dtype=np.int64)
    assert (rows.explains(hit_times, hit_groups, guard).tolist()
            == every.explains(hit_times, hit_groups, guard).tolist())
    hits = Folded.of(hit_times, hit_groups.astype(np.int32))
    covered = rows.covers(hits.first, hits.last, hits.groups, guard)
    for row in np.flatnonzero(covered).tolist():
        inside = ((hit_times >= hits.first[row]) & (hit_times <= hits.last[row])
                  & (hit_groups == hits.groups[row]))
        assert every.explains(hit_times[inside], hit_groups[inside], guard).all()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 900), st.integers(0, 3)), max_size=50),
       st.lists(st.tuples(st.integers(0, 900), st.integers(0, 3)), max_size=40),
       st.lists(st.tuples(st.integers(0, 900), st.integers(0, 3)), max_size=40),
       st.sampled_from([None, 60, 300, 3600]))
def test_starts_resolved_all_at_once_as_one_by_one(
        starts: list[tuple[int, int]], ends: list[tuple[int, int]],
        folded_ends: list[tuple[int, int]], budget: int | None) -> None:
    """The sequence check resolves every start of a group with one array search: each
    answer is the one a start on its own gets from its group's first end at or after it
    (within the budget), or from the ends folded per minute past the exact cap."""
    from analyzer.engine.checks.sequence import _resolved

    start_times = np.asarray([BASE + t for t, _ in starts], dtype=np.float64)
    start_groups = np.asarray([g for _, g in starts], dtype=np.int32)
    wanted = np.asarray([t % 7 != 3 for t, _ in starts], dtype=bool)  # some already explained
    by_group: dict[int, list[float]] = {}
    for t, g in sorted(ends):
        by_group.setdefault(g, []).append(BASE + t + 0.25)
    arrays = {g: np.asarray(times) for g, times in by_group.items()}
    folded = (Folded.of(np.asarray([BASE + t + 0.5 for t, _ in folded_ends]),
                        np.asarray([g for _, g in folded_ends], dtype=np.int32))
              if folded_ends else None)
    got = _resolved(start_times, start_groups, wanted, arrays, folded, budget)
    for index, (begin, group) in enumerate(zip(start_times.tolist(), start_groups.tolist(),
                                               strict=True)):
        if not wanted[index]:
            assert not got[index]
            continue
        later = [t for t in by_group.get(group, []) if t >= begin]
        expected = bool(later) and (budget is None or later[0] - begin <= budget)
        if folded is not None and not expected:
            expected = folded.resolves(group, begin, budget)
        assert got[index] == expected, (index, begin, group)


def test_a_guard_heavy_log_folded_answers_as_every_record_kept(tmp_path: Path) -> None:
    """Protocol-detection failures each after an endpoint line for an hour, then alone for
    another: folded past 20 records per check, the guarded checks give the same answers,
    and never fewer unexplained hits."""
    from tests.engine.test_bulk import _agent_log_bundle, guard_heavy_lines

    bundle = _agent_log_bundle(tmp_path, guard_heavy_lines())
    exact = _outcomes(bundle, 10**9)
    folded = _outcomes(bundle, 20)
    guarded = [name for name in exact if name.startswith("WAA-DHCP-001/")]
    assert exact["WAA-DHCP-001/endpoint_wrapper"][0], "the unexplained hour is found"
    assert "more explained" in exact["WAA-DHCP-001/endpoint_wrapper"][2]
    for name in guarded:
        value, count = exact[name][:2]
        assert folded[name][0] == value, name
        assert folded[name][1] >= count, name
    assert "more explained" in folded["WAA-DHCP-001/endpoint_wrapper"][2]


def test_a_near_join_past_the_cap_counts_every_hit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the cap, the joined check folds and both sides of the join stop: it answers
    with at least the hits the full join finds (every hit, the detail says why), and with
    none when no partner record was ever seen."""
    from tests.engine.test_bulk import _agent_log_bundle, near_heavy_lines

    name = "WAA-EXT-013/manifest_unreachable"
    answered = _agent_log_bundle(tmp_path, near_heavy_lines(18000))
    exact = _outcomes(answered, 10**9)
    folded = _outcomes(answered, 20)
    assert exact[name][0] and 0 < exact[name][1] < 6000, exact[name]
    assert folded[name][0] and folded[name][1] == 6000, "every failure counts past the cap"
    assert "not each checked for a neighbour" in folded[name][2]
    assert "not each checked" not in exact[name][2]

    silent = tmp_path / "silent"
    silent.mkdir()
    unanswered = _agent_log_bundle(silent, near_heavy_lines(18000, answers=False))
    for cap in (10**9, 20):
        assert not _outcomes(unanswered, cap)[name][0], cap



def test_join_sides_stop_at_the_cap_when_filled_and_when_merged() -> None:
    """A side of a join keeps its first ``max_exact_hits`` records, in a member's delta and
    in the parent that merges the deltas, and counts the rest."""
    key = ("WAA-EXT-013", "manifest_unreachable#anchor")
    children = []
    for member in ("a.log", "b.log"):
        child = MatchStore.for_limits(Limits(max_exact_hits=20))
        side = child.neighbour(key)
        for line in range(15):
            side.add(BASE + line, member, line + 1, {"n": str(line)})
        side.add_bulk(array("d", [BASE + 20.0] * 10), member, array("q", range(100, 110)),
                      lambda position: {"bulk": str(position)})
        assert (len(side.times), side.dropped) == (20, 5)
        children.append(pickle.loads(pickle.dumps(child)))
    parent = MatchStore.for_limits(Limits(max_exact_hits=20))
    for child in children:
        parent.merge(child)
    merged = parent.neighbours[key]
    assert (len(merged.times), len(merged.lines), len(merged.members)) == (20, 20, 20)
    assert merged.dropped == 5 + 25
    assert merged.member_of(0) == "a.log" and max(merged.captures) < 20


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.just(NO_MINUTE), st.integers(-10, 10),
                                    st.integers(0, 1 << 40)),
                          st.integers(-1, MAX_GROUPS - 1)), max_size=60))
def test_folded_rows_are_ordered_as_by_minute_then_group(rows: list[tuple[int, int]]) -> None:
    """The combined-key sort that folds hits orders rows exactly as a lexsort by minute,
    then group, ties in their first order (undated rows first), whatever the minutes."""
    minutes = np.asarray([minute for minute, _ in rows], dtype=np.int64)
    groups = np.asarray([group for _, group in rows], dtype=np.int32)
    assert _minute_group_order(minutes, groups).tolist() == np.lexsort(
        (groups, minutes)).tolist()


def _folded_by_lexsort(times: np.ndarray, groups: np.ndarray) -> tuple[list[Any], ...]:
    """Rows per (minute, group) worked out the plain way: a lexsort, then each run's
    count, first and last time."""
    dated = times != NO_TIME
    minutes = np.full(len(times), NO_MINUTE, dtype=np.int64)
    minutes[dated] = np.floor(times[dated] / 60.0).astype(np.int64)
    order = np.lexsort((groups, minutes))
    rows: dict[tuple[int, int], list[float]] = {}
    for index in order.tolist():
        rows.setdefault((int(minutes[index]), int(groups[index])), []).append(
            float(times[index]))
    keys = list(rows)
    return ([key[0] for key in keys], [key[1] for key in keys],
            [len(found) for found in rows.values()], [min(found) for found in rows.values()],
            [max(found) for found in rows.values()])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.just(NO_TIME),
                                    st.floats(BASE - 600, BASE + 86_400, allow_nan=False)),
                          st.integers(0, 5)), max_size=200),
       st.booleans())
def test_folding_hits_counts_each_minute_and_group_once(hits: list[tuple[float, int]],
                                                        in_time_order: bool) -> None:
    """Hits in any order, undated ones too, fold to the rows a plain sort gives: one per
    minute and group with its count, first and last time."""
    if in_time_order:
        hits = sorted(hits, key=lambda hit: (hit[0], hit[1]))
    times = np.asarray([hit[0] for hit in hits], dtype=np.float64)
    groups = np.asarray([hit[1] for hit in hits], dtype=np.int32)
    folded = Folded.of(times, groups)
    assert tuple(column.tolist() for column in folded.columns()) == \
        _folded_by_lexsort(times, groups)
    assert folded.counts.dtype == np.int64 and folded.groups.dtype == np.int32
