"""The prefiltered scanner finds exactly the records a full parse would, at any chunk size."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.engine.regex import compile_prefilter
from analyzer.errors import BundleError
from analyzer.parse import logscan
from analyzer.parse.logscan import LogScanner
from analyzer.parse.logsources import grammar_for
from analyzer.parse.waagent_log import iter_records

LINES = [
    "2024-01-31T10:00:00.000000Z INFO ExtHandler ExtHandler ProcessExtensionsGoalState started",
    "2024-01-31T10:00:01.000000Z WARNING ExtHandler ExtHandler Fetch failed: [HttpError] "
    "[HTTP Failed] GET http://168.63.129.16/machine/?comp=goalstate -- IOError timed out",
    "Traceback (most recent call last):",
    '  File "x.py", line 1, in <module>',
    "2021/03/30 19:35:35.971742 INFO Daemon Azure Linux Agent Version:2.2.45",
    "2024-01-31T10:00:02.000000Z ERROR ExtHandler ExtHandler Event: name=X, op=Enable, "
    "message=Non-zero exit code: 3, duration=0",
    "[stderr]",
    "ModuleNotFoundError: No module named 'imp'",
    "2016/03/01 10:00:05 ERROR:HTTP Err: Status=503",
]
NEEDLES = ("IOError", "No module named", r"HTTP Err: Status=\d+")


def scan(data: bytes, chunk: int) -> list[tuple[int, int, str]]:
    found = []
    scanner = LogScanner(
        "m",
        "waagent_log",
        grammar_for("waagent_log"),
        compile_prefilter(NEEDLES),
        lambda r: found.append(r),
    )
    scanner.scan(io.BytesIO(data), chunk_bytes=chunk)
    return [(r.line, r.end_line, r.message) for r in found]


def full(data: bytes) -> list[tuple[int, int, str]]:
    needle = re.compile("|".join(NEEDLES))
    return [
        (r.line, r.end_line, r.message)
        for r in iter_records([data], "m", "waagent_log")
        if needle.search(r.message)
    ]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(LINES), max_size=40), st.integers(min_value=16, max_value=400))
def test_scanner_matches_full_parse_at_any_chunk_size(lines: list[str], chunk: int) -> None:
    data = ("\n".join(lines) + "\n").encode()
    assert scan(data, chunk) == full(data)


def test_line_numbers_and_stats() -> None:
    data = ("\n".join(LINES) + "\n").encode() * 3
    hits = scan(data, 64)
    assert [h[0] for h in hits] == [2, 6, 9, 11, 15, 18, 20, 24, 27]
    scanner = LogScanner("m", "waagent_log", grammar_for("waagent_log"), None, lambda r: None)
    stats = scanner.scan(io.BytesIO(data), chunk_bytes=100)
    assert stats.lines == 27
    assert stats.first_timestamp == datetime(2016, 3, 1, 10, 0, 5, tzinfo=UTC)
    assert stats.last_timestamp == datetime(2024, 1, 31, 10, 0, 2, tzinfo=UTC)


def test_hourly_counts_for_the_timeline() -> None:
    data = ("\n".join(LINES) + "\n").encode()
    scanner = LogScanner(
        "m", "waagent_log", grammar_for("waagent_log"), None, lambda r: None, timeline=True
    )
    stats = scanner.scan(io.BytesIO(data))
    assert stats.hourly[("2024-01-31T10", "WARNING")] == 1
    assert stats.hourly[("2021-03-30T19", "INFO")] == 1
    assert stats.hourly[("2024-01-31T10", "ERROR")] == 1


def test_shell_log_is_one_record_per_line() -> None:
    data = (
        b"Mon Nov 18 00:05:10 UTC 2019- python version unknown\n"
        b"Mon Nov 18 00:05:10 UTC 2019- 3 returned from handle.py\n"
    )
    found = []
    scanner = LogScanner(
        "m",
        "vmsnapshot_shell_log",
        grammar_for("vmsnapshot_shell_log"),
        compile_prefilter(("returned from handle",)),
        found.append,
    )
    scanner.scan(io.BytesIO(data))
    assert [(r.line, r.message) for r in found] == [(2, "3 returned from handle.py")]
    assert found[0].timestamp == datetime(2019, 11, 18, 0, 5, 10, tzinfo=UTC)


def test_giant_line_without_newline_stays_bounded() -> None:
    data = b"2024-01-31T10:00:00.000000Z INFO ExtHandler ExtHandler IOError " + b"x" * 3_000_000
    found = []
    scanner = LogScanner(
        "m",
        "waagent_log",
        grammar_for("waagent_log"),
        compile_prefilter(NEEDLES),
        found.append,
        max_line_bytes=1000,
        max_record_bytes=10_000,
    )
    scanner.scan(io.BytesIO(data), chunk_bytes=65536)
    assert len(found) == 1
    assert len(found[0].message) < 1000
    assert "truncated_line" in found[0].flags


def _regions_by_joining(scanner: LogScanner, data: bytes, chunk: int) -> list[bytes]:
    """The cut as it was first written: the carry joined to each chunk, then cut."""
    stream, carry, regions = io.BytesIO(data), b"", []
    while True:
        piece = stream.read(chunk)
        joined = carry + piece
        if not joined:
            return regions
        cut = len(joined) if not piece else scanner._cut_point(joined)
        if joined[:cut]:
            regions.append(joined[:cut])
        carry = joined[cut:]
        if not piece:
            return regions


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*LINES, "  continuation", "Traceback (most recent call):",
                                 "2024-01-31T10:00:0", ""]), max_size=80),
       st.integers(min_value=8, max_value=400), st.integers(min_value=1, max_value=400))
def test_regions_are_cut_as_when_the_carry_was_joined_first(lines: list[str], chunk: int,
                                                             piece: int) -> None:
    """A region is the carry and the chunk's pieces joined once: the same regions as
    reading the chunk whole, joining the carry to it, then cutting."""
    data = "\n".join(lines).encode()
    scanner = LogScanner("m", "waagent_log", grammar_for("waagent_log"), None, lambda r: None)
    saved, logscan.PIECE_BYTES = logscan.PIECE_BYTES, piece
    try:
        regions = list(scanner._regions(io.BytesIO(data), chunk))
    finally:
        logscan.PIECE_BYTES = saved
    assert regions == _regions_by_joining(
        LogScanner("m", "waagent_log", grammar_for("waagent_log"), None, lambda r: None),
        data, chunk)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([*LINES, "  continuation", "Traceback (most recent call):",
                                 ""]), max_size=80),
       st.integers(min_value=8, max_value=400))
def test_a_member_read_in_one_go_goes_to_the_planners_in_two_halves(lines: list[str],
                                                                    chunk: int) -> None:
    """With a bulk planner, a member that fits one read is cut once more, at a record start
    near its middle, so two planners share it: the same bytes in the same order, every
    other cut where it was. A longer member, or no planner: nothing changes."""
    data = "\n".join(lines).encode()
    plain = LogScanner("m", "waagent_log", grammar_for("waagent_log"), None, lambda r: None)
    shared = LogScanner("m", "waagent_log", grammar_for("waagent_log"), None, lambda r: None,
                        bulk=lambda region, first: (lambda line: None))
    saved, logscan.SPLIT_BYTES = logscan.SPLIT_BYTES, 16
    try:
        whole = list(plain._regions(io.BytesIO(data), chunk))
        halved = list(shared._regions(io.BytesIO(data), chunk))
    finally:
        logscan.SPLIT_BYTES = saved
    assert b"".join(halved) == b"".join(whole) == data
    extra = len(halved) - len(whole)
    assert extra in (0, 1)
    if len(data) >= chunk:
        assert extra == 0, "read in more than one go: the regions are as they were"
    if extra:
        last = next(i for i, (a, b) in enumerate(zip(whole, halved, strict=False)) if a != b)
        first_half, second_half = halved[last], halved[last + 1]
        assert first_half + second_half == whole[last]
        assert shared._is_record_start(second_half, 0)
        assert len(first_half) <= len(whole[last]) // 2


class _FailingAfter(io.BytesIO):
    """Gives ``good`` bytes in small reads, then fails like a budget stopping the read."""

    def __init__(self, data: bytes, good: int) -> None:
        super().__init__(data[:good])
        self.failed = False

    def read(self, size: int | None = -1, /) -> bytes:
        piece = super().read(min(size if size is not None and size >= 0 else 7, 7))
        if not piece:
            self.failed = True
            raise BundleError("stopped: the budget ran out")
        return piece


def test_a_read_failing_mid_chunk_hands_on_what_came_before_it() -> None:
    """The pieces read before a failing read are cut and scanned, then the error goes up."""
    data = "\n".join(LINES * 3).encode() + b"\n"
    scanner = LogScanner("m", "waagent_log", grammar_for("waagent_log"), None, lambda r: None)
    stream = _FailingAfter(data, len(data) // 2)
    regions: list[bytes] = []
    with pytest.raises(BundleError, match="budget"):
        for region in scanner._regions(stream, 1 << 20):
            regions.append(region)
    assert stream.failed
    kept = b"".join(regions)
    assert kept and data.startswith(kept)  # read in one chunk: dropped pieces leave nothing
