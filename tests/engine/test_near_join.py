"""``near`` joins resolved in numpy (``_Join``) pick the neighbour the rule language
defines: the nearest partner by lines in the same member (another line), else the nearest
by time, the lowest index on a tie. A Python scan per anchor made a 36 MB log of backup
manifest failures hit the 300 s wall clock."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.engine import matching
from analyzer.engine.checks.log import ANCHOR, PARTNER, _Join
from analyzer.engine.matching import NO_TIME, MatchStore, NeighbourStore
from analyzer.engine.model import Near

_RECORD = st.tuples(st.sampled_from(["a.log", "b.log"]), st.integers(1, 40),
                    st.one_of(st.just(NO_TIME), st.integers(0, 60).map(float)))


def _defined(anchors: list[tuple[str, int, float]], partners: list[tuple[str, int, float]],
             near: Near) -> list[int | None]:
    """Each anchor's partner (its index), by the definition, one anchor at a time."""
    found: list[int | None] = []
    for member, line, time in anchors:
        best = None
        if near.lines:
            close = [(abs(other_line - line), index)
                     for index, (other_member, other_line, _) in enumerate(partners)
                     if other_member == member and other_line != line
                     and abs(other_line - line) <= near.lines]
            best = min(close)[1] if close else None
        if best is None and near.seconds:
            close = [(0.0 if other == time else abs(other - time), index)
                     for index, (_, _, other) in enumerate(partners)
                     if other == time or abs(other - time) <= near.seconds]
            best = min(close)[1] if close else None
        found.append(best)
    return found


@settings(max_examples=400, deadline=None)
@given(st.lists(_RECORD, max_size=25), st.lists(_RECORD, max_size=25),
       st.integers(0, 5), st.sampled_from([0.0, 2.0, 10.0]))
def test_joined_picks_the_neighbour_the_language_defines(
        anchors: list[tuple[str, int, float]], partners: list[tuple[str, int, float]],
        lines: int, seconds: float) -> None:
    if not lines and not seconds:
        lines = 3
    near = Near("x", lines, seconds)
    store = MatchStore()
    anchor_store = store.neighbours[("R", "c" + ANCHOR)] = NeighbourStore()
    partner_store = store.neighbours[("R", "c" + PARTNER)] = NeighbourStore()
    for member, line, time in anchors:
        anchor_store.add(time, member, line, {})
    for index, (member, line, time) in enumerate(partners):
        partner_store.add(time, member, line, {"n": str(index)})
    defined = _defined(anchors, partners, near)
    join = _Join(store, "R", "c", near)
    every = np.arange(len(anchors), dtype=np.int64)
    assert join.has_partner(every).tolist() == [best is not None for best in defined]
    # Evidence asks by (member, line): the partner of the last anchor there that has one.
    by_place: dict[tuple[str, int], dict[str, str]] = {}
    for (member, line, _), best in zip(anchors, defined, strict=True):
        if best is not None:
            by_place[(member, line)] = {"n": str(best)}
    for member in ("a.log", "b.log", "c.log"):
        for line in range(0, 42):
            assert join.partner_captures(member, line) == by_place.get((member, line))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_RECORD, max_size=20), max_size=4), st.integers(0, 30))
def test_merged_neighbour_stores_equal_one_filled_record_by_record(
        parts: list[list[tuple[str, int, float]]], captured: int) -> None:
    """The parent merges each member's neighbours in arrays: the same store as adding every
    record to one store in order, captures capped alike."""
    saved = matching.MAX_NEIGHBOUR_CAPTURES
    matching.MAX_NEIGHBOUR_CAPTURES = captured
    try:
        whole, merged = NeighbourStore(), NeighbourStore()
        for part in parts:
            piece = NeighbourStore()
            for member, line, time in part:
                captures = {"line": str(line)} if line % 3 else {}
                whole.add(time, member, line, captures)
                piece.add(time, member, line, captures)
            merged.merge(piece)
    finally:
        matching.MAX_NEIGHBOUR_CAPTURES = saved
    assert merged == whole
