"""What a chunk's line starts say (analyzer/engine/heads.py): the compiled pass and the numpy
reference agree on every bit and time, on stamps that exist and on near misses, and neither
reads past the region."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.engine import heads
from analyzer.engine.distinct import native_line_heads
from analyzer.engine.heads import WINDOW, line_heads, numpy_heads
from analyzer.parse.timeutil import FIRST_YEAR, LAST_YEAR

G4, DASH, LEVEL, VALID = heads.HEAD_G4, heads.HEAD_DASH, heads.HEAD_LEVEL, heads.HEAD_VALID
DASH_SPACE, SLASH_SPACE = heads.HEAD_DASH_SPACE, heads.HEAD_SLASH_SPACE
MAY_OPEN = heads.HEAD_MAY_OPEN

_PAD = bytes(2 * WINDOW)


def _chunk(lines: list[bytes]) -> tuple[bytes, np.ndarray]:
    """The lines joined by newlines, followed by zero padding, and each line's start."""
    starts, at = [], 0
    for line in lines:
        starts.append(at)
        at += len(line) + 1
    return b"\n".join(lines) + b"\n" + _PAD, np.array(starts, dtype=np.int64)


def _both(lines: list[bytes]) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    region, starts = _chunk(lines)
    native = native_line_heads(region, starts, FIRST_YEAR, LAST_YEAR, native=True)
    assert native is not None
    padded = np.lib.stride_tricks.sliding_window_view(np.frombuffer(region, np.uint8), WINDOW)
    return native, numpy_heads(padded[starts])


def _stamp(year: int, month: int, day: int, hour: int, minute: int, second: int,
           micro: int, middle: str) -> bytes:
    return (f"{year:04d}-{month:02d}-{day:02d}{middle}{hour:02d}:{minute:02d}:{second:02d}."
            f"{micro:06d}").encode()


_AFTER_STAMP = [b"Z INFO ExtHandler ExtHandler go", b"Z VERBOSE Daemon x", b"Z WARNING y",
                b"Z ERROR z", b"Z ERRORS z", b"Z INF", b" [Microsoft.X-1.0]msg", b" [", b" x",
                b"Z", b"", b"ZINFO "]


def _field(draw: st.DrawFn, low: int, high: int, edges: list[int]) -> int:
    """A stamp field: mostly an edge of its range (where a wrong bound shows), else any."""
    return draw(st.one_of(st.sampled_from(edges), st.sampled_from(edges),
                          st.integers(low, high)))


@st.composite
def _line(draw: st.DrawFn) -> bytes:
    """A line start near a header: a stamp (whose date may not exist: hour 24, 30 February,
    years outside the parser's range), one of its separators swapped, a level word or its
    near miss after it; or a syslog month, a continuation, random bytes."""
    kind = draw(st.sampled_from(["stamp", "other"]))
    if kind == "other":
        return draw(st.sampled_from([b"Jan  1 10:00:00 vm waagent: x", b"  File \"x.py\"",
                                     b"jan 1", b"\xef\xbb\xbf2024", b"Traceback", b"", b"9",
                                     b"2024/01/31 10:00:00 x", b"2024-01-31 10:00:00 x",
                                     b"\xff\x00abc"])) + draw(st.binary(max_size=30))
    stamp = _stamp(_field(draw, 0, 9999, [FIRST_YEAR - 1, FIRST_YEAR, LAST_YEAR,
                                          LAST_YEAR + 1, 1900, 2000, 2023, 2024, 2100]),
                   _field(draw, 0, 99, [0, 1, 2, 12, 13]),
                   _field(draw, 0, 99, [0, 1, 28, 29, 30, 31, 32]),
                   _field(draw, 0, 99, [0, 23, 24]), _field(draw, 0, 99, [0, 59, 60]),
                   _field(draw, 0, 99, [0, 59, 60]), draw(st.integers(0, 999_999)),
                   draw(st.sampled_from(["T", "T", " ", "t", "/"])))
    if draw(st.integers(0, 4)) == 0:  # one byte swapped for another
        at = draw(st.integers(0, len(stamp) - 1))
        stamp = stamp[:at] + bytes([draw(st.integers(0, 255))]) + stamp[at + 1:]
    return stamp + draw(st.sampled_from(_AFTER_STAMP)) + draw(st.binary(max_size=10))


@settings(max_examples=300, deadline=None)
@given(st.lists(_line(), min_size=1, max_size=60))
def test_compiled_and_numpy_heads_agree(lines: list[bytes]) -> None:
    lines = [line.replace(b"\n", b" ") for line in lines]
    (native_flags, native_micros), (numpy_flags, numpy_micros) = _both(lines)
    assert native_flags.tolist() == numpy_flags.tolist()
    assert native_micros.tolist() == numpy_micros.tolist()


def test_a_g4_line_with_a_level_word() -> None:
    flags, micros = _both([b"2024-02-29T23:59:59.999999Z INFO ExtHandler ExtHandler go"])[0]
    assert flags[0] == G4 | LEVEL | VALID | MAY_OPEN
    expected = datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC).timestamp()
    assert micros[0] / 1e6 == expected


@pytest.mark.parametrize("line,expected", [
    (b"2023-02-29T10:00:00.000000Z INFO x", G4 | LEVEL | MAY_OPEN),
    (b"2024-01-01T24:00:00.000000Z ERROR x", G4 | LEVEL | MAY_OPEN),
    (b"2024-01-01T23:60:00.000000Z ERROR x", G4 | LEVEL | MAY_OPEN),
    (b"2024-01-01T23:59:60.000000Z ERROR x", G4 | LEVEL | MAY_OPEN),
    (b"2024-13-01T23:59:59.000000Z ERROR x", G4 | LEVEL | MAY_OPEN),
    (b"2024-04-31T23:59:59.000000Z ERROR x", G4 | LEVEL | MAY_OPEN),
    (b"2024-01-00T23:59:59.000000Z ERROR x", G4 | LEVEL | MAY_OPEN),
    (b"1899-12-31T23:59:59.000000Z ERROR x", G4 | LEVEL | MAY_OPEN),
    (b"2000-02-29T23:59:59.000000Z ERROR x",
     G4 | LEVEL | VALID | MAY_OPEN),
    (b"2024-01-31T10:00:00.000000Z INFOx", G4 | VALID | MAY_OPEN),
    (b"2024-01-31 10:00:00.000000 [Microsoft.Azure-1.0]m",
     DASH | DASH_SPACE | VALID | MAY_OPEN),
    (b"2024-01-31 10:00:00 some layout", DASH_SPACE | MAY_OPEN),
    (b"2024/01/31 10:00:00 some layout", SLASH_SPACE | MAY_OPEN),
    (b"Jan 31 10:00:00 vm waagent[1]: x", MAY_OPEN),
    (b"\xc3\xa9t\xc3\xa9", MAY_OPEN),
    (b"    at continuation", 0),
    (b"jan 31 lower-case month", 0),
])
def test_what_a_line_start_says(line: bytes, expected: int) -> None:
    native, reference = _both([line])
    assert native[0][0] == expected
    assert reference[0][0] == expected
    assert (native[1][0] != 0) == bool(expected & VALID)


@pytest.mark.parametrize("start", [-1, 61])
def test_a_line_start_whose_window_passes_the_region_is_refused(start: int) -> None:
    region = b"x" * 100
    with pytest.raises(ValueError):
        native_line_heads(region, np.array([0, start], dtype=np.int64), FIRST_YEAR,
                          LAST_YEAR, native=True)


def test_the_numpy_path_refuses_it_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from analyzer.engine import distinct

    monkeypatch.setattr(distinct, "_distinct", None)
    with pytest.raises(ValueError):
        line_heads(b"x" * 100, [0, 61])
    flags, _ = line_heads(b"2024/01/31 10:00:00 x" + bytes(100), [0])
    assert flags.tolist() == [SLASH_SPACE | MAY_OPEN]
