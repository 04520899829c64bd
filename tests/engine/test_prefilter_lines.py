"""The candidate lines of a chunk: Hyperscan's literal scan finds the lines RE2 finds.

``Prefilter.hit_lines`` is what the bulk path plans a chunk from. With Hyperscan it scans the
prefilter's literals in one compiled pass; without it (or with
``WAAGENT_ANALYZER_HYPERSCAN=0``) it walks RE2 from line to line. A line the literal scan
missed would be a record no rule ever sees, so both must give the same lines on any text, and
the shipped pack's prefilters must need RE2 for nothing but the odd pattern.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.engine.loader import default_rules_dir, load_rules
from analyzer.engine.matching import RecordMatcher
from analyzer.engine.regex import (
    UNICODE_FOLDS,
    LiteralPresence,
    compile_prefilter,
    literal_scanner,
    required_literals,
    unique_sorted,
)
from analyzer.parse.log_facts import FACT_PATTERNS, TIMELINE_PATTERNS

PACK = load_rules(sorted(default_rules_dir().rglob("*.toml")))
MATCHER = RecordMatcher(PACK.rules)
AGENT_PATTERNS = MATCHER.patterns_for("waagent_log") + FACT_PATTERNS + TIMELINE_PATTERNS
PREFILTER = compile_prefilter(AGENT_PATTERNS)



# The compiled scan and its tags, on small inputs too.
pytestmark = pytest.mark.usefixtures("compiled_scan_for_any_size")


def _newlines(data: bytes) -> np.ndarray:
    return np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)


def _by_re2(data: bytes) -> list[int]:
    lines = PREFILTER._lines_by_search(PREFILTER.regexp, data, _newlines(data))
    return sorted(set(lines.tolist()))


def test_hyperscan_is_used_for_the_shipped_pack() -> None:
    assert literal_scanner(PREFILTER.literals) is not None, "hyperscan is a dependency on x86-64"
    assert len(PREFILTER.literals) > 100


def test_every_shipped_agent_pattern_has_required_literals() -> None:
    """A pattern without literals is searched by RE2 line after line on every chunk."""
    assert [p for p in AGENT_PATTERNS if not required_literals(p)] == []


_WORDS = [*sorted({part.decode() for literal in PREFILTER.literals
                  for part in literal.split(b"\0")})[:120],
          "ExtHandler", "INFO", "K", "\u212a", "\u017f", "s", "\n", " ", "\r\n", "é", "HTTP", "x"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_WORDS) | st.text(max_size=6), max_size=60))
def test_same_lines_as_re2_on_any_text(parts: list[str]) -> None:
    """Every line RE2 finds; more only where a Kelvin sign or long s stands."""
    data = "".join(parts).encode("utf-8", "surrogateescape")
    got = PREFILTER.hit_lines(data, _newlines(data)).tolist()
    expected = _by_re2(data)
    assert set(expected) <= set(got), data
    lines = data.split(b"\n")
    extra = [index for index in got if index not in expected]
    assert all(any(fold in lines[index] for fold in UNICODE_FOLDS) for index in extra), data
    # Text followed by bytes that are not its own (a planner's padded chunk): the same lines
    # and tags, whatever the padding holds.
    plain = PREFILTER.tagged_lines(data, _newlines(data))
    for padding in (bytes(80), b"\nHTTP Failed] GET IOError\n" * 3):
        padded = PREFILTER.tagged_lines(data + padding, _newlines(data), size=len(data))
        assert [a.tolist() for a in padded] == [a.tolist() for a in plain], (data, padding)


@pytest.mark.parametrize("text, hit", [
    ("2024-01-31T10:00:00.000000Z INFO ExtHandler ExtHandler [HTTP Failed] GET x -- IOError timed out\n", True),
    ("2024-01-31T10:00:00.000000Z INFO ExtHandler ExtHandler [http failed] get x -- ioerror timed out\n", True),
    ("2024-01-31T10:00:00.000000Z INFO ExtHandler ExtHandler all is well\n", False),
    # both parts of a compound literal, on one line only
    ("2024-01-31T10:00:00.000000Z INFO ExtHandler ExtHandler [HTTP Failed] GET x\n", False),
    ("2024-01-31T10:00:00.000000Z INFO ExtHandler ExtHandler [HTTP Failed] GET x\n"
     "IOError timed out\n", False),
])
def test_case_is_ignored_like_re2(text: str, hit: bool) -> None:
    data = text.encode()
    assert bool(len(PREFILTER.hit_lines(data, _newlines(data)))) is hit


def test_unicode_case_folds_of_k_and_s_are_candidates() -> None:
    """RE2 matches ``Kelvin`` written with the Kelvin sign caselessly; the ASCII-only
    literal scan would not, so such lines are handed on as candidates."""
    data = "a\nHTTP FAILED \u212a\nb\nFetching the goal \u017ftate\n".encode()
    got = PREFILTER.hit_lines(data, _newlines(data)).tolist()
    assert set(_by_re2(data)) <= set(got)
    assert got == [1, 3]


def test_without_hyperscan_the_same_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAAGENT_ANALYZER_HYPERSCAN", "0")
    plain = compile_prefilter.__wrapped__(AGENT_PATTERNS)  # not the cached one
    data = ("2024-01-31T10:00:00.000000Z INFO ExtHandler ExtHandler [HTTP Failed] GET x -- "
            "IOError timed out\n"
            + "nothing here\n" * 3 + "Exception uploading status blob: y\n").encode()
    assert plain._scanner() is None
    assert plain.hit_lines(data, _newlines(data)).tolist() == [0, 4]
    assert PREFILTER.hit_lines(data, _newlines(data)).tolist() == [0, 4]


@pytest.mark.parametrize("pattern, literals", [
    (r"\*{6} \d\. [^\n]*", {"****** "}),
    (r"[^\n]*(?i:goal state|extension handlers)[^\n]*(?:410 |Gone)",
     {"goal state\x00410 ", "goal state\x00Gone", "extension handlers\x00410 ",
      "extension handlers\x00Gone"}),
    # the gap may hold a newline: the two parts may stand on two lines
    (r"goal state\s+(?:410 |Gone)", {"goal state"}),
    (r"goal state[^x]*Gone!", {"goal state"}),
    (r"(?s:goal state.*Gone!)", {"goal state"}),
    # exact groups join the runs they touch
    (r"(?:GoalState|SharedConfig)\.Parse: ", {"GoalState.Parse: ", "SharedConfig.Parse: "}),
    (r"(?:GoalState|SharedConfig)?\.Parse: ", {".Parse: "}),
    (r"ab{2,}cdef", {"cdef"}),
    (r"a(?i)bcdef", None),
])
def test_required_literals_of_repeats_and_flag_groups(pattern: str,
                                                      literals: set[str] | None) -> None:
    assert required_literals(pattern) == literals


def test_a_set_hyperscan_refuses_falls_back_to_re2(monkeypatch: pytest.MonkeyPatch) -> None:
    """A literal set the compiled scan cannot take is no error: RE2 finds the lines."""
    from analyzer.engine import regex

    def refuse(*_args: object) -> None:
        raise RuntimeError("Pattern length exceeds limit.")

    monkeypatch.setattr(regex, "LiteralScanner", refuse)
    fresh = compile_prefilter.__wrapped__(AGENT_PATTERNS)
    data = b"nothing\nExceptionhere [HTTP Failed] GET x -- IOError y\n"
    assert fresh._scanner() is None
    assert fresh.hit_lines(data, _newlines(data)).tolist() == [1]


def test_compiled_database_is_cached_per_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    """The scan database (~0.1 s to compile) is kept in the user's cache folder and loaded
    by the next run; a damaged file is compiled again; ``WAAGENT_ANALYZER_NO_CACHE`` writes
    nothing."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("WAAGENT_ANALYZER_NO_CACHE", "1")
    data = b"nothing\n2024 [HTTP Failed] GET x -- IOError y\n" * 3
    assert compile_prefilter.__wrapped__(AGENT_PATTERNS)._scanner() is not None
    assert not (tmp_path / "waagent-analyzer").exists()

    monkeypatch.delenv("WAAGENT_ANALYZER_NO_CACHE")
    first = compile_prefilter.__wrapped__(AGENT_PATTERNS)
    expected = first.hit_lines(data, _newlines(data)).tolist()
    written = list((tmp_path / "waagent-analyzer").glob("hs-*.db"))
    assert len(written) == 1 and oct(written[0].stat().st_mode & 0o777) == "0o600"
    stored = written[0].stat().st_ino, written[0].stat().st_mtime_ns
    again = compile_prefilter.__wrapped__(AGENT_PATTERNS)
    scanner = again._scanner()
    assert scanner is not None and again.hit_lines(data, _newlines(data)).tolist() == expected
    assert (written[0].stat().st_ino, written[0].stat().st_mtime_ns) == stored, "loaded"
    written[0].write_bytes(b"not a database")
    damaged = compile_prefilter.__wrapped__(AGENT_PATTERNS)
    assert damaged.hit_lines(data, _newlines(data)).tolist() == expected == [1, 3, 5]
    assert written[0].stat().st_size > 1000, "compiled again and stored"


def test_prefilter_recipe_is_cached_per_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    """The literals proven for the pack's patterns (60 to 90 ms of every large run's start)
    are kept in the user's cache folder; the next run's prefilter reads them and finds the
    same lines. A damaged file, or one holding anything but the recipe's plain values, is
    worked out again."""
    import pickle

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("WAAGENT_ANALYZER_NO_CACHE", "1")
    tags = tuple((1, 2, 4)[index % 3] for index in range(len(AGENT_PATTERNS)))
    data = (b"nothing\n2024 [HTTP Failed] GET x -- IOError y\n"
            b"Agent WALinuxAgent-2.9.1.1 is running as the goal state agent\n") * 2
    computed = compile_prefilter.__wrapped__(AGENT_PATTERNS, tags)
    expected = _line_tags(computed, data)
    assert [line for line, _ in expected] == [1, 2, 4, 5]

    monkeypatch.delenv("WAAGENT_ANALYZER_NO_CACHE")
    compile_prefilter.__wrapped__(AGENT_PATTERNS, tags)
    written = list((tmp_path / "waagent-analyzer").glob("prefilter-*.pickle"))
    assert len(written) == 1 and oct(written[0].stat().st_mode & 0o777) == "0o600"
    stored = written[0].stat().st_ino, written[0].stat().st_mtime_ns

    def fresh() -> object:
        made = compile_prefilter.__wrapped__(AGENT_PATTERNS, tags)
        assert made.literals == computed.literals  # type: ignore[attr-defined]
        assert _line_tags(made, data) == expected
        return made

    fresh()
    assert (written[0].stat().st_ino, written[0].stat().st_mtime_ns) == stored, "read back"
    for damage in (b"not a pickle", pickle.dumps(["a", "list"]),
                   pickle.dumps((b"x", {"text": 1}, None, 1, (), ()))):
        written[0].write_bytes(damage)
        fresh()
        assert written[0].read_bytes() != damage, "worked out again and stored"


def _line_tags(prefilter: object, data: bytes) -> list[tuple[int, int]]:
    lines, tags = prefilter.tagged_lines(data, _newlines(data))  # type: ignore[attr-defined]
    return list(zip(lines.tolist(), tags.tolist(), strict=True))


def test_literals_of_a_tag_too_many_for_one_expression_are_split(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each tag's literals are one expression (one report per line and tag); where Hyperscan
    refuses so large an expression, they are split in parts and every line keeps its tags."""
    import hyperscan

    from analyzer.engine import regex

    monkeypatch.setenv("WAAGENT_ANALYZER_NO_CACHE", "1")
    tags = tuple((1, 2, 4)[index % 3] for index in range(len(AGENT_PATTERNS)))
    whole = compile_prefilter.__wrapped__(AGENT_PATTERNS, tags)
    parts_whole = len(whole._scanner().tags)  # built now, before the refusals below
    compiled = regex._compiled
    refused: list[int] = []

    def refuse_large(module: object, expressions: list[bytes], flags: list[int]) -> object:
        largest = max(expression.count(b"|") + 1 for expression in expressions)
        if largest > regex._LITERALS_PER_EXPRESSION:
            refused.append(largest)
            raise hyperscan.error("Pattern too large")
        return compiled(module, expressions, flags)

    monkeypatch.setattr(regex, "_compiled", refuse_large)
    split = compile_prefilter.__wrapped__(AGENT_PATTERNS, tags)
    assert split._scanner() is not None
    assert refused, "the pack has a tag with more literals than one part holds"
    assert len(split._scanner().tags) > parts_whole
    data = "".join(f"2024-01-31T10:00:00.000000Z INFO ExtHandler ExtHandler {literal.decode()} "
                   f"and {other.decode()}\nnothing here\n"
                   for literal, other in zip(PREFILTER.literals, PREFILTER.literals[::-1],
                                             strict=True)).encode()
    assert _line_tags(split, data) == _line_tags(whole, data)
    assert len(_line_tags(whole, data)) == len(PREFILTER.literals)


def test_a_layout_too_long_for_hyperscan_is_never_tried(monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    """The agent log's literals in one expression pass Hyperscan's pattern length limit:
    they are split at once, with no compile that is bound to be refused."""
    import hyperscan

    from analyzer.engine import regex

    monkeypatch.setenv("WAAGENT_ANALYZER_NO_CACHE", "1")
    compiled = regex._compiled
    lengths: list[int] = []
    refused: list[str] = []

    def recording(module: object, expressions: list[bytes], flags: list[int]) -> object:
        lengths.append(max(map(len, expressions)))
        try:
            return compiled(module, expressions, flags)
        except hyperscan.error as error:
            refused.append(str(error))
            raise

    monkeypatch.setattr(regex, "_compiled", recording)
    assert compile_prefilter.__wrapped__(AGENT_PATTERNS)._scanner() is not None
    whole = sum(len(literal) for literal in PREFILTER.literals)
    assert whole > regex.MAX_EXPRESSION_BYTES // 2, "the literals fill more than one part"
    assert not refused and len(lengths) == 1 and lengths[0] <= regex.MAX_EXPRESSION_BYTES


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=12), max_size=8))
def test_an_expression_is_measured_before_it_is_built(literals: list[bytes]) -> None:
    from analyzer.engine import regex

    assert regex._expression_length(literals) == len(regex._literal_expression(literals))


# -- which marker bytes a chunk holds (the planner's odd-byte and event-field flags) --------

_MARKERS = (b"\r", b"\x00", b"\n\xef\xbb\xbf", b"Event: name=")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"\n", b"\r", b"\x00", b"\xef\xbb\xbf", b"Event: ",
                                 b"name=", b"Event: name=", b"EVENT: NAME="]), max_size=40))
def test_literal_presence_agrees_with_in(pieces: list[bytes]) -> None:
    """The compiled scan reports the markers ``in`` finds, cased and split ones excluded."""
    data = b"".join(pieces)
    expected = sum(1 << index for index, marker in enumerate(_MARKERS) if marker in data)
    compiled = LiteralPresence(_MARKERS)
    assert compiled._database is not None, "Hyperscan is installed for the tests"
    assert compiled.present(data) == expected


def test_literal_presence_without_hyperscan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAAGENT_ANALYZER_HYPERSCAN", "0")
    plain = LiteralPresence(_MARKERS)
    assert plain._database is None
    assert plain.present(b"x\r\nEvent: name=y\n") == 0b1001
    assert plain.present(b"x\n\xef\xbb\xbfy") == 0b0100


@given(st.lists(st.integers(-5, 50), max_size=60))
def test_unique_sorted_is_numpy_unique(values: list[int]) -> None:
    array = np.asarray(values, dtype=np.int64)
    assert unique_sorted(array).tolist() == np.unique(array).tolist()


# -- compound literals: two parts on one line ----------------------------------------------

_PIECES: dict[str, list[str]] = {
    # a pattern piece and strings it matches (newlines among them where it may cross one)
    "goal": ["goal"], "state": ["state"], "Gone": ["Gone", "GONE"], "ab": ["ab"],
    "cdef": ["cdef"], " ": [" "], ":": [":"], "\\.": ["."], "\\s": [" ", "\n"],
    "\\s*": ["", "\n", " \n "], "\\S+": ["x", "7:"], "\\d+": ["7"], "\\w+": ["xy"],
    ".": ["x"], ".*": ["", "x y"], "[^\\n]*": ["", "a b"], "[^x]*": ["", "\n", "a\nb"],
    "[a-z ]": ["q", " "], "[^ \\n]+": ["q"], "\\n": ["\n"], "(?:GET|PUT)": ["GET", "PUT"],
    "(?:GET|PUT)?": ["", "PUT"], "(?:xy|\\s)": ["xy", "\n"], "(?s:.)": ["\n", "y"],
    "(?i:state)": ["STATE"], "(?:state|Gone)+": ["state", "Gonestate"], "\\b": [""],
    "[\\s:]": [":", "\n"], "(?:a\\sb|cd)": ["a\nb", "cd"],
}


@st.composite
def _pattern_and_text(draw: st.DrawFn) -> tuple[str, str]:
    """A pattern of pieces and a text holding a match of it (pieces instantiated, newlines
    included where a piece may match one), between random words."""
    pieces = draw(st.lists(st.sampled_from(sorted(_PIECES)), min_size=1, max_size=7))
    body = "".join(draw(st.sampled_from(_PIECES[piece])) for piece in pieces)
    around = st.sampled_from(["", "x ", "\n", "goal", "state "])
    return "(?i)" + "".join(pieces), draw(around) + body + draw(around)


@settings(max_examples=1500, deadline=None)
@given(_pattern_and_text())
def test_every_match_holds_a_literal_on_one_line(case: tuple[str, str]) -> None:
    """Whatever a pattern matches holds one of its required literals; a compound one
    (``a\\0b``) has its parts in order on one line of the match."""
    pattern, text = case
    literals = required_literals(pattern)
    found = re2.search(pattern, text)
    if literals is None or found is None:
        return
    matched = found.group(0).lower()
    assert any(_on_one_line(matched, literal.lower()) for literal in literals), (
        pattern, text, literals)


def _on_one_line(text: str, literal: str) -> bool:
    parts = literal.split("\0")
    return any(_in_order(line, parts) for line in text.split("\n")) or (
        len(parts) == 1 and parts[0] in text)


def _in_order(line: str, parts: list[str]) -> bool:
    at = 0
    for part in parts:
        found = line.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return True


@settings(max_examples=3000, deadline=2000)
@given(st.lists(st.sampled_from([*"ab()[]|\\?*+{}.^$:-sSdwn0123,P<>i", "(?:", "(?i:", "(?s:",
                                 "(?P<x>", "[^", "\\s", "\\n", "{2,}", "{3}", "abcd", "efgh"]),
                max_size=30).map("".join))
def test_any_pattern_text_gives_literals_or_none_at_once(pattern: str) -> None:
    """A user's rule folder may hold any pattern: the literal parser ends (within a second:
    a loop that stopped advancing once hung here), never raises, and gives literals or
    None."""
    import signal

    from analyzer.engine import regex

    def too_long(*_: object) -> None:
        raise TimeoutError(pattern)

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        found = regex._required_literals.__wrapped__(pattern)  # not the cached answer
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert found is None or (found and all(isinstance(item, str) for item in found))


_TAGGED = compile_prefilter(AGENT_PATTERNS, tuple(range(1, len(AGENT_PATTERNS) + 1)))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_WORDS) | st.text(max_size=6), max_size=12),
                min_size=1, max_size=20))
def test_records_are_tagged_as_their_lines_are(records: list[list[str]]) -> None:
    """A dense chunk's distinct records are tagged by one scan of them joined (the bulk
    planner's ``record_tags``): each gets at least the tags of its own lines, and the tags of
    a literal that straddles two records at most, added to the second."""
    texts = [("".join(parts)).encode("utf-8", "surrogateescape") for parts in records]
    _TAGGED.tagged_lines(b"x" * (300 * 1024), np.zeros(0, dtype=np.int64))  # loads the scan
    joined = _TAGGED.record_tags(texts)
    assert joined is not None
    for at, text in enumerate(texts):
        _, tags = _TAGGED.tagged_lines(text, _newlines(text))
        own = int(np.bitwise_or.reduce(tags)) if len(tags) else 0
        assert joined[at] & own == own, text
        if at:
            both = texts[at - 1] + b"\n" + text
            _, tags = _TAGGED.tagged_lines(both, _newlines(both))
            whole = int(np.bitwise_or.reduce(tags)) if len(tags) else 0
            assert joined[at] | whole == whole, (texts[at - 1], text)
