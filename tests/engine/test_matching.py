"""The match stores: bounded whatever the bundle, mergeable member by member, and the
sequence check decided on compact starts with evidence from a bounded sample."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from analyzer.engine.checks import CHECK_KINDS, EvalContext, SequenceCheck
from analyzer.engine.matching import Accumulator, Hit, MatchStore, SequenceStore, reads_digits
from analyzer.engine.regex import PatternError, compile_set
from analyzer.parse.records import Record, Tz
from analyzer.tables import BundleTables

T0 = datetime(2024, 1, 31, 10, 0, tzinfo=UTC)


def _record(line: int, message: str = "boom", member: str = "case!waagent.log") -> Record:
    return Record(member, "waagent_log", line, line, T0 + timedelta(seconds=line), Tz.UTC,
                  "ERROR", "ExtHandler", "ExtHandler", "", "", "G4", message, {}, ())


def test_sequence_store_keeps_every_start_time_but_few_records() -> None:
    store = SequenceStore(max_starts=100_000, samples=5)
    for line in range(1, 10_001):
        store.add(_record(line), {}, "", True)
    assert store.starts == 10_000
    sampled = store.sampled()
    assert len(sampled) <= 15
    assert set(range(5)) <= set(sampled)  # the first starts
    assert set(range(9_995, 10_000)) <= set(sampled)  # the last starts
    middle = sorted(i for i in sampled if 5 <= i < 9_995)
    assert middle and all(i % store.stride == 0 for i in middle)


def test_sequence_store_counts_what_its_cap_dropped() -> None:
    store = SequenceStore(max_starts=3, samples=2)
    for line in range(1, 6):
        store.add(_record(line), {}, "", True)
    assert (store.starts, store.starts_dropped) == (3, 2)


def test_merged_sequence_stores_keep_the_later_member_as_the_last_starts() -> None:
    first, second = SequenceStore(samples=2), SequenceStore(samples=2)
    for line in range(1, 6):
        first.add(_record(line), {}, "a", True)
    for line in range(6, 11):
        second.add(_record(line), {}, "b", True)
    second.add_end((T0 + timedelta(seconds=20)).timestamp(), "b")
    first.merge(second)
    assert first.starts == 10
    assert [first.sampled()[i].record.line for i in (8, 9)] == [9, 10]
    assert list(first.ends_by_group()) == [first.group_names["b"]]


def test_sequence_check_counts_all_unresolved_starts_and_shows_sampled_ones() -> None:
    """3,000 failures, the first 1,000 followed by a recovery: 2,000 violations counted from
    the compact starts, evidence taken from the kept records only."""
    store = MatchStore(samples=4)
    sequence = store.sequence(("R", "fail"))
    for line in range(1, 3_001):
        sequence.add(_record(line), {}, "", True)
        if line == 1_000:
            sequence.add_end((T0 + timedelta(seconds=1_000.5)).timestamp(), "")
    check = SequenceCheck("fail", pattern="boom", then="ok", within=None)
    result = CHECK_KINDS["sequence"].evaluate("R", check, EvalContext(BundleTables("x"), store))
    assert result.value and result.count == 2_000
    assert result.detail == "2000 of 3000 starts had no end at any later time"
    lines = [e.line for e in result.evidence]
    assert lines and all(line > 1_000 for line in lines) and lines[-1] == 3_000
    assert result.first == T0 + timedelta(seconds=1_001)


def test_accumulator_keeps_first_and_last_samples_across_members() -> None:
    early, late = Accumulator(), Accumulator()
    for line in range(1, 50):
        early.add(Hit(_record(line), {}), "")
    for line in range(50, 100):
        late.add(Hit(_record(line), {}), "")
    early.merge(late)
    assert early.count == 99 and len(early.times) == 99
    assert [h.record.line for h in early.samples()] == [1, 2, 3, 97, 98, 99]


def test_a_grouped_check_keeps_one_record_for_at_most_max_group_samples_groups() -> None:
    store = MatchStore(group_samples=50)
    accumulator = store.accumulator(("R", "grouped"))
    for line in range(1, 501):
        accumulator.add(Hit(_record(line, f"error {line}"), {}), f"group-{line}")
    assert accumulator.count == 500 and len(accumulator.group_names) == 500
    assert len(accumulator.group_samples) == 50
    later = MatchStore(group_samples=50)
    later.accumulator(("R", "grouped")).add(Hit(_record(501), {}), "group-501")
    store.merge(later)
    assert len(store.accumulators[("R", "grouped")].group_samples) == 50


def _merged_one_by_one(into: SequenceStore, other: SequenceStore) -> None:
    """Merging as adding each start and end of the later member in turn."""
    names = {index: name for name, index in other.group_names.items()}
    sampled = other.sampled()
    for index in range(other.starts):
        into._add_start(other.start_times[index],
                        into._group_index(names[other.start_groups[index]]),
                        other.start_lines[index], sampled.get(index))
    into.starts_dropped += other.starts_dropped
    for time, group in zip(other.end_times, other.end_groups, strict=True):
        into.add_end(time, names[group])


def test_merging_members_equals_reading_them_one_by_one() -> None:
    """Stores merged member by member (as the isolated reader's parent does) hold what
    adding the later member's records one by one gives: starts under the cap, group
    indices in order of first sight, ends, the sampled evidence, the group of every hit."""
    import random

    rnd = random.Random(11)
    members = [[(rnd.choice("abc"), rnd.random() < 0.6) for _ in range(rnd.randint(20, 60))]
               for _ in range(4)]
    merged = SequenceStore(max_starts=50, samples=3)
    reference = SequenceStore(max_starts=50, samples=3)
    whole_hits, merged_hits = Accumulator(), Accumulator()
    line = 0
    for member in members:
        part = SequenceStore(max_starts=50, samples=3)
        copy = SequenceStore(max_starts=50, samples=3)
        hits = Accumulator()
        for group, is_start in member:
            line += 1
            for store in (part, copy):
                store.add(_record(line, f"m {group}"), {}, group, is_start)
            for accumulator in (whole_hits, hits):
                accumulator.add(Hit(_record(line, f"m {group}"), {}), group)
        merged.merge(part)
        _merged_one_by_one(reference, copy)
        merged_hits.merge(hits)
    assert merged.starts_dropped > 0, "the cap is reached"
    for name in ("start_times", "start_lines", "start_groups", "end_times", "end_groups"):
        assert list(getattr(merged, name)) == list(getattr(reference, name)), name
    assert merged.group_names == reference.group_names
    assert merged.starts_dropped == reference.starts_dropped
    assert ({i: h.record.line for i, h in merged.sampled().items()}
            == {i: h.record.line for i, h in reference.sampled().items()})
    hit_names = {index: name for name, index in merged_hits.group_names.items()}
    whole_hit_names = {index: name for name, index in whole_hits.group_names.items()}
    assert ([hit_names[g] for g in merged_hits.groups]
            == [whole_hit_names[g] for g in whole_hits.groups])
    assert merged_hits.count == whole_hits.count == line


def test_queries_know_their_named_groups_and_compile_only_when_matched(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Building the shipped pack's queries compiles no pattern (a large bundle's reader
    forks its planners once they are built); whether a query captures is known from its
    text exactly as from the compiled pattern, and ``match`` compiles it when it must
    read the captures."""
    from analyzer.engine import matching
    from analyzer.engine.loader import default_rules_dir, load_rules
    from analyzer.engine.regex import compile_pattern
    from analyzer.settings import Limits

    compiled: list[str] = []
    monkeypatch.setattr(matching, "compile_pattern",
                        lambda pattern: compiled.append(pattern) or compile_pattern(pattern))
    rules = load_rules([default_rules_dir()]).rules
    queries = [q for kind in matching.RecordMatcher(rules, Limits()).by_kind.values()
               for q in kind if q.pattern]
    filters = ({p for q in queries for p in q.exclude}
               | {test[2].pattern for q in queries for test in q.where if test[2] is not None})
    assert set(compiled) <= filters  # an exclude or a where filter's regex, no query's own
    assert len(queries) > 100
    for query in queries:
        assert query.has_captures == bool(compile_pattern(query.pattern).groupindex), query
    capturing = next(q for q in queries if q.has_captures and not q.filter.where
                     and not q.exclude)
    record = Record("m", "waagent_log", 1, 1, None, Tz.NONE, "INFO", "ExtHandler",
                    "ExtHandler", "", "", "g4", "no such message", {}, ())
    compiled.clear()
    capturing.match(record)
    assert compiled == [capturing.pattern]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-1, 40), max_size=300))
def test_groups_are_listed_in_the_order_they_first_appear(values: list[int]) -> None:
    """Sequence stores merge group by group in the order each group first appears (as
    adding the records one by one would number them), small indices and -1 alike."""
    from array import array

    from analyzer.engine.matching import _first_seen

    assert _first_seen(array("i", values)) == list(dict.fromkeys(values))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 6), max_size=200), st.lists(st.integers(0, 3), max_size=5),
       st.dictionaries(st.integers(0, 6), st.integers(-1, 8), max_size=7), st.booleans())
def test_group_indices_of_a_later_member_are_renumbered_by_name(
        values: list[int], before: list[int], remap: dict[int, int], keep_all: bool) -> None:
    """A later member's group indices become the earlier ones' (-1 where its name found no
    room), whether the names come in the same order (kept as they are) or not."""
    from array import array

    from analyzer.engine.matching import _joined_remapped

    if keep_all:  # the same names in the same order: every index kept
        remap = {value: value for value in set(values)}
    target = array("i", before)
    joined = _joined_remapped(target, array("i", values), remap)
    assert joined.tolist() == before + [remap.get(value, -1) for value in values]
    assert joined.typecode == "i"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e6, allow_nan=False), st.sampled_from(["", "a", "b"])),
                max_size=60), st.booleans())
def test_a_sequences_ends_are_listed_per_group_in_time_order(
        ends: list[tuple[float, str]], in_time_order: bool) -> None:
    """Each group's ends, ascending, whether they came in order (one member's, one group)
    or not; groups named as the record path names them."""
    if in_time_order:
        ends = sorted(ends)
    store = SequenceStore()
    for time, group in ends:
        store.add_end(time, group)
    expected: dict[int, list[float]] = {}
    for time, group in ends:
        expected.setdefault(store.group_names[group], []).append(time)
    got = {group: times.tolist() for group, times in store.ends_by_group().items()}
    assert got == {group: sorted(times) for group, times in expected.items()}


_DIGIT_FREE = st.sampled_from([
    "a", "ms", "id", "_", ":", " ", "-", r"\.", r"\[", r"\]", "[a-z]", "[^a-f]", "[/-:]", "[^/-:]",
    r"\w", r"\W", r"\d", r"\D", r"\s", ".", r"\b", r"\B", "^", "$", "[[:digit:]]",
    "[[:alpha:]]", r"\pN", r"\pL", r"\x{FF}", r"\x{AB}",
])
_QUANTIFIER = st.sampled_from(["", "", "*", "+", "?", "*?"])


@st.composite
def _digit_free_patterns(draw: st.DrawFn) -> str:
    def atom() -> str:
        return draw(_DIGIT_FREE) + draw(_QUANTIFIER)
    branches = ["".join(atom() for _ in range(draw(st.integers(1, 5))))
                for _ in range(draw(st.integers(1, 3)))]
    flags = "(?i)" if draw(st.booleans()) else ""
    return flags + "(?:" + "|".join(branches) + ")"


@settings(max_examples=1500, deadline=None)
@given(_digit_free_patterns(), st.text(alphabet="ab0123456789 :-._[]msid\n", max_size=30))
def test_a_pattern_without_digits_answers_alike_with_digits_read_as_zero(
        pattern: str, text: str) -> None:
    """What lets the bulk planner decide a record once per digit form: a pattern holding no
    digit matches a message exactly when it matches it with every digit read as 0."""
    assert not reads_digits(pattern)
    try:
        pattern_set = compile_set((pattern,))
    except PatternError:  # a quantifier after an anchor RE2 refuses
        assume(False)
    assert pattern_set is not None
    message = text.encode()
    zeroed = message.translate(bytes.maketrans(b"123456789", b"0" * 9))
    assert bool(pattern_set.raw_match(message)) == bool(pattern_set.raw_match(zeroed))


@pytest.mark.parametrize("pattern", [r"Errno 113", "Enable,\\w+,[01],", r"\x31", r"\d{3}",
                                     r"[^0]", r"[0-5]"])
def test_a_pattern_that_may_tell_digits_apart_reads_them(pattern: str) -> None:
    assert reads_digits(pattern)
