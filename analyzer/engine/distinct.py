"""Distinct byte ranges of a chunk, numbered in order of first sight (the bulk path's keys).

The bulk planner decides each distinct record of a chunk once: it needs, for every row, the
number of the first row whose bytes (from ``starts[i]`` to ``ends[i]``) are the same. A dense
log's chunk has ~20,000 rows and a few hundred distinct records; keying them in Python costs
~0.25 µs a row (a slice, a bytes object, a hash and a dictionary step), a fifth of the hit-heavy
mix's planning. ``_distinct.c`` does the same in compiled code (~0.05 µs a row), built when
the package is installed (``hatch_build.py``); without a C compiler the Python keying below
gives the same answers, slower.

The answer never depends on which one ran, nor on the hash: rows are equal when their bytes
are, and codes are handed out in the order ranges are first seen. The compiled table gives up
after :data:`PROBE_BUDGET` probes per row (rows crafted to collide under its seeded hash) and
the chunk is keyed in Python instead, whose dictionary hash is randomised per process.
"""

from __future__ import annotations

import itertools
import secrets
from typing import Any

import numpy as np

try:
    from analyzer.engine import _distinct  # type: ignore[attr-defined]
except ImportError:  # no compiler at install time: the Python keying
    _distinct = None

NATIVE_VERSION = 5
"""The interface this module expects of ``_distinct`` (its ``VERSION``): an editable install
not rebuilt since the C source changed is ignored rather than trusted."""

PROBE_BUDGET = 16
"""Probes per row, on average over the chunk, before the compiled table gives up. Random rows
need about 1.5 (the table is at most half full)."""

_SEED = secrets.randbits(64)
"""The compiled hash's seed: rows cannot be built in advance to collide."""


def native_available() -> bool:
    """Whether the compiled module is installed and current."""
    return _distinct is not None and getattr(_distinct, "VERSION", None) == NATIVE_VERSION


def report_collector() -> Any:
    """A Hyperscan match handler written in C (``Reports``: ``take()`` gives each report's
    ``to << 16 | id`` as int64 bytes), or None without the compiled module. The binding calls
    its handler once per report; a Python one costs a frame each (a fifth of a verbose log's
    scan)."""
    return _distinct.Reports() if native_available() else None


def _use_native(native: bool | None) -> bool:
    """``native``: None means the compiled module when it is installed; False forces Python
    (the reference the tests compare against); True requires the compiled module."""
    if native is None:
        return native_available()
    if native and not native_available():
        raise RuntimeError("the compiled module (analyzer.engine._distinct) is not built")
    return native


def newline_offsets(region: bytes, size: int, native: bool | None = None) -> Any:
    """The offsets of the newline bytes of ``region[:size]`` (int64, ascending): in C with the
    compiled module (memchr from one newline to the next, ~4x faster than numpy's compare of
    every byte), in numpy otherwise. ``native`` as for :func:`distinct_ranges`."""
    if _use_native(native):
        return np.frombuffer(_distinct.newline_offsets(region, size), dtype=np.int64)
    if not 0 <= size <= len(region):
        raise ValueError(f"size {size} outside the region ({len(region)} bytes)")
    return np.flatnonzero(np.frombuffer(region, dtype=np.uint8, count=size) == 10)


def distinct_ranges(region: bytes, starts: Any, ends: Any, tags: Any,
                    native: bool | None = None) -> tuple[Any, Any, Any]:
    """``(codes, firsts, tags_of)``: each row's distinct code (int64), the first row of each
    code (int64, ascending), and the OR of each code's rows' ``tags`` (uint8).

    ``native``: as :func:`_use_native` reads it."""
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    ends = np.ascontiguousarray(ends, dtype=np.int64)
    tags = np.ascontiguousarray(tags, dtype=np.uint8)
    if _use_native(native):
        keyed = _distinct.distinct_ranges(region, starts, ends, tags, _SEED,
                                          _probe_budget(len(starts)))
        if keyed is not None:
            codes, firsts, tags_of = keyed
            return (np.frombuffer(codes, dtype=np.int64), np.frombuffer(firsts, dtype=np.int64),
                    np.frombuffer(tags_of, dtype=np.uint8))
    return _python_ranges(region, starts, ends, tags)


def _probe_budget(rows: int) -> int:
    return PROBE_BUDGET * rows + 1024


def _python_ranges(region: bytes, starts: Any, ends: Any, tags: Any) -> tuple[Any, Any, Any]:
    if len(starts) and (starts.min() < 0 or (starts > ends).any() or ends.max() > len(region)):
        raise ValueError("a range lies outside the region")
    index: dict[bytes, int] = {}
    rows = len(ends)
    # Loops in C over the rows (slice, cut, look up): each row gets the row number of the
    # first row with its bytes, which is then renumbered in order of first sight.
    firsts_of_rows = np.fromiter(map(index.setdefault, map(region.__getitem__, map(
        slice, starts.tolist(), ends.tolist())), itertools.count()),
        dtype=np.int64, count=rows)
    firsts = np.fromiter(index.values(), dtype=np.int64, count=len(index))
    number = np.empty(rows, dtype=np.int64)
    number[firsts] = np.arange(len(index))
    codes = number[firsts_of_rows]
    tags_of = np.zeros(len(index), dtype=np.uint8)
    np.bitwise_or.at(tags_of, codes, tags)
    return codes, firsts, tags_of


def digit_forms(region: bytes, starts: Any, ends: Any, tags: Any, tag_values: tuple[int, ...]
                ) -> tuple[Any, Any] | None:
    """``(forms, messages)`` of the ranges (each a G4 record's bytes after its stamp), or None
    without the compiled module (or when rows built to collide ran out its probe budget).

    ``forms[i]`` numbers, in order of first sight, the records alike once each digit of their
    message is read as ``0`` (the header, up to the third space, as it is) and whose tags are
    the same one of ``tag_values``; it is -1 for a range whose tags are none of them or that
    is no G4 record. ``messages[i]`` is the offset of the message in the range (-1: no G4
    record)."""
    if not native_available():
        return None
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    ends = np.ascontiguousarray(ends, dtype=np.int64)
    tags = np.asarray(tags)
    combined: Any = None
    messages: Any = None
    for slot, value in enumerate(tag_values):
        # One pass per tag value, over rows marked 1 where the tags are exactly that value;
        # a form's number then says which value it is of (``slot``), so no two meet.
        chosen = (tags == value).astype(np.uint8)
        found = _distinct.digit_forms(region, starts, ends, chosen, 1, 0xFE, _SEED,
                                      _probe_budget(len(starts)))
        if found is None:
            return None
        forms = np.frombuffer(found[0], dtype=np.int64)
        messages = np.frombuffer(found[1], dtype=np.int64)
        numbered = np.where(forms >= 0, forms * len(tag_values) + slot, -1)
        combined = numbered if combined is None else np.where(numbered >= 0, numbered,
                                                               combined)
    if combined is None:
        return None
    return (combined if len(tag_values) == 1 else _by_first_sight(combined)), messages


def _by_first_sight(forms: Any) -> Any:
    """The forms (-1: none) renumbered 0, 1, 2... in the order each is first seen."""
    valid = np.flatnonzero(forms >= 0)
    if not len(valid):
        return forms
    _, first, inverse = np.unique(forms[valid], return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    renumbered = np.full(len(forms), -1, dtype=np.int64)
    renumbered[valid] = rank[inverse]
    return renumbered


def native_line_heads(region: Any, starts: Any, first_year: int, last_year: int,
                      native: bool | None = None) -> tuple[Any, Any] | None:
    """``(flags, micros)`` of the lines at ``starts`` (int64) computed in C (see
    :func:`analyzer.engine.heads.line_heads`), or None without the compiled module.
    ``native`` as for :func:`distinct_ranges`."""
    if not _use_native(native):
        return None
    flags, micros = _distinct.line_heads(region, starts, first_year, last_year)
    return np.frombuffer(flags, dtype=np.uint8), np.frombuffer(micros, dtype=np.int64)
