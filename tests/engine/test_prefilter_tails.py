"""A large log's tail: the chunks after its first ones are scanned like them.

The first chunk of a large log loads the Hyperscan database; a tail of a few hundred bytes
then goes through it too, instead of compiling RE2's whole alternation for it (4 to 8 ms of
every run's start). Without the database (a small bundle), RE2 still reads small chunks.
These tests run at the real size threshold (no ``compiled_scan_for_any_size``).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.engine.loader import default_rules_dir, load_rules
from analyzer.engine.matching import RecordMatcher
from analyzer.engine.regex import COMPILED_SCAN_BYTES, UNICODE_FOLDS, compile_prefilter
from analyzer.parse.log_facts import FACT_PATTERNS

PATTERNS = (RecordMatcher(load_rules(sorted(default_rules_dir().rglob("*.toml"))).rules)
            .patterns_for("waagent_log") + FACT_PATTERNS)
BY_RE2 = compile_prefilter.__wrapped__(PATTERNS)
AFTER_A_LARGE_CHUNK = compile_prefilter.__wrapped__(PATTERNS)
AFTER_A_LARGE_CHUNK._scanner()  # what a large log's first chunk leaves loaded

_WORDS = [*sorted({part.decode() for literal in BY_RE2.literals
                   for part in literal.split(b"\0")})[:120],
          "ExtHandler", "INFO", "\u212a", "\u017f", "\n", " ", "\r\n", "HTTP", "x"]


def _newlines(data: bytes) -> np.ndarray:
    return np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_WORDS) | st.text(max_size=6), max_size=60))
def test_a_tail_gets_the_lines_re2_finds_without_compiling_it(parts: list[str]) -> None:
    data = "".join(parts).encode("utf-8", "surrogateescape")
    assert len(data) < COMPILED_SCAN_BYTES
    by_re2 = BY_RE2.tagged_lines(data, _newlines(data))[0].tolist()
    got = AFTER_A_LARGE_CHUNK.tagged_lines(data, _newlines(data))[0].tolist()
    assert set(by_re2) <= set(got), data
    lines = data.split(b"\n")
    extra = [index for index in got if index not in by_re2]
    assert all(any(fold in lines[index] for fold in UNICODE_FOLDS) for index in extra), data
    assert AFTER_A_LARGE_CHUNK._regexp is None, "RE2 compiled for a tail Hyperscan read"


def test_a_small_bundle_still_reads_small_chunks_with_re2() -> None:
    fresh = compile_prefilter.__wrapped__(PATTERNS)
    data = b"2024-01-31T10:00:00.000000Z INFO ExtHandler [HTTP Failed] GET x -- IOError\n"
    assert fresh.tagged_lines(data, _newlines(data))[0].tolist() == [0]
    assert fresh._literal_scanner is None, "a database loaded for a small chunk"
