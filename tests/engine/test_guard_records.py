"""``unless_preceded_by`` decided in numpy (GuardRecords.explains) answers as the rule
language defines it, record by record (it replaced a scan in Python that made a 20 MB log of
alternating failures and guards take a minute)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.engine.checks.base import GuardRecords
from analyzer.engine.matching import NO_TIME
from analyzer.engine.model import Guard

_TIMES = st.one_of(st.just(NO_TIME), st.integers(0, 40).map(float))


def _explained_one_by_one(time: float, group: int, guard: Guard,
                          guards: list[tuple[float, int]]) -> bool:
    """The definition: a guard record at most ``within`` seconds before (or at) the record,
    of its group when ``same_group``."""
    return any(time - guard.within <= other <= time
               and (not guard.same_group or other_group == group)
               for other, other_group in guards)


@settings(max_examples=300, deadline=None)
@given(records=st.lists(st.tuples(_TIMES, st.integers(-1, 3)), max_size=30),
       guards=st.lists(st.tuples(_TIMES, st.integers(-2, 3)), max_size=30),
       within=st.sampled_from([0.0, 1.0, 5.0, 600.0]), same_group=st.booleans())
def test_explains_answers_like_the_definition(records: list[tuple[float, int]],
                                              guards: list[tuple[float, int]],
                                              within: float, same_group: bool) -> None:
    guard = Guard("x", within, same_group)
    kept = GuardRecords(np.array([t for t, _ in guards], dtype=np.float64),
                        np.array([g for _, g in guards], dtype=np.int64))
    got = kept.explains(np.array([t for t, _ in records], dtype=np.float64),
                        np.array([g for _, g in records], dtype=np.int64), guard)
    assert got.tolist() == [_explained_one_by_one(t, g, guard, guards) for t, g in records]
    for t, g in records:
        assert kept.explains_one(t, g, guard) == _explained_one_by_one(t, g, guard, guards)
