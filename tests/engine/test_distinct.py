"""The bulk path's keying (analyzer/engine/distinct.py): the compiled table and the Python
dictionary number a chunk's distinct records alike, and neither reads outside the chunk."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.engine import distinct
from analyzer.engine.distinct import distinct_ranges, native_available


def test_the_install_compiled_the_keying() -> None:
    # The benchmark's numbers are measured with it; an install that silently lost its
    # compiler would be slower on every dense log without any other test noticing.
    assert native_available()


def _rows(draw: Any) -> tuple[bytes, list[int], list[int], list[int]]:
    """A region made of a few repeated words, and rows over it that often hold equal bytes
    at different places (and equal prefixes with different ends)."""
    words = draw(st.lists(st.binary(min_size=0, max_size=20), min_size=1, max_size=6))
    picks = draw(st.lists(st.integers(0, len(words) - 1), min_size=1, max_size=300))
    region = b"".join(words[i] for i in picks)
    starts, ends = [], []
    for _ in range(draw(st.integers(0, 400))):
        start = draw(st.integers(0, len(region)))
        starts.append(start)
        ends.append(draw(st.integers(start, min(len(region), start + 40))))
    tags = draw(st.lists(st.integers(0, 255), min_size=len(starts), max_size=len(starts)))
    return region, starts, ends, tags


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_compiled_and_python_keying_agree(data: st.DataObject) -> None:
    region, starts, ends, tags = _rows(data.draw)
    native = distinct_ranges(region, starts, ends, tags, native=True)
    python = distinct_ranges(region, starts, ends, tags, native=False)
    for a, b in zip(native, python, strict=True):
        assert a.tolist() == b.tolist()
    codes, firsts, tags_of = native
    keys = [region[s:e] for s, e in zip(starts, ends, strict=True)]
    # Codes in order of first sight, equal exactly where the bytes are.
    assert [keys.index(key) for key in keys] == firsts[codes].tolist()
    assert firsts.tolist() == sorted(set(firsts.tolist()))
    expected_tags = [0] * len(firsts)
    for code, tag in zip(codes.tolist(), tags, strict=True):
        expected_tags[code] |= tag
    assert tags_of.tolist() == expected_tags


def test_rows_that_differ_in_their_last_byte_or_length_stay_apart() -> None:
    region = b"0123456789abcdef" * 4 + b"0123456789abcdeX" + b"0123456789abcdef0"
    starts = [0, 16, 64, 80, 80, 0]
    ends = [16, 32, 80, 96, 97, 15]
    codes, firsts, _ = distinct_ranges(region, starts, ends, [0] * 6, native=True)
    assert codes.tolist() == [0, 0, 1, 0, 2, 3]
    assert firsts.tolist() == [0, 2, 4, 5]


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("start,end", [(-1, 4), (5, 4), (0, 11), (11, 12)])
def test_a_range_outside_the_region_is_refused_not_read(native: bool, start: int,
                                                        end: int) -> None:
    with pytest.raises(ValueError):
        distinct_ranges(b"0123456789", [0, start], [3, end], [0, 0], native=native)


def test_arrays_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError):
        distinct_ranges(b"0123456789", [0, 1], [3], [0, 0], native=True)


def test_when_the_table_gives_up_the_chunk_is_keyed_in_python(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows built to collide under the compiled hash cost at most the probe budget there; the
    chunk is then keyed by the dictionary, with the same answer."""
    region = b"".join(b"record %05d\n" % (i % 2500) for i in range(5000))
    starts = np.arange(0, len(region), 13)
    ends = starts + 12
    tags = np.ones(len(starts), dtype=np.uint8)
    expected = distinct_ranges(region, starts, ends, tags, native=False)
    python_calls: list[int] = []
    python_ranges = distinct._python_ranges

    def counted(*args: Any) -> Any:
        python_calls.append(1)
        return python_ranges(*args)

    monkeypatch.setattr(distinct, "_python_ranges", counted)
    distinct_ranges(region, starts, ends, tags)
    assert python_calls == []  # random rows fit the budget
    monkeypatch.setattr(distinct, "_probe_budget", lambda rows: 0)  # the first collision
    got = distinct_ranges(region, starts, ends, tags)
    assert python_calls == [1]
    for a, b in zip(got, expected, strict=True):
        assert a.tolist() == b.tolist()
    assert len(got[1]) == 2500


def test_a_module_built_from_older_source_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    class Stale:
        VERSION = distinct.NATIVE_VERSION - 1

        @staticmethod
        def distinct_ranges(*args: Any) -> Any:
            raise AssertionError("a stale module was called")

    monkeypatch.setattr(distinct, "_distinct", Stale)
    assert not native_available()
    codes, firsts, _ = distinct_ranges(b"abab", [0, 2], [2, 4], [0, 0])
    assert codes.tolist() == [0, 0] and firsts.tolist() == [0]


def test_the_compiled_report_handler_keeps_what_the_python_one_does(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Hyperscan calls its handler once per literal found: the compiled one gives the same
    ends and expressions as the Python handler, in the same order."""
    from analyzer.engine.regex import LiteralScanner

    scanner = LiteralScanner((b"fetch failed", b"timed out", b"HTTP"), (1, 2, 4))
    text = b"".join(b"2024-01-01T00:00:%02dZ WARNING Fetch failed: [HTTP Failed] timed out %d\n"
                    % (i % 60, i) for i in range(3000))
    native_ends, native_groups = scanner.match_ends(text)
    monkeypatch.setattr(distinct, "_distinct", None)
    python_ends, python_groups = scanner.match_ends(text)
    assert len(native_ends) == 3 * 3000
    assert native_ends.tolist() == python_ends.tolist()
    assert native_groups.tolist() == python_groups.tolist()


def test_reports_are_taken_once_and_refuse_what_does_not_fit() -> None:
    reports = distinct.report_collector()
    reports(3, 0, 100, 0, None)
    reports(1, 0, 120, 0, None)
    assert np.frombuffer(reports.take(), dtype=np.int64).tolist() == [100 << 16 | 3,
                                                                       120 << 16 | 1]
    assert reports.take() == b""
    with pytest.raises(ValueError):
        reports(1 << 16, 0, 1, 0, None)
    with pytest.raises(TypeError):
        reports(1)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"\n", b"x", b"\r\n", b"line of text ", b"\x00", b"\n\n"]),
                max_size=400), st.data())
def test_compiled_and_numpy_newlines_agree(parts: list[bytes], data: st.DataObject) -> None:
    """Every newline of the first ``size`` bytes, none past them (a planner's chunk is
    followed by padding that is not the chunk's), in C and in numpy alike."""
    region = b"".join(parts) + b"\n\n"  # the padding may hold newlines: never reported
    size = data.draw(st.integers(0, len(region)))
    expected = [at for at in range(size) if region[at] == 10]
    for native in (True, False):
        found = distinct.newline_offsets(region, size, native=native)
        assert found.dtype == np.int64
        assert found.tolist() == expected


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("size", [-1, 11])
def test_a_newline_count_past_the_buffer_is_refused(native: bool, size: int) -> None:
    with pytest.raises(ValueError):
        distinct.newline_offsets(b"0123456789", size, native=native)


def _form_reference(record: bytes, tag: int, values: tuple[int, ...]
                    ) -> tuple[tuple[int, bytes] | None, int]:
    """(form key or None, message offset) as ``digit_forms`` defines them, in Python."""
    if not record or record[:1] == b"[":
        return None, -1
    parts = record.split(b" ", 3)
    if len(parts) < 4:
        return None, -1
    message = len(record) - len(parts[3])
    if tag not in values:
        return None, message
    zeroed = parts[3].translate(bytes.maketrans(b"123456789", b"0" * 9))
    return (tag, record[:message] + zeroed), message


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_digit_forms_number_records_alike_once_digits_read_as_zero(data: st.DataObject) -> None:
    words = data.draw(st.lists(st.sampled_from(
        [b"INFO", b" ", b"ExtHandler", b"[x]", b"12", b"7", b"0", b"ms", b"a", b"\n", b"-1.0.9",
         b"WARN x y "]),
        min_size=1, max_size=40))
    region = b"".join(words)
    starts, ends = [], []
    for _ in range(data.draw(st.integers(0, 60))):
        start = data.draw(st.integers(0, len(region)))
        starts.append(start)
        ends.append(data.draw(st.integers(start, len(region))))
    tags = data.draw(st.lists(st.sampled_from([0, 1, 3, 9, 255]), min_size=len(starts),
                              max_size=len(starts)))
    # The planner's (1, 0): records of a rule literal alone, and records of no literal.
    values = data.draw(st.sampled_from([(1,), (1, 0), (0,), (3, 0, 1)]))
    found = distinct.digit_forms(region, np.asarray(starts), np.asarray(ends), np.asarray(tags),
                                 values)
    assert found is not None
    forms, messages = found
    keys = []
    for at, (start, end, tag) in enumerate(zip(starts, ends, tags, strict=True)):
        key, message = _form_reference(region[start:end], tag, values)
        assert messages[at] == message
        keys.append(key)
    numbered = [k for k in dict.fromkeys(k for k in keys if k is not None)]
    assert forms.tolist() == [-1 if k is None else numbered.index(k) for k in keys]


def test_records_apart_in_their_header_digits_are_other_forms() -> None:
    # The header (an extension's version in the prefix) is read as it is.
    region = (b"INFO ExtHandler [Ext-1.0.9] done in 5 ms\n"
              b"INFO ExtHandler [Ext-1.0.8] done in 5 ms\n"
              b"INFO ExtHandler [Ext-1.0.9] done in 73 ms\n"
              b"INFO ExtHandler [Ext-1.0.9] done in 8 ms\n")
    starts = np.asarray([0, 41, 82, 124])
    ends = np.asarray([40, 81, 123, 164])
    found = distinct.digit_forms(region, starts, ends, np.ones(4, dtype=np.uint8), (1,))
    assert found is not None
    assert found[0].tolist() == [0, 1, 2, 0]  # 73 ms is one digit longer: another form


def test_forms_of_several_tag_values_are_apart_and_numbered_by_first_sight() -> None:
    # The planner forms records of a rule literal alone (1) and records of none (0): the
    # same bytes under the other tags are another form, and the numbers follow the rows.
    line = b"ERROR ExtHandler ExtHandler telemetry failed 7 times\n"
    other = b"INFO ExtHandler ExtHandler Collected CPU usage 12\n"
    region = line + line + other + other + line
    starts = np.cumsum([0, len(line), len(line), len(other), len(other)])
    ends = starts + np.asarray([len(line), len(line), len(other), len(other), len(line)]) - 1
    tags = np.asarray([0, 1, 1, 0, 0], dtype=np.uint8)
    found = distinct.digit_forms(region, starts, ends, tags, (1, 0))
    assert found is not None
    assert found[0].tolist() == [0, 1, 2, 3, 0]
    assert distinct.digit_forms(region, starts, ends, tags, (1,))[0].tolist() == [  # type: ignore[index]
        -1, 0, 1, -1, -1]


def test_digit_forms_give_up_past_their_probe_budget() -> None:
    """Rows built to collide cost at most the budget; the planner then decides each record
    (``digit_forms`` answers None)."""
    from analyzer.engine import _distinct  # type: ignore[attr-defined]

    region = b"".join(b"INFO a b message %c%c\n" % (65 + n % 26, 65 + n // 26 % 26)
                      for n in range(2000))
    starts = np.arange(0, len(region), 20, dtype=np.int64)  # each line, less its newline
    ends = starts + 19
    tags = np.ones(len(starts), dtype=np.uint8)
    assert _distinct.digit_forms(region, starts, ends, tags, 1, 254, 7, 0) is None
    found = _distinct.digit_forms(region, starts, ends, tags, 1, 254, 7, 10_000)
    assert found is not None
    assert len(set(np.frombuffer(found[0], dtype=np.int64).tolist())) == 26 * 26
